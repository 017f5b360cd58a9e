#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "mgit/observability/metrics.hpp"
#include "support/prometheus_text.hpp"

namespace mgit::observability {
namespace {

TEST(Metrics, CountsWithTheirLabels) {
  Metrics metrics(BuildInfo{"1.2.3", "abc123"});
  metrics.job_received("jobs");
  metrics.job_received("jobs");
  metrics.job_completed("sync", "failed", "network");
  metrics.job_completed("sync", "failed", "network");
  metrics.job_completed("clone", "succeeded", "none");
  metrics.dlq_record("not_json");
  metrics.retry("timeout");
  metrics.git_received(1000, 7);
  metrics.git_received(24, 1);
  metrics.offset_resets(3);

  const auto text = metrics.serialize();
  EXPECT_EQ(test_support::metric_sample(text, R"(mgitd_jobs_received_total{topic="jobs"})"), 2);
  EXPECT_EQ(
      test_support::metric_sample(
          text,
          R"(mgitd_jobs_completed_total{error_code="network",operation="sync",status="failed"})"),
      2);
  EXPECT_EQ(
      test_support::metric_sample(
          text,
          R"(mgitd_jobs_completed_total{error_code="none",operation="clone",status="succeeded"})"),
      1);
  EXPECT_EQ(test_support::metric_sample(text, R"(mgitd_dlq_records_total{reason="not_json"})"), 1);
  EXPECT_EQ(test_support::metric_sample(text, R"(mgitd_dlq_records_total{reason="oversize"})"), 0)
      << "bounded reasons exist from the start so rate() sees a zero";
  EXPECT_EQ(test_support::metric_sample(text, R"(mgitd_retries_total{error_code="timeout"})"), 1);
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_git_received_bytes_total"), 1024);
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_git_received_objects_total"), 8);
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_offset_resets_total"), 3);
  EXPECT_EQ(
      test_support::metric_sample(text, R"(mgitd_build_info{revision="abc123",version="1.2.3"})"),
      1);
}

TEST(Metrics, ForcedUpdatesByKindAndBackup) {
  Metrics metrics(BuildInfo{"1.2.3", "abc123"});
  metrics.forced_update(false, true);
  metrics.forced_update(false, true);
  metrics.forced_update(true, false);
  const auto text = metrics.serialize();
  EXPECT_EQ(test_support::metric_sample(
                text, R"(mgitd_forced_updates_total{backed_up="true",kind="forced"})"),
            2);
  EXPECT_EQ(test_support::metric_sample(
                text, R"(mgitd_forced_updates_total{backed_up="false",kind="deleted"})"),
            1);
  EXPECT_EQ(test_support::metric_sample(
                text, R"(mgitd_forced_updates_total{backed_up="true",kind="deleted"})"),
            0)
      << "every series exists from the start";
}

TEST(Metrics, HistogramsUseGitSizedBuckets) {
  Metrics metrics(BuildInfo{"v", "r"});
  metrics.job_duration("mirror", "succeeded", 0.005);
  metrics.job_duration("mirror", "succeeded", 1700);
  metrics.job_queued(0.2);
  const auto text = metrics.serialize();
  const std::string prefix =
      R"(mgitd_job_duration_seconds_bucket{operation="mirror",status="succeeded",le=")";
  EXPECT_EQ(test_support::metric_sample(text, prefix + R"(0.01"})"), 1);
  EXPECT_EQ(test_support::metric_sample(text, prefix + R"(1200"})"), 1);
  EXPECT_EQ(test_support::metric_sample(text, prefix + R"(1800"})"), 2);
  EXPECT_EQ(test_support::metric_sample(text, prefix + R"(+Inf"})"), 2);
  EXPECT_EQ(test_support::metric_sample(text, R"(mgitd_job_queue_seconds_bucket{le="0.25"})"), 1);
  EXPECT_EQ(test_support::metric_sample(text, R"(mgitd_job_queue_seconds_bucket{le="0.1"})"), 0);
  EXPECT_NE(text.find("# TYPE mgitd_job_duration_seconds histogram"), std::string::npos);
}

TEST(Metrics, LagSeriesFollowTheAssignment) {
  Metrics metrics(BuildInfo{"v", "r"});
  metrics.set_consumer_lag(0, 12);
  metrics.set_consumer_lag(3, 5);
  metrics.set_consumer_lag(3, 4);
  auto text = metrics.serialize();
  EXPECT_EQ(test_support::metric_sample(text, R"(mgitd_consumer_lag{partition="0"})"), 12);
  EXPECT_EQ(test_support::metric_sample(text, R"(mgitd_consumer_lag{partition="3"})"), 4);
  metrics.clear_consumer_lag(0);
  metrics.clear_consumer_lag(7);  // never set: harmless
  text = metrics.serialize();
  EXPECT_FALSE(test_support::metric_sample(text, R"(mgitd_consumer_lag{partition="0"})"));
  EXPECT_EQ(test_support::metric_sample(text, R"(mgitd_consumer_lag{partition="3"})"), 4);
}

TEST(Metrics, GaugesAndHealth) {
  Metrics metrics(BuildInfo{"v", "r"});
  metrics.set_jobs_in_flight(17);
  metrics.set_partitions(6, 2);
  metrics.set_oldest_job_age(42.5);
  metrics.set_health(false, true);
  metrics.spans_exported(10);
  metrics.spans_dropped("queue_full", 4);
  const auto text = metrics.serialize();
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_jobs_in_flight"), 17);
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_partitions_assigned"), 6);
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_partitions_paused"), 2);
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_oldest_job_age_seconds"), 42.5);
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_ready"), 0);
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_live"), 1);
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_spans_exported_total"), 10);
  EXPECT_EQ(test_support::metric_sample(text, R"(mgitd_spans_dropped_total{reason="queue_full"})"),
            4);
}

}  // namespace
}  // namespace mgit::observability
