// GitExecutor over ssh against the real sshd of scripts/ssh-server (MGITD_TEST_SSH_URL,
// MGITD_TEST_SSH_DIR), which serves the repositories of scripts/git-server
// (MGITD_TEST_GIT_DIR) by absolute path. Expected commits come from the server's repos via
// `git rev-parse`; whether the client key was ever offered comes from sshd's own log.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "mgit/git/git_executor.hpp"
#include "mgit/jobs/parse.hpp"
#include "mgit/jobs/repository_key.hpp"
#include "mgit/security/credentials.hpp"
#include "support/test_environment.hpp"
#include "support/test_git_server.hpp"

namespace mgit::git {
namespace {

namespace fs = std::filesystem;
using execution::ExecutionControl;
using jobs::ErrorCode;
using jobs::ExecutionReport;
using jobs::Job;
using jobs::JobError;
using jobs::normalize_repository_url;
using jobs::Operation;
using jobs::parse_job;
using jobs::ParseLimits;
using jobs::ParseOutcome;
using mgit::test_support::random_suffix;
using mgit::test_support::required_env;
using mgit::test_support::TempDir;

using mgit::test_support::shell_quote;
using mgit::test_support::TestGitServer;

std::string run(const std::string& command) { return mgit::test_support::run_trimmed(command); }

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

/// Lines of sshd's log that record a public key offered for authentication (accepted or
/// not). A client that rejects the host key must never get that far.
int count_lines(const fs::path& sshd_log, std::string_view needle) {
  std::ifstream in(sshd_log);
  int count = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) ++count;
  }
  return count;
}

int publickey_attempts(const fs::path& sshd_log) { return count_lines(sshd_log, "publickey for"); }

class GitExecutorSshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ssh_url_ = required_env("MGITD_TEST_SSH_URL");
    ssh_dir_ = required_env("MGITD_TEST_SSH_DIR");
    git_dir_ = required_env("MGITD_TEST_GIT_DIR");
    repos_dir_ = first_line(ssh_dir_ / "repos_dir");
    port_ = first_line(ssh_dir_ / "port");
    ASSERT_FALSE(repos_dir_.empty()) << "no repos_dir in " << ssh_dir_;
    ASSERT_FALSE(port_.empty()) << "no port in " << ssh_dir_;
    const auto at = ssh_url_.find('@');
    ASSERT_EQ(ssh_url_.rfind("ssh://", 0), 0u) << ssh_url_;
    ASSERT_NE(at, std::string::npos) << ssh_url_;
    user_ = ssh_url_.substr(6, at - 6);

    workspace_ = tmp_.path() / "workspace";
    credentials_dir_ = tmp_.path() / "credentials";
    fs::create_directories(workspace_);
    fs::create_directories(credentials_dir_);
    // Absolute paths straight into the server's files, as an operator might configure.
    write_credential("server", fmt::format("ssh_private_key={}\nknown_hosts={}\n",
                                           (ssh_dir_ / "client_key").string(),
                                           (ssh_dir_ / "known_hosts").string()));
    credentials_ = std::make_unique<security::CredentialStore>(credentials_dir_);
    GitExecutorSettings settings;
    settings.workspace = workspace_;
    settings.credentials = credentials_.get();
    settings.min_free_disk_percent = 0;
    // The test sshd listens on loopback, which the network policy denies by default; the
    // connection goes through mgitd's registered stream (git_policy_stream_test.cpp).
    settings.network_policy = *security::NetworkPolicy::parse({"127.0.0.1/32", "::1/128"});
    executor_ = std::make_unique<GitExecutor>(std::move(settings));
    prefix_ = "ssh-" + random_suffix(8);
  }

  /// Bound to the test server's host unless `text` says otherwise: every credential needs it.
  void write_credential(const std::string& name, const std::string& text) {
    std::ofstream(credentials_dir_ / name)
        << text
        << (("\n" + text).find("\nhosts=") == std::string::npos
                ? "hosts=" + security::url_host(ssh_url_).first + "\n"
                : std::string());
  }

  /// A fresh ed25519 key pair (no passphrase) in the credentials directory; returns the
  /// private key's file name there.
  std::string generate_key(const std::string& name) {
    run("ssh-keygen -q -t ed25519 -N '' -C mgitd-test-other -f " +
        shell_quote((credentials_dir_ / name).string()) + " </dev/null");
    return name;
  }

  std::string create_repo(const std::string& suffix, int commits) {
    const std::string name = prefix_ + "-" + suffix;
    TestGitServer(git_dir_.string()).create_repo(name, commits);
    return name;
  }

  void add_commits(const std::string& name, int n) {
    TestGitServer(git_dir_.string()).add_commits(name, n);
  }

  std::string server_git(const std::string& name) const {
    return "git --git-dir=" + shell_quote(repos_dir_ + "/" + name + ".git");
  }

  std::string rev_parse(const std::string& name, const std::string& rev) const {
    return TestGitServer(git_dir_.string()).rev_parse(name, rev);
  }

  std::string repo_url(const std::string& name) const {
    return ssh_url_ + repos_dir_ + "/" + name + ".git";
  }

  Job make_job(Operation operation, const std::string& repo, const std::string& target,
               const std::string& credential = "server") {
    Job job;
    job.job_id = fmt::format("job-{}-{}", ++job_counter_, prefix_);
    job.correlation_id = job.job_id;
    job.operation = operation;
    job.repository_url = repo_url(repo);
    auto key = normalize_repository_url(job.repository_url);
    EXPECT_TRUE(key) << job.repository_url << ": " << key.error().message;
    if (key) job.repository_key = *key;
    job.credential = credential;
    job.target = target;
    return job;
  }

  tl::expected<ExecutionReport, JobError> execute(const Job& job) {
    return executor_->execute(job, observability::JobContext{}, ExecutionControl{});
  }

  /// Asserts `job` fails with auth_failed, leaves no target and never offered a key to sshd
  /// when `key_offered` is false. Returns the message.
  std::string expect_auth_failed(const Job& job, bool key_offered) {
    const int attempts_before = publickey_attempts(ssh_dir_ / "sshd.log");
    const auto report = execute(job);
    EXPECT_FALSE(report) << "unexpectedly succeeded: " << job.repository_url;
    if (report) return {};
    EXPECT_EQ(report.error().code, ErrorCode::kAuthFailed) << report.error().message;
    EXPECT_FALSE(report.error().retryable());
    EXPECT_FALSE(fs::exists(workspace_ / job.target)) << "a failed clone left its target";
    if (!key_offered) {
      EXPECT_EQ(publickey_attempts(ssh_dir_ / "sshd.log"), attempts_before)
          << "a key was offered to a server whose host key was not verified";
    }
    return report.error().message;
  }

  TempDir tmp_;
  std::string ssh_url_;
  fs::path ssh_dir_;
  fs::path git_dir_;
  std::string repos_dir_;
  std::string port_;
  std::string user_;
  std::string prefix_;
  fs::path workspace_;
  fs::path credentials_dir_;
  std::unique_ptr<security::CredentialStore> credentials_;
  std::unique_ptr<GitExecutor> executor_;
  int job_counter_ = 0;
};

TEST_F(GitExecutorSshTest, TheSshSocketComesFromThePolicyStream) {
  // `localhost` passes the check by name; only the registered stream, resolving it to
  // loopback, can refuse it. The sshd must see no connection attempt.
  const std::string repo = create_repo("policy", 1);
  Job job = make_job(Operation::kClone, repo, "org/denied");
  const auto at = job.repository_url.find("@127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << job.repository_url;
  job.repository_url.replace(at, 11, "@localhost:");
  // The credential is bound to the name the job uses, so its hosts= check (which runs before
  // the network is touched) lets the job through to the stream.
  write_credential(
      "server-localhost",
      fmt::format("ssh_private_key={}\nknown_hosts={}\nhosts=localhost\n",
                  (ssh_dir_ / "client_key").string(), (ssh_dir_ / "known_hosts").string()));
  job.credential = "server-localhost";
  const int connections_before = count_lines(ssh_dir_ / "sshd.log", "Connection from");
  GitExecutorSettings closed;
  closed.workspace = workspace_;
  closed.credentials = credentials_.get();
  closed.min_free_disk_percent = 0;
  GitExecutor executor(std::move(closed));
  const auto report = executor.execute(job, observability::JobContext{}, ExecutionControl{});
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kPolicyDenied) << report.error().message;
  EXPECT_NE(report.error().message.find("of localhost is loopback"), std::string::npos)
      << report.error().message;
  EXPECT_EQ(count_lines(ssh_dir_ / "sshd.log", "Connection from"), connections_before);
}

