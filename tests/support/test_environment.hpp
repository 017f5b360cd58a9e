#pragma once

#include <filesystem>
#include <string>

namespace mgit::test_support {

/// A value the integration environment must provide (scripts/test exports it). Fails the
/// test, rather than skipping it, when missing: a skipped real-broker test proves nothing.
std::string required_env(const char* name);

/// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Random lower-case hex, for unique topic, group and repository names.
std::string random_suffix(std::size_t chars = 10);

/// Runs a shell command, returns its stdout; throws (test failure) on non-zero exit.
std::string run_command(const std::string& command);
/// Same, without trailing newlines.
std::string run_trimmed(const std::string& command);

/// Quotes `text` as one POSIX shell word.
std::string shell_quote(const std::string& text);

}  // namespace mgit::test_support
