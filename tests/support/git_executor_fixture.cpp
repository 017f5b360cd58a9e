#include "support/git_executor_fixture.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include "support/test_environment.hpp"
#include "support/test_git_server.hpp"

namespace mgit::test_support {
namespace {

namespace fs = std::filesystem;

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string lower_with_pid(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name + "-" + std::to_string(::getpid());
}

}  // namespace

std::string read_first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

const jobs::RefUpdate* find_update(const jobs::ExecutionReport& report, std::string_view ref) {
  for (const jobs::RefUpdate& update : report.refs_updated) {
    if (update.ref == ref) return &update;
  }
  return nullptr;
}

void GitExecutorFixture::SetUp() {
  url_ = env("MGITD_TEST_GIT_URL");
  server_dir_ = env("MGITD_TEST_GIT_DIR");
  ASSERT_FALSE(url_.empty()) << "MGITD_TEST_GIT_URL is not set (run through scripts/test)";
  ASSERT_FALSE(server_dir_.empty()) << "MGITD_TEST_GIT_DIR is not set";
  password_ = read_first_line(fs::path(server_dir_) / "password");
  // Credentials go over TLS only (the server's CA is trusted through git_ca_file).
  url_ = TestGitServer(server_dir_).https_url();
  ca_file_ = TestGitServer(server_dir_).ca_file();
  ASSERT_FALSE(password_.empty());

  char pattern[] = "/tmp/mgit-exec-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  root_ = pattern;
  workspace_ = root_ / "workspace";
  fs::create_directories(workspace_);
  fs::create_directories(root_ / "credentials");
  std::ofstream(root_ / "credentials" / "server")
      << "username=mgit\npassword=" << password_ << "\n";
  std::ofstream(root_ / "credentials" / "wrong")
      << "username=mgit\npassword=" << kWrongPassword << "\n";
  credentials_ = std::make_unique<security::CredentialStore>(root_ / "credentials");
  executor_ = make_executor();
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  prefix_ = lower_with_pid(info->name());
}

void GitExecutorFixture::TearDown() {
  executor_.reset();
  if (!root_.empty()) fs::remove_all(root_);
}

git::GitExecutorSettings GitExecutorFixture::settings() const {
  git::GitExecutorSettings settings;
  settings.workspace = workspace_;
  settings.credentials = credentials_.get();
  settings.min_free_disk_percent = 0;
  // The test git server is on loopback, denied by default; a few tests use plain http
  // (without a credential) to a local listener.
  settings.network_policy = *security::NetworkPolicy::parse({"127.0.0.1/32", "::1/128"});
  settings.allow_plain_http = true;
  settings.ca_file = ca_file_;
  return settings;
}

std::unique_ptr<git::GitExecutor> GitExecutorFixture::make_executor(
    git::GitExecutorSettings settings) {
  return std::make_unique<git::GitExecutor>(std::move(settings));
}

std::string GitExecutorFixture::create_repo(const std::string& suffix, int commits) {
  const std::string name = prefix_ + "-" + suffix;
  TestGitServer(server_dir_).create_repo(name, commits);
  return name;
}

void GitExecutorFixture::add_commits(const std::string& name, int n) {
  TestGitServer(server_dir_).add_commits(name, n);
}

std::string GitExecutorFixture::server_git(const std::string& name) const {
  return "git --git-dir=" + shell_quote(TestGitServer(server_dir_).bare_path(name));
}

std::string GitExecutorFixture::rev_parse(const std::string& name, const std::string& rev) {
  return TestGitServer(server_dir_).rev_parse(name, rev);
}

jobs::Job GitExecutorFixture::make_job(jobs::Operation operation, const std::string& repo,
                                       const std::string& target) {
  jobs::Job job;
  job.job_id = "job-" + std::to_string(++job_counter_) + "-" + prefix_;
  job.correlation_id = job.job_id;
  job.operation = operation;
  job.repository_url = url_ + "/" + repo + ".git";
  job.repository_key = url_ + "/" + repo;
  job.credential = "server";
  job.target = target;
  return job;
}

tl::expected<jobs::ExecutionReport, jobs::JobError> GitExecutorFixture::execute(
    const jobs::Job& job, const execution::ExecutionControl& control) {
  return executor_->execute(job, observability::JobContext{}, control);
}

}  // namespace mgit::test_support