TEST_F(GitExecutorSshTest, CloneChecksOutTheServersHeadWithTheAuthorizedKey) {
  const std::string repo = create_repo("clone", 3);
  const int attempts_before = publickey_attempts(ssh_dir_ / "sshd.log");
  const auto report = execute(make_job(Operation::kClone, repo, "org/app"));
  ASSERT_TRUE(report) << report.error().message;
  const std::string main = rev_parse(repo, "main");
  EXPECT_EQ(report->head_ref, "refs/heads/main");
  EXPECT_EQ(report->head_oid, main);
  EXPECT_GT(report->received_objects, 0u);
  const std::string work_tree = shell_quote((workspace_ / "org/app").string());
  EXPECT_EQ(run("git -C " + work_tree + " rev-parse HEAD"), main);
  EXPECT_EQ(run("git -C " + work_tree + " status --porcelain"), "");
  EXPECT_EQ(run("git -C " + work_tree + " config remote.origin.url"), repo_url(repo));
  // It really went through sshd with the client key.
  EXPECT_GT(publickey_attempts(ssh_dir_ / "sshd.log"), attempts_before);
}

TEST_F(GitExecutorSshTest, SyncFollowsNewCommits) {
  const std::string repo = create_repo("sync", 2);
  const auto first = execute(make_job(Operation::kSync, repo, "s"));
  ASSERT_TRUE(first) << first.error().message;
  const std::string before = rev_parse(repo, "main");
  EXPECT_EQ(first->head_oid, before);

  add_commits(repo, 2);
  const std::string after = rev_parse(repo, "main");
  ASSERT_NE(before, after);
  const auto second = execute(make_job(Operation::kSync, repo, "s"));
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->head_ref, "refs/heads/main");
  EXPECT_EQ(second->head_oid, after);
  ASSERT_EQ(second->refs_updated.size(), 1u);
  EXPECT_EQ(second->refs_updated[0].ref, "refs/remotes/origin/main");
  EXPECT_EQ(second->refs_updated[0].old_oid, before);
  EXPECT_EQ(second->refs_updated[0].new_oid, after);
  EXPECT_EQ(run("git -C " + shell_quote((workspace_ / "s").string()) + " rev-parse HEAD"), after);
}

TEST_F(GitExecutorSshTest, MirrorCopiesEveryRef) {
  const std::string repo = create_repo("mirror", 2);
  run(server_git(repo) + " tag v1 main~1 && " + server_git(repo) + " branch side main~1");
  const auto report = execute(make_job(Operation::kMirror, repo, "mirrors/m"));
  ASSERT_TRUE(report) << report.error().message;
  const std::string refs = " for-each-ref --format='%(refname) %(objectname)'";
  const std::string mirror = "git --git-dir=" + shell_quote((workspace_ / "mirrors/m").string());
  EXPECT_EQ(run(mirror + refs), run(server_git(repo) + refs));
  EXPECT_EQ(run(mirror + " config remote.origin.mirror"), "true");

  add_commits(repo, 1);
  const auto again = execute(make_job(Operation::kMirror, repo, "mirrors/m"));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(run(mirror + refs), run(server_git(repo) + refs));
}

