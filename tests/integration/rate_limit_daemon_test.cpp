// Rate limits end to end: a real mgitd (worker processes, real broker) syncing from the real
// git server directly (one host) and through a ThrottlingRemote that answers 429 (another
// host: another port on loopback). The throttled host cools down and its jobs are answered
// rate_limited by their deadline without reaching it again; the other host's jobs flow; the
// metrics say so.

#include <gtest/gtest.h>

#include <csignal>
#include <map>

#include "support/http_client.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/prometheus_text.hpp"
#include "support/throttling_remote.hpp"

namespace mgit::test_support {
namespace {

using namespace std::chrono_literals;

class RateLimitDaemonTest : public PipelineFixture {};

TEST_F(RateLimitDaemonTest, AThrottledHostCoolsDownAndItsJobsAreAnsweredWhileAnotherHostFlows) {
  const auto server_port =
      static_cast<std::uint16_t>(std::stoi(git_url_.substr(git_url_.rfind(':') + 1)));
  ThrottlingRemote remote(server_port, 429);
  remote.set_throttling(true);
  const auto proxy_url =
      git_url_.substr(0, git_url_.rfind(':') + 1) + std::to_string(remote.port());
  // The remote speaks plain http (it forwards to the git server's http port): the job names it
  // without a credential, which is never sent over plain http, and the daemon allows plain
  // http. job_json names the https URL with the fixture's credential.
  const auto via_proxy = [&](std::string json) {
    json.replace(json.find(git_https_url_), git_https_url_.size(), proxy_url);
    const std::string credential = R"(,"credential":"gitserver")";
    json.erase(json.find(credential), credential.size());
    return json;
  };

  std::vector<std::pair<std::string, std::string>> records;
  std::map<std::string, std::string> heads;
  for (int i = 0; i < 2; ++i) {
    const auto repo = "busy" + std::to_string(i) + "-" + suffix_;
    create_repo(repo, 1);
    const auto id = "throttled-" + std::to_string(i);
    records.emplace_back(proxy_url + "/" + repo,
                         via_proxy(job_json(id, "mirror", repo,
                                            "\"target\":\"busy/" + repo +
                                                "\",\"options\":{\"timeout_seconds\":20}")));
  }
  for (int i = 0; i < 4; ++i) {
    const auto repo = "fine" + std::to_string(i) + "-" + suffix_;
    heads["flowing-" + std::to_string(i)] = create_repo(repo, 1);
    records.emplace_back(repo_url(repo), job_json("flowing-" + std::to_string(i), "sync", repo,
                                                  "\"target\":\"fine/" + repo + "\""));
  }
  enqueue(records);
  // A 60 s cool-down outlasts the throttled jobs' 20 s deadline.
  auto daemon =
      start_daemon({"--host-cooldown-seconds", "60", "--workers", "2", "--allow-plain-http"});
  const auto port = wait_for_http_port(*daemon, 60s);
  ASSERT_TRUE(port) << daemon->log_text();

  const auto results = wait_for_results(records.size(), 120s);
  std::map<std::string, ParsedResult> by_id;
  for (const auto& result : results) by_id.emplace(result.job_id, result);
  ASSERT_EQ(by_id.size(), records.size()) << daemon->log_text();
  for (const auto& [id, head] : heads) {
    EXPECT_EQ(by_id.at(id).status, "succeeded") << by_id.at(id).raw;
    EXPECT_EQ(by_id.at(id).head_oid, head);
  }
  for (const auto* id : {"throttled-0", "throttled-1"}) {
    const auto& result = by_id.at(id);
    EXPECT_EQ(result.status, "failed") << result.raw;
    EXPECT_EQ(result.error_code, "rate_limited") << result.raw;
  }
  // Only the first attempt to reach the host was throttled; after it the host cooled down
  // and nothing more was sent to it (the other job may have been asked at the same time).
  EXPECT_GE(remote.throttled(), 1);
  EXPECT_LE(remote.throttled(), 2);
  EXPECT_EQ(remote.forwarded(), 0);
  EXPECT_TRUE(wait_for_committed_to_reach_end(60s));

  const auto metrics = http_request(*port, "GET", "/metrics").body;
  EXPECT_EQ(metric_sample(metrics, "mgitd_rate_limit_cooldowns_total"), 1) << metrics;
  EXPECT_TRUE(eventually(
      [&] {
        return metric_sample(http_request(*port, "GET", "/metrics").body,
                             "mgitd_rate_limit_throttled_hosts") == 1;
      },
      10s));
  const auto answered =
      metric_sample(metrics, R"(mgitd_rate_limited_answers_total{reason="deadline"})");
  ASSERT_TRUE(answered);
  EXPECT_GE(*answered, 1);
  EXPECT_TRUE(daemon->wait_for_log("git host cooling down", 1s));
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
}

}  // namespace
}  // namespace mgit::test_support
