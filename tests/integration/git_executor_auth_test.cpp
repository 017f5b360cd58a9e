// The credential on the first request (docs/git-executor.md, "Credentials on the first
// request"), counted in the access log of scripts/git-server's https listener: what reached
// the server is the server's word, not the executor's.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "mgit/git/git_executor.hpp"
#include "mgit/observability/log.hpp"
#include "support/daemon_process.hpp"
#include "support/git_executor_fixture.hpp"
#include "support/test_environment.hpp"
#include "support/test_git_server.hpp"

namespace mgit::git {
namespace {

using jobs::ErrorCode;
using jobs::Operation;
using mgit::test_support::shell_quote;
using mgit::test_support::TestGitServer;

class CredentialOnFirstRequest : public mgit::test_support::GitExecutorFixture {
 protected:
  void SetUp() override {
    GitExecutorFixture::SetUp();
    observability::init_logging(observability::LogLevel::kTrace);
    ::testing::internal::CaptureStdout();  // the executor's log lines, checked for secrets
  }
  void TearDown() override {
    const std::string log = ::testing::internal::GetCapturedStdout();
    EXPECT_EQ(log.find(password_), std::string::npos) << "the password reached the log";
    EXPECT_EQ(log.find(kWrongPassword), std::string::npos) << "the password reached the log";
    GitExecutorFixture::TearDown();
  }

  /// The access log's lines up to now. lighttpd writes a line when a request is done, maybe
  /// after the client read the response; a marker request made afterwards lands after it, so
  /// once the marker is in the log every earlier request is too.
  std::vector<std::string> settled_log() {
    const std::string marker = "/mgitd-marker-" + prefix_ + "-" + std::to_string(++markers_);
    mgit::test_support::run_command("curl -s -o /dev/null " +
                                    shell_quote(required_http_url() + marker));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (true) {
      std::vector<std::string> lines;
      std::ifstream in(TestGitServer(server_dir_).access_log());
      bool found = false;
      for (std::string line; std::getline(in, line);) {
        found = found || line.find(marker) != std::string::npos;
        lines.push_back(std::move(line));
      }
      if (found) return lines;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "marker " << marker << " never reached the access log";
        return lines;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  /// The requests for server repository `repo` that `work` made.
  template <typename Work>
  std::vector<std::string> requests_during(const std::string& repo, Work&& work) {
    const std::size_t before = settled_log().size();
    work();
    const std::vector<std::string> after = settled_log();
    std::vector<std::string> out;
    for (std::size_t i = before; i < after.size(); ++i) {
      if (after[i].find("/" + repo + ".git/") != std::string::npos) out.push_back(after[i]);
    }
    return out;
  }

  static std::string required_http_url() {
    return mgit::test_support::required_env("MGITD_TEST_GIT_URL");
  }

  static std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    return text;
  }

  int markers_ = 0;
};

// lighttpd's access log: `client host user [time] "request" status …`; the user is the one
// basic auth accepted, `-` on a 401.
bool authenticated_ok(const std::string& line) {
  return line.find(" mgit [") != std::string::npos && line.find("\" 200 ") != std::string::npos;
}

TEST_F(CredentialOnFirstRequest, ANothingNewSyncIsOneRequest) {
  const std::string repo = create_repo("one", 2);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "one")));
  jobs::ExecutionReport report;
  const auto requests = requests_during(repo, [&] {
    auto synced = execute(make_job(Operation::kSync, repo, "one"));
    ASSERT_TRUE(synced) << synced.error().message;
    report = *synced;
  });
  ASSERT_EQ(requests.size(), 1U) << joined(requests);
  EXPECT_NE(requests[0].find("/info/refs?service=git-upload-pack"), std::string::npos)
      << requests[0];
  EXPECT_TRUE(authenticated_ok(requests[0])) << requests[0];
  EXPECT_EQ(report.head_oid, rev_parse(repo, "main"));
  EXPECT_TRUE(report.refs_updated.empty());
}

TEST_F(CredentialOnFirstRequest, NewCommitsCostTheNegotiationAndNoChallenge) {
  const std::string repo = create_repo("new", 1);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "new")));
  add_commits(repo, 3);
  const auto requests = requests_during(repo, [&] {
    auto synced = execute(make_job(Operation::kSync, repo, "new"));
    ASSERT_TRUE(synced) << synced.error().message;
    EXPECT_EQ(synced->head_oid, rev_parse(repo, "main"));
  });
  // info/refs and one upload-pack POST, both carrying the credential.
  ASSERT_EQ(requests.size(), 2U) << joined(requests);
  EXPECT_NE(requests[1].find("POST /" + repo + ".git/git-upload-pack"), std::string::npos)
      << requests[1];
  for (const auto& line : requests) EXPECT_TRUE(authenticated_ok(line)) << line;
}

