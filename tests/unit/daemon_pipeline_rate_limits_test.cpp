// The pipeline's part of rate limits: host_* settings reach its scheduler, trips are counted in
// the metrics and handed to PipelineTelemetry::rate_limits (the audit log's hook), and the jobs
// get `rate_limited` results whose offsets are committed.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>

#include "mgit/audit/audit_log.hpp"
#include "mgit/daemon/config.hpp"
#include "mgit/daemon/pipeline.hpp"
#include "mgit/daemon/pipeline_settings.hpp"
#include "support/fake_executor.hpp"
#include "support/fake_kafka.hpp"
#include "support/prometheus_text.hpp"
#include "support/recording_audit_sink.hpp"
#include "support/test_environment.hpp"

namespace mgit::daemon {
namespace {

using namespace std::chrono_literals;
using Outcome = tl::expected<jobs::ExecutionReport, jobs::JobError>;

const transport::TopicPartition kP0{"mgit.sync.jobs", 0};

transport::ConsumedRecord record(std::int64_t offset, const std::string& id,
                                 const std::string& repo) {
  transport::ConsumedRecord r;
  r.source = kP0;
  r.offset = offset;
  r.key = "https://git.example.com/org/" + repo;
  r.payload = R"({"schema":"mgit.sync-job/v1","job_id":")" + id +
              R"(","operation":"sync","repository":{"url":"https://git.example.com/org/)" + repo +
              R"(.git"},"options":{"timeout_seconds":5}})";
  return r;
}

class Hook final : public execution::RateLimitObserver {
 public:
  void host_cooling_down(const execution::HostCoolDown& cool_down,
                         const observability::JobContext& ctx) override {
    cool_downs.push_back(cool_down.host + " by " + ctx.job_id);
  }
  void job_rate_limited(const execution::RateLimitedJob& job) override {
    answers.push_back(job.job.job_id + ":" + std::string(to_string(job.answer)) + ":" + job.host);
  }
  std::vector<std::string> cool_downs;
  std::vector<std::string> answers;
};

TEST(PipelineRateLimits, ThrottlingIsCountedHandedToTheHookAndAnsweredRateLimited) {
  test_support::TempDir workspace;
  boost::asio::io_context io;
  Config config;
  config.workers = 1;
  config.workspace = workspace.path().string();
  config.host_cooldown_seconds = 60;  // outlasts the jobs' 5 s deadline
  test_support::FakeExecutor executor;
  test_support::FakeConsumer consumer;
  consumer.assigned = {kP0};
  test_support::FakeProducer producer(io);
  observability::Metrics metrics(observability::BuildInfo{"v", "r"});
  Hook hook;
  test_support::RecordingAuditSink audit_sink;
  audit::AuditLog audit_log(audit_sink, audit::AuditLogSettings{});
  executor.script("t1", [](int) -> Outcome {
    return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kRateLimited,
                                              "fetch failed: unexpected http status code: 429"});
  });
  Pipeline pipeline(io, pipeline_settings(config), executor, producer,
                    PipelineTelemetry{&metrics, nullptr, nullptr, &hook, &audit_log});
  pipeline.attach(consumer);
  pipeline.on_record(record(0, "t1", "a"));
  pipeline.on_record(record(1, "t2", "b"));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (consumer.stored[kP0] != 2 && std::chrono::steady_clock::now() < deadline) {
    io.run_for(2ms);
    io.restart();
  }
  ASSERT_EQ(consumer.stored[kP0], 2) << "both answered and committed, well before 60 s";

  const auto results = producer.on_topic(config.results_topic);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& result : results) {
    rapidjson::Document doc;
    doc.Parse(result.payload.c_str());
    ASSERT_TRUE(doc.IsObject());
    EXPECT_STREQ(doc["status"].GetString(), "failed");
    EXPECT_STREQ(doc["error"]["code"].GetString(), "rate_limited");
    EXPECT_TRUE(doc["error"]["retryable"].GetBool());
    EXPECT_NE(std::string(doc["error"]["message"].GetString()).find("git.example.com"),
              std::string::npos);
  }
  EXPECT_EQ(executor.calls().size(), 1u) << "t2 never reached the cooling host";
  EXPECT_EQ(hook.cool_downs, std::vector<std::string>{"git.example.com by t1"});
  // The cool-down is in the audit trail, tied to the job whose answer tripped it.
  std::vector<std::string> cool_down_events;
  for (const auto& pending : audit_sink.pending) {
    if (pending.line.find(R"("event":"host_cooldown")") != std::string::npos) {
      cool_down_events.push_back(pending.line);
    }
  }
  ASSERT_EQ(cool_down_events.size(), 1u);
  EXPECT_NE(cool_down_events[0].find(R"("job_id":"t1")"), std::string::npos) << cool_down_events[0];
  EXPECT_NE(cool_down_events[0].find(R"("host":"git.example.com")"), std::string::npos)
      << cool_down_events[0];
  // t2 may come to its turn while t1 backs off before its retry: either order.
  std::sort(hook.answers.begin(), hook.answers.end());
  EXPECT_EQ(hook.answers, (std::vector<std::string>{"t1:deadline:git.example.com",
                                                    "t2:deadline:git.example.com"}));
  pipeline.tick();
  const auto text = metrics.serialize();
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_rate_limit_cooldowns_total"), 1);
  EXPECT_EQ(
      test_support::metric_sample(text, R"(mgitd_rate_limited_answers_total{reason="deadline"})"),
      2);
  EXPECT_EQ(
      test_support::metric_sample(text, R"(mgitd_rate_limited_answers_total{reason="share"})"), 0);
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_rate_limit_throttled_hosts"), 1);
  EXPECT_EQ(test_support::metric_sample(text, "mgitd_rate_limit_waiting_jobs"), 0);
  EXPECT_EQ(
      test_support::metric_sample(
          text,
          R"(mgitd_jobs_completed_total{error_code="rate_limited",operation="sync",status="failed"})"),
      2);
}

}  // namespace
}  // namespace mgit::daemon
