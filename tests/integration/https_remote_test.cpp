// https git remotes and `git_ca_file`, against the https listener of scripts/git-server, whose
// certificate is signed by a CA the script made (so no system CA trusts it).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "support/pipeline_fixture.hpp"

namespace mgit::test_support {
namespace {

using namespace std::chrono_literals;

class HttpsRemoteTest : public PipelineFixture {
 protected:
  /// The fixture's daemon arguments with `git_ca_file` replaced by `ca_file` ("" drops it).
  std::vector<std::string> args_with_ca(const std::string& ca_file) const {
    auto args = daemon_args();
    const auto at = std::find(args.begin(), args.end(), "--git-ca-file");
    if (at != args.end()) args.erase(at, at + 2);
    if (!ca_file.empty()) args.insert(args.end(), {"--git-ca-file", ca_file});
    return args;
  }

  /// Starts mgitd with `ca_file` and returns its exit code and log once it gave up.
  std::pair<int, std::string> failed_start(const std::string& ca_file, const std::string& name) {
    DaemonProcess daemon(MGITD_BINARY, args_with_ca(ca_file), dir_->path() / (name + ".log"));
    const auto code = daemon.wait_exit(30s);
    return {code.value_or(-1), daemon.log_text()};
  }
};

TEST_F(HttpsRemoteTest, CloneOverHttpsTrustsTheCaFileAndNothingElse) {
  const auto repo = "tls-" + suffix_;
  const auto head = create_repo(repo, 2);
  // Without the CA the server's certificate is refused; with it the clone succeeds. Both
  // send the credential only after the TLS handshake, which the first never completes.
  auto untrusting = args_with_ca("");
  untrusting.insert(untrusting.end(), {"--max-attempts", "1"});
  auto without =
      std::make_unique<DaemonProcess>(MGITD_BINARY, untrusting, dir_->path() / "without-ca.log");
  enqueue({{repo_url(repo), job_json("untrusted", "clone", repo, "\"target\":\"tls/untrusted\"")}});
  auto results = wait_for_results(1, 120s);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, "failed") << results[0].raw;
  EXPECT_NE(results[0].error_message.find("certificate"), std::string::npos) << results[0].raw;
  // Stopped cleanly, so the next daemon of the group gets the partitions without waiting for
  // the session to time out.
  without->signal(SIGTERM);
  ASSERT_TRUE(without->wait_exit(60s).has_value());

  auto daemon = start_daemon();
  enqueue({{repo_url(repo), job_json("trusted", "clone", repo, "\"target\":\"tls/trusted\"")}});
  results = wait_for_results(2, 120s);
  const auto trusted = std::find_if(results.begin(), results.end(),
                                    [](const ParsedResult& r) { return r.job_id == "trusted"; });
  ASSERT_NE(trusted, results.end());
  EXPECT_EQ(trusted->status, "succeeded") << trusted->raw;
  EXPECT_EQ(target_head("tls/trusted"), head);
  EXPECT_EQ(daemon->log_text().find(git_password_), std::string::npos);
}

TEST_F(HttpsRemoteTest, AnUnusableCaFileFailsStartupWithAClearMessage) {
  const auto missing = (dir_->path() / "absent.pem").string();
  auto [code, log] = failed_start(missing, "missing");
  EXPECT_EQ(code, 1) << log;
  EXPECT_NE(log.find("git_ca_file " + missing + " does not exist"), std::string::npos) << log;

  const auto empty = dir_->path() / "not-a-cert.pem";
  std::ofstream(empty) << "no certificate here\n";
  std::tie(code, log) = failed_start(empty.string(), "empty");
  EXPECT_EQ(code, 1) << log;
  EXPECT_NE(log.find("holds no PEM certificate"), std::string::npos) << log;

  std::tie(code, log) = failed_start(dir_->path().string(), "directory");
  EXPECT_EQ(code, 1) << log;
  EXPECT_NE(log.find("is a directory"), std::string::npos) << log;
}

}  // namespace
}  // namespace mgit::test_support