TEST_F(CredentialOnFirstRequest, AWrongPasswordIsAuthFailedAfterOneRequest) {
  const std::string repo = create_repo("wrong", 1);
  jobs::Job job = make_job(Operation::kClone, repo, "wrong");
  job.credential = "wrong";
  const auto requests = requests_during(repo, [&] {
    const auto refused = execute(job);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kAuthFailed) << refused.error().message;
    EXPECT_EQ(refused.error().message, "the remote rejected credential 'wrong'");
  });
  // The server's 401 answered the credential: no second try, no challenge round.
  ASSERT_EQ(requests.size(), 1U) << joined(requests);
  EXPECT_NE(requests[0].find("\" 401 "), std::string::npos) << requests[0];
}

TEST_F(CredentialOnFirstRequest, WithRedirectsAllowedTheCredentialWaitsForTheChallenge) {
  // follow_redirects = same_host lets a redirect reach another port of the host, where
  // libgit2 would replay its custom headers: the credential goes only in answer to a 401.
  auto settings = this->settings();
  settings.follow_redirects = FollowRedirects::kSameHost;
  executor_ = make_executor(settings);
  const std::string repo = create_repo("redirects", 1);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "redirects")));
  const auto requests = requests_during(
      repo, [&] { ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "redirects"))); });
  ASSERT_EQ(requests.size(), 2U) << joined(requests);
  EXPECT_NE(requests[0].find("\" 401 "), std::string::npos) << requests[0];
  EXPECT_NE(requests[0].find(" - ["), std::string::npos) << "sent anonymously: " << requests[0];
  EXPECT_TRUE(authenticated_ok(requests[1])) << requests[1];
}

TEST_F(CredentialOnFirstRequest, ThroughAGitProxyTheCredentialWaitsForTheChallenge) {
  // Through a proxy the policy stream sees only the proxy's address, so nothing proves the
  // tunnel ends at the host the credential is bound to: the credential goes only in answer
  // to the server's 401, as git itself does.
  mgit::test_support::DaemonProcess proxy(
      "/usr/bin/python3", {std::string(MGITD_SOURCE_DIR) + "/tests/support/connect_proxy.py"},
      root_ / "proxy.log");
  ASSERT_TRUE(proxy.wait_for_log("listening on", std::chrono::seconds(20))) << proxy.log_text();
  std::smatch port;
  const std::string announced = proxy.log_text();
  ASSERT_TRUE(std::regex_search(announced, port, std::regex("listening on ([0-9]+)")));
  auto settings = this->settings();
  settings.git_proxy = "http://127.0.0.1:" + port[1].str();
  executor_ = make_executor(settings);

  const std::string repo = create_repo("proxied", 1);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "proxied")));
  const auto requests = requests_during(repo, [&] {
    auto synced = execute(make_job(Operation::kSync, repo, "proxied"));
    ASSERT_TRUE(synced) << synced.error().message;
    EXPECT_EQ(synced->head_oid, rev_parse(repo, "main"));
  });
  EXPECT_NE(proxy.log_text().find("connect 127.0.0.1:"), std::string::npos)
      << "the sync did not go through the proxy: " << proxy.log_text();
  ASSERT_EQ(requests.size(), 2U) << joined(requests);
  EXPECT_NE(requests[0].find("\" 401 "), std::string::npos) << requests[0];
  EXPECT_NE(requests[0].find(" - ["), std::string::npos) << "sent anonymously: " << requests[0];
  EXPECT_TRUE(authenticated_ok(requests[1])) << requests[1];
}

TEST_F(CredentialOnFirstRequest, ACredentialForAnotherHostOrOverPlainHttpIsNeverSent) {
  const std::string repo = create_repo("elsewhere", 1);
  std::ofstream(root_ / "credentials" / "elsewhere")
      << "username=mgit\npassword=" << password_ << "\nhosts=git.example.com\n";
  jobs::Job foreign = make_job(Operation::kClone, repo, "elsewhere");
  foreign.credential = "elsewhere";
  // Over plain http, to the same server and a host the credential names.
  jobs::Job plain = make_job(Operation::kClone, repo, "plain");
  plain.repository_url = required_http_url() + "/" + repo + ".git";
  plain.repository_key = required_http_url() + "/" + repo;
  const auto requests = requests_during(repo, [&] {
    const auto refused = execute(foreign);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kPolicyDenied) << refused.error().message;
    const auto plain_refused = execute(plain);
    ASSERT_FALSE(plain_refused);
    EXPECT_EQ(plain_refused.error().code, ErrorCode::kPolicyDenied)
        << plain_refused.error().message;
  });
  EXPECT_TRUE(requests.empty()) << joined(requests);
}

}  // namespace
}  // namespace mgit::git
