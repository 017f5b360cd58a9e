// Restarts, crashes and rebalances of real mgitd processes against the real broker.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <set>

#include "support/pipeline_fixture.hpp"

namespace mgit::test_support {
namespace {

using namespace std::chrono_literals;

class LifecycleTest : public PipelineFixture {
 protected:
  // `jobs` sync jobs spread over `repos` repositories; returns every job id.
  std::set<std::string> enqueue_fleet(int repos, int jobs, const std::string& prefix) {
    std::vector<std::string> names;
    for (int r = 0; r < repos; ++r) {
      names.push_back(prefix + "-" + suffix_ + "-" + std::to_string(r));
      create_repo(names.back(), 1);
    }
    std::vector<std::pair<std::string, std::string>> records;
    std::set<std::string> ids;
    for (int i = 0; i < jobs; ++i) {
      const auto& repo = names[static_cast<std::size_t>(i % repos)];
      const auto id = prefix + "-job-" + std::to_string(i);
      ids.insert(id);
      records.emplace_back(repo_url(repo),
                           job_json(id, "sync", repo, "\"target\":\"t/" + repo + "\""));
    }
    enqueue(records);
    return ids;
  }

  // Short sessions so a SIGKILLed member's partitions move on in seconds, not the default 45.
  std::unique_ptr<DaemonProcess> start_member(std::vector<std::string> args = {}) {
    for (const char* property : {"session.timeout.ms=6000", "heartbeat.interval.ms=1000"}) {
      args.push_back("--kafka-property");
      args.push_back(property);
    }
    if (std::find(args.begin(), args.end(), "--workers") == args.end()) {
      args.push_back("--workers");
      args.push_back("2");
    }
    return start_daemon(args);
  }

  // The stream is well under way: some results are out, most jobs still wait.
  bool wait_until_under_way() {
    return eventually([&] { return result_counts(20, 2s).size() >= 20; }, 120s);
  }

  static void expect_every_job_answered(const std::set<std::string>& ids,
                                        const std::map<std::string, int>& counts) {
    for (const auto& id : ids) EXPECT_TRUE(counts.contains(id)) << "lost: " << id;
  }

  std::map<std::string, int> result_counts(std::size_t distinct,
                                           std::chrono::milliseconds timeout) {
    std::map<std::string, int> counts;
    for (const auto& result : wait_for_results(distinct, timeout)) ++counts[result.job_id];
    return counts;
  }
};

TEST_F(LifecycleTest, SigtermMidStreamLosesNothingAndDuplicatesNothing) {
  const auto ids = enqueue_fleet(10, 120, "term");
  auto first = start_member({"--shutdown-grace-seconds", "60"});
  ASSERT_TRUE(wait_until_under_way());
  first->signal(SIGTERM);
  ASSERT_EQ(first->wait_exit(90s), 0) << first->log_text();
  EXPECT_LT(result_counts(0, 3s).size(), ids.size()) << "the test must stop it mid-stream";

  auto second = start_member();
  const auto counts = result_counts(ids.size(), 180s);
  expect_every_job_answered(ids, counts);
  for (const auto& [id, count] : counts) {
    EXPECT_EQ(count, 1) << "duplicate after a clean SIGTERM: " << id;
  }
  EXPECT_TRUE(wait_for_committed_to_reach_end(30s));
  second->signal(SIGTERM);
  EXPECT_EQ(second->wait_exit(60s), 0);
}

TEST_F(LifecycleTest, SigkillMidStreamLosesNothing) {
  const auto ids = enqueue_fleet(10, 120, "kill");
  auto first = start_member();
  ASSERT_TRUE(wait_until_under_way());
  first->signal(SIGKILL);
  ASSERT_EQ(first->wait_exit(30s), 128 + SIGKILL);

  auto second = start_member();
  // Duplicates are allowed after SIGKILL; losses are not.
  expect_every_job_answered(ids, result_counts(ids.size(), 180s));
  EXPECT_TRUE(wait_for_committed_to_reach_end(60s));
  second->signal(SIGTERM);
  EXPECT_EQ(second->wait_exit(60s), 0);
}

TEST_F(LifecycleTest, ASecondReplicaJoiningMidStreamLosesNothing) {
  const auto ids = enqueue_fleet(12, 300, "rebalance");
  // One worker keeps the first replica busy long enough for the rebalance to hit jobs in flight.
  auto first = start_member({"--workers", "1"});
  ASSERT_TRUE(wait_until_under_way());
  auto second = start_member();
  ASSERT_TRUE(second->wait_for_log("partitions assigned", 60s)) << second->log_text();
  EXPECT_LT(result_counts(0, 2s).size(), ids.size()) << "the rebalance must happen mid-stream";
  expect_every_job_answered(ids, result_counts(ids.size(), 180s));
  EXPECT_TRUE(wait_for_committed_to_reach_end(60s));
  EXPECT_NE(first->log_text().find("partitions revoked"), std::string::npos)
      << "the first replica should have given partitions away";
  second->signal(SIGTERM);
  first->signal(SIGTERM);
  EXPECT_EQ(second->wait_exit(60s), 0);
  EXPECT_EQ(first->wait_exit(60s), 0);
}

}  // namespace
}  // namespace mgit::test_support
