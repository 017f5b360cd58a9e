#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mgit/daemon/config.hpp"

namespace mgit::test_support {

/// Base of the configuration tests: runs load_config as `mgitd ARGS…` with `env_` as the
/// whole environment, capturing what it prints into `out_` and `err_`.
class ConfigLoadTest : public ::testing::Test {
 protected:
  daemon::ConfigLoad load(const std::vector<std::string>& args) {
    std::vector<const char*> argv{"mgitd"};
    for (const auto& arg : args) argv.push_back(arg.c_str());
    const daemon::EnvLookup env = [this](const std::string& name) -> std::optional<std::string> {
      if (auto it = env_.find(name); it != env_.end()) return it->second;
      return std::nullopt;
    };
    ::testing::internal::CaptureStderr();
    ::testing::internal::CaptureStdout();
    auto result = daemon::load_config(static_cast<int>(argv.size()), argv.data(), env);
    out_ = ::testing::internal::GetCapturedStdout();
    err_ = ::testing::internal::GetCapturedStderr();
    return result;
  }

  std::map<std::string, std::string> env_;
  std::string out_;
  std::string err_;
};

}  // namespace mgit::test_support
