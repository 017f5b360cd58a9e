// Credentials against the real https and http listeners of scripts/git-server (issue 12): the
// server's password never reaches a host outside the credential's hosts=, never goes over
// plain http, never follows a redirect to another host:port (a real TLS redirecting server,
// tests/support/redirecting_server.py), and never appears in a result, a log line, a span or
// an audit record. The git server's access log is the witness of what reached it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/pipeline_fixture.hpp"
#include "support/test_git_server.hpp"

namespace mgit::test_support {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> log_lines_for(const std::string& access_log, const std::string& repo) {
  std::ifstream in(access_log);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (line.find("/" + repo + ".git/") != std::string::npos) out.push_back(line);
  }
  return out;
}

class HostileCredentialsTest : public PipelineFixture {
 protected:
  void SetUp() override {
    PipelineFixture::SetUp();
    const auto password = "username=mgit\npassword=" + git_password_ + "\n";
    std::ofstream(credentials_ / "elsewhere") << password << "hosts=git.mgitd.invalid\n";
    std::ofstream(credentials_ / "bound") << password << "hosts=127.0.0.1\n";
  }

  std::string job(const std::string& id, const std::string& url, const std::string& credential) {
    return R"({"schema":"mgit.sync-job/v1","job_id":")" + id +
           R"(","operation":"clone","repository":{"url":")" + url + R"(","credential":")" +
           credential + R"("},"target":"cred/)" + id + "\"}";
  }

  ParsedResult only_result(const std::string& id, std::size_t expected_results) {
    const auto results = wait_for_results(expected_results, 120s);
    for (const auto& result : results) {
      if (result.job_id == id) return result;
    }
    ADD_FAILURE() << "no result for " << id;
    return {};
  }

  /// No output holds the server's password: the daemon's log, results, DLQ and audit records
  /// and the spans (PipelineFixture::outputs_holding_secrets; TearDown checks again once the
  /// daemon has stopped and flushed its audit stream).
  void expect_no_secret(const DaemonProcess& daemon) {
    EXPECT_FALSE(wait_for_results(1, 30s).empty()) << daemon.log_text();
    EXPECT_EQ(outputs_holding_secrets(), std::vector<std::string>{});
  }
};

TEST_F(HostileCredentialsTest, ATokenNeverReachesAHostOutsideItsHosts) {
  const auto repo = "elsewhere-" + suffix_;
  create_repo(repo, 1);
  auto daemon = start_daemon({"--otlp-endpoint", required_env("MGITD_TEST_OTLP_URL")});
  enqueue({{repo_url(repo), job("elsewhere", repo_url(repo), "elsewhere")}});
  const auto result = only_result("elsewhere", 1);
  EXPECT_EQ(result.status, "rejected") << result.raw;
  EXPECT_EQ(result.error_code, "policy_denied") << result.raw;
  EXPECT_NE(result.error_message.find("credential 'elsewhere' is not allowed for host '127.0.0.1:"),
            std::string::npos)
      << result.raw;
  // The supervisor refuses a credential whose hosts= does not name the job's host before the
  // job reaches a worker (isolation/src/worker_pool.cpp), so nothing reaches the server; the
  // check at connect time (the host the stream really connected to) is the redirect test's.
  EXPECT_TRUE(log_lines_for(TestGitServer(git_dir_).access_log(), repo).empty())
      << "refused before connecting";
  expect_no_secret(*daemon);
}

TEST_F(HostileCredentialsTest, ATokenNeverGoesOverPlainHttp) {
  const auto repo = "plain-" + suffix_;
  create_repo(repo, 1);
  // Even where the operator allows plain http for public repositories.
  auto daemon =
      start_daemon({"--allow-plain-http", "--otlp-endpoint", required_env("MGITD_TEST_OTLP_URL")});
  const auto url = git_url_ + "/" + repo + ".git";
  enqueue({{url, job("plain", url, "bound")}});
  const auto result = only_result("plain", 1);
  EXPECT_EQ(result.status, "rejected") << result.raw;
  EXPECT_EQ(result.error_code, "policy_denied") << result.raw;
  EXPECT_NE(result.error_message.find("never sent over plain http"), std::string::npos)
      << result.raw;
  EXPECT_TRUE(log_lines_for(TestGitServer(git_dir_).access_log(), repo).empty())
      << "refused before connecting";
  expect_no_secret(*daemon);
}

TEST_F(HostileCredentialsTest, ATokenNeverFollowsARedirectToAnotherPort) {
  const auto repo = "redirected-" + suffix_;
  create_repo(repo, 1);
  const TestGitServer server(git_dir_);
  // The redirector presents the git server's own certificate (127.0.0.1, signed by the CA
  // mgitd trusts), asks for the credential, takes it (hosts=127.0.0.1 allows any port), and
  // then sends the client on to the real repository on the git server's https port.
  DaemonProcess redirector(
      "/usr/bin/python3",
      {std::string(MGITD_SOURCE_DIR) + "/tests/support/redirecting_server.py",
       git_dir_ + "/tls/server.pem", git_dir_ + "/tls/server.key", server.https_url()},
      dir_->path() / "redirector.log");
  ASSERT_TRUE(redirector.wait_for_log("listening on", 20s)) << redirector.log_text();
  std::smatch port;
  const auto announced = redirector.log_text();
  ASSERT_TRUE(std::regex_search(announced, port, std::regex("listening on ([0-9]+)")));
  const auto url = "https://127.0.0.1:" + port[1].str() + "/" + repo + ".git";

  auto daemon = start_daemon({"--otlp-endpoint", required_env("MGITD_TEST_OTLP_URL")});
  enqueue({{url, job("redirected", url, "bound")}});
  const auto result = only_result("redirected", 1);
  EXPECT_EQ(result.error_code, "policy_denied") << result.raw;
  EXPECT_NE(result.error_message.find("follow_redirects"), std::string::npos) << result.raw;
  EXPECT_NE(redirector.log_text().find("auth=yes"), std::string::npos)
      << "the redirect came after the credential was given: " << redirector.log_text();
  EXPECT_TRUE(log_lines_for(server.access_log(), repo).empty())
      << "nothing, the credential least of all, reached the redirect's target";
  expect_no_secret(*daemon);
}

}  // namespace
}  // namespace mgit::test_support
