#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/git/git_executor.hpp"
#include "mgit/security/credentials.hpp"

namespace mgit::test_support {

/// A GitExecutor on a fresh workspace, with credentials for the smart-HTTP test server of
/// scripts/git-server (MGITD_TEST_GIT_URL, MGITD_TEST_GIT_DIR) and helpers that create and
/// inspect the server's repositories, so expected values come from the server side.
class GitExecutorFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// Settings for this workspace and credentials, no free-disk minimum, no limits.
  [[nodiscard]] git::GitExecutorSettings settings() const;
  std::unique_ptr<git::GitExecutor> make_executor() { return make_executor(settings()); }
  static std::unique_ptr<git::GitExecutor> make_executor(git::GitExecutorSettings settings);

  /// A fresh server repository with `commits` commits on main; returns its name.
  std::string create_repo(const std::string& suffix, int commits = 1);
  void add_commits(const std::string& name, int n);
  /// `git --git-dir=<the server's bare repository>`, for shell commands.
  [[nodiscard]] std::string server_git(const std::string& name) const;
  std::string rev_parse(const std::string& name, const std::string& rev);

  /// A job for the server repository `repo` with a unique job id and the server credential.
  jobs::Job make_job(jobs::Operation operation, const std::string& repo, const std::string& target);
  tl::expected<jobs::ExecutionReport, jobs::JobError> execute(
      const jobs::Job& job, const execution::ExecutionControl& control = {});

  static constexpr const char* kWrongPassword = "wrong-Passw0rd-4711";

  std::string url_;  ///< the server's https URL
  std::string ca_file_;
  std::string server_dir_;
  std::string password_;
  std::string prefix_;  ///< unique per test and process: server repository names start with it
  std::filesystem::path root_;
  std::filesystem::path workspace_;
  std::unique_ptr<security::CredentialStore> credentials_;
  std::unique_ptr<git::GitExecutor> executor_;
  int job_counter_ = 0;
};

/// The first line of a file.
std::string read_first_line(const std::filesystem::path& path);

/// The update of `ref` in `report`, null when the report has none.
const jobs::RefUpdate* find_update(const jobs::ExecutionReport& report, std::string_view ref);

}  // namespace mgit::test_support