TEST_F(GitExecutorSshTest, BareUserUrlWorksFromJobMessageToCheckout) {
  const std::string repo = create_repo("parsed", 1);
  const std::string url = repo_url(repo);  // ssh://USER@127.0.0.1:PORT/abs/…/NAME.git
  const std::string payload =
      fmt::format(R"({{"schema":"mgit.sync-job/v1","job_id":"{}-1","operation":"clone",)"
                  R"("repository":{{"url":"{}","credential":"server"}},"target":"parsed"}})",
                  prefix_, url);
  const ParseOutcome parsed = parse_job(payload, "", ParseLimits{});
  const Job* job = std::get_if<Job>(&parsed);
  ASSERT_NE(job, nullptr) << "the job with a bare ssh user was not accepted";
  EXPECT_EQ(job->repository_url, url);
  // The key names the server and repository, not the user.
  EXPECT_EQ(job->repository_key.find(user_ + "@"), std::string::npos) << job->repository_key;
  EXPECT_NE(job->repository_key.find("127.0.0.1:" + port_), std::string::npos)
      << job->repository_key;

  const auto report = execute(*job);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->head_oid, rev_parse(repo, "main"));
}

TEST_F(GitExecutorSshTest, UrlWithoutUserTakesTheCredentialsUsername) {
  const std::string repo = create_repo("nouser", 1);
  write_credential("with-user", fmt::format("username={}\nssh_private_key={}\nknown_hosts={}\n",
                                            user_, (ssh_dir_ / "client_key").string(),
                                            (ssh_dir_ / "known_hosts").string()));
  Job job = make_job(Operation::kClone, repo, "nouser", "with-user");
  job.repository_url = "ssh://127.0.0.1:" + port_ + repos_dir_ + "/" + repo + ".git";
  const auto report = execute(job);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->head_oid, rev_parse(repo, "main"));
}

TEST_F(GitExecutorSshTest, HostKeyNotInKnownHostsIsAuthFailedBeforeAnyKeyIsOffered) {
  const std::string repo = create_repo("impostor", 1);
  // The real host key listed for another host, and an unrelated key for this host:port.
  const std::string other_key = generate_key("other_host_key");
  const std::string real_key =
      run("cut -d' ' -f2,3 " + shell_quote((ssh_dir_ / "known_hosts").string()));
  const std::string fake_key =
      run("cut -d' ' -f1,2 " + shell_quote((credentials_dir_ / (other_key + ".pub")).string()));
  {
    std::ofstream(credentials_dir_ / "impostor_known_hosts")
        << "# another host with the real key, this host with another key\n"
        << "git.example.com " << real_key << "\n"
        << "[127.0.0.1]:" << port_ << " " << fake_key << "\n";
  }
  write_credential("impostor", fmt::format("ssh_private_key={}\nknown_hosts=impostor_known_hosts\n",
                                           (ssh_dir_ / "client_key").string()));
  const std::string message =
      expect_auth_failed(make_job(Operation::kClone, repo, "impostor", "impostor"), false);
  EXPECT_EQ(message, "ssh host key of '[127.0.0.1]:" + port_ +
                         "' differs from the one the credential's known_hosts lists for it")
      << message;

  // The same key listed for this host makes the very same job work.
  write_credential("fixed", fmt::format("ssh_private_key={}\nknown_hosts={}\n",
                                        (ssh_dir_ / "client_key").string(),
                                        (ssh_dir_ / "known_hosts").string()));
  const auto report = execute(make_job(Operation::kClone, repo, "impostor", "fixed"));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->head_oid, rev_parse(repo, "main"));
}

