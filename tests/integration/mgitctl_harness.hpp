#pragma once
// mgitctl run as a process against the real broker: shared by mgitctl_test.cpp and
// mgitctl_fleet_test.cpp.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/kafka_test_client.hpp"
#include "support/test_environment.hpp"

namespace mgit::test_support::mgitctl {

using namespace std::chrono_literals;

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// A running mgitctl; finish() collects its exit code, stdout and stderr.
class Mgitctl {
 public:
  Mgitctl(const std::vector<std::string>& args, const std::filesystem::path& dir)
      : err_path_(dir / ("stderr-" + mgit::test_support::random_suffix())) {
    std::string command = MGITCTL_BINARY;
    for (const auto& arg : args) command += " " + quote(arg);
    command += " 2>" + quote(err_path_.string());
    pipe_ = popen(command.c_str(), "r");
    if (pipe_ == nullptr) throw std::runtime_error("popen failed: " + command);
  }
  ~Mgitctl() {
    if (pipe_ != nullptr) pclose(pipe_);
  }

  CommandResult finish() {
    CommandResult result;
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe_)) > 0)
      result.out.append(buffer.data(), n);
    const int status = pclose(pipe_);
    pipe_ = nullptr;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.err = read_file(err_path_);
    return result;
  }

 private:
  std::filesystem::path err_path_;
  FILE* pipe_ = nullptr;
};

class MgitctlTest : public ::testing::Test {
 protected:
  MgitctlTest()
      : brokers_(mgit::test_support::required_env("MGITD_TEST_BROKERS")),
        kafka_(brokers_),
        suffix_(mgit::test_support::random_suffix()),
        jobs_topic_("mgitctl-test-" + suffix_ + ".jobs"),
        results_topic_("mgitctl-test-" + suffix_ + ".results"),
        dlq_topic_("mgitctl-test-" + suffix_ + ".dlq"),
        audit_topic_("mgitctl-test-" + suffix_ + ".audit") {}

  std::vector<std::string> common_args() const {
    return {"--brokers",    brokers_,      "--jobs-topic", jobs_topic_,     "--results-topic",
            results_topic_, "--dlq-topic", dlq_topic_,     "--audit-topic", audit_topic_};
  }

  CommandResult run(std::vector<std::string> args, bool with_kafka = true) {
    if (with_kafka) {
      auto all = common_args();
      all.insert(all.end(), args.begin(), args.end());
      args = std::move(all);
    }
    return Mgitctl(args, dir_.path()).finish();
  }

  void create_topics(int partitions = 3) {
    const auto result = run({"topics", "create", "--partitions", std::to_string(partitions),
                             "--replication-factor", "1"});
    ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  }

  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_.path() / name;
    std::ofstream(path) << text;
    return path.string();
  }

  /// End offsets of a topic mgitctl just created. The support client raises "not leader" while
  /// a new topic's leadership settles, so retry until it answers.
  std::map<std::int32_t, std::int64_t> end_offsets(const std::string& topic) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (true) {
      try {
        return kafka_.end_offsets(topic);
      } catch (const std::runtime_error& e) {
        if (std::chrono::steady_clock::now() >= deadline) throw;
      }
      std::this_thread::sleep_for(100ms);
    }
  }

  static std::string job_line(const std::string& job_id, const std::string& url,
                              const std::string& extra = "") {
    return R"({"schema":"mgit.sync-job/v1","job_id":")" + job_id +
           R"(","operation":"sync","repository":{"url":")" + url + "\"}" + extra + "}";
  }

  std::string brokers_;
  mgit::test_support::KafkaTestClient kafka_;
  std::string suffix_;
  std::string jobs_topic_;
  std::string results_topic_;
  std::string dlq_topic_;
  std::string audit_topic_;
  mgit::test_support::TempDir dir_;
};

}  // namespace mgit::test_support::mgitctl