// known_hosts is read by libssh2: the port counts, hashed names work, and a line it cannot
// parse refuses the file with its line number.
TEST_F(GitExecutorSshTest, HostKeyIsCheckedForItsPortHashedOrNot) {
  const std::string repo = create_repo("hostkey-port", 1);
  const std::string real_key =
      run("cut -d' ' -f2,3 " + shell_quote((ssh_dir_ / "known_hosts").string()));
  // The real key, but for port 22 only (a plain name): this server listens elsewhere.
  std::ofstream(credentials_dir_ / "port22_known_hosts") << "127.0.0.1 " << real_key << "\n";
  write_credential("port22", fmt::format("ssh_private_key={}\nknown_hosts=port22_known_hosts\n",
                                         (ssh_dir_ / "client_key").string()));
  EXPECT_EQ(expect_auth_failed(make_job(Operation::kClone, repo, "port22", "port22"), false),
            "ssh host key of '[127.0.0.1]:" + port_ + "' is not in the credential's known_hosts");

  // The server's own line, hashed by ssh-keygen as `HashKnownHosts yes` would write it.
  const fs::path hashed = credentials_dir_ / "hashed_known_hosts";
  fs::copy_file(ssh_dir_ / "known_hosts", hashed);
  run("ssh-keygen -q -H -f " + shell_quote(hashed.string()) + " 2>&1");
  ASSERT_EQ(slurp(hashed).rfind("|1|", 0), 0u) << slurp(hashed);
  write_credential("hashed", fmt::format("ssh_private_key={}\nknown_hosts=hashed_known_hosts\n",
                                         (ssh_dir_ / "client_key").string()));
  const auto report = execute(make_job(Operation::kClone, repo, "hostkey-port", "hashed"));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->head_oid, rev_parse(repo, "main"));

  // A line libssh2 cannot parse before the good one: refused, naming the line.
  std::ofstream(credentials_dir_ / "broken_known_hosts") << "# first\nnot a known_hosts line\n"
                                                         << slurp(ssh_dir_ / "known_hosts");
  write_credential("broken", fmt::format("ssh_private_key={}\nknown_hosts=broken_known_hosts\n",
                                         (ssh_dir_ / "client_key").string()));
  EXPECT_EQ(expect_auth_failed(make_job(Operation::kClone, repo, "broken", "broken"), false),
            "known_hosts line 2 cannot be parsed by libssh2; fix or remove it (mgitctl "
            "credentials check lists every such line)");
}

TEST_F(GitExecutorSshTest, CredentialWithoutKnownHostsIsAuthFailed) {
  const std::string repo = create_repo("noknownhosts", 1);
  write_credential("no-known-hosts",
                   fmt::format("ssh_private_key={}\n", (ssh_dir_ / "client_key").string()));
  const std::string message = expect_auth_failed(
      make_job(Operation::kClone, repo, "no-known-hosts", "no-known-hosts"), false);
  EXPECT_NE(message.find("known_hosts"), std::string::npos) << message;
}

TEST_F(GitExecutorSshTest, JobWithoutCredentialIsAuthFailed) {
  const std::string repo = create_repo("nocredential", 1);
  const std::string message =
      expect_auth_failed(make_job(Operation::kClone, repo, "no-credential", ""), false);
  EXPECT_FALSE(message.empty());
}

TEST_F(GitExecutorSshTest, UnauthorizedKeyIsAuthFailedAndNeverEchoed) {
  const std::string repo = create_repo("stranger", 1);
  const std::string key = generate_key("stranger.key");
  const fs::path key_path = credentials_dir_ / key;
  write_credential("stranger", fmt::format("ssh_private_key={}\nknown_hosts={}\n", key,
                                           (ssh_dir_ / "known_hosts").string()));
  const std::string message =
      expect_auth_failed(make_job(Operation::kClone, repo, "stranger", "stranger"), true);
  EXPECT_NE(message.find("stranger"), std::string::npos) << "names the credential: " << message;
  EXPECT_EQ(message.find(key_path.string()), std::string::npos) << message;
  EXPECT_EQ(message.find(key), std::string::npos) << message;
  std::istringstream lines(slurp(key_path));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.rfind("-----", 0) == 0) continue;
    EXPECT_EQ(message.find(line), std::string::npos) << "private key material in: " << message;
  }
}

TEST_F(GitExecutorSshTest, KeyIsPreferredOverPasswordAndTheUrlsUserWins) {
  const std::string repo = create_repo("prefer-key", 1);
  // A wrong user name and password next to the key: only the key and the URL's user work.
  write_credential(
      "both", fmt::format("username=no-such-user\npassword=wrong-Passw0rd-4711\n"
                          "ssh_private_key={}\nknown_hosts={}\n",
                          (ssh_dir_ / "client_key").string(), (ssh_dir_ / "known_hosts").string()));
  const auto report = execute(make_job(Operation::kClone, repo, "both", "both"));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->head_oid, rev_parse(repo, "main"));
}

}  // namespace
}  // namespace mgit::git
