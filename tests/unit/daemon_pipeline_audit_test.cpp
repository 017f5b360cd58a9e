// The pipeline's side of the audit trail with a fake consumer, producer and executor: a job's
// events are recorded when it is answered, and intake is held while the audit sink refuses
// them and reopened, without overriding backpressure, once it catches up.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "mgit/audit/audit_log.hpp"
#include "mgit/daemon/config.hpp"
#include "mgit/daemon/pipeline.hpp"
#include "mgit/daemon/pipeline_settings.hpp"
#include "support/fake_executor.hpp"
#include "support/fake_kafka.hpp"
#include "support/recording_audit_sink.hpp"
#include "support/test_environment.hpp"

namespace mgit::daemon {
namespace {

using namespace std::chrono_literals;
using transport::TopicPartition;

const TopicPartition kP0{"mgit.sync.jobs", 0};
const TopicPartition kP1{"mgit.sync.jobs", 1};

std::string job(const std::string& id, const std::string& repo) {
  return R"({"schema":"mgit.sync-job/v1","job_id":")" + id +
         R"(","operation":"sync","repository":{"url":"https://git.example.com/org/)" + repo +
         R"(.git"}})";
}

std::string denied_job(const std::string& id) {
  return R"({"schema":"mgit.sync-job/v1","job_id":")" + id +
         R"(","operation":"sync","repository":{"url":"https://u:tok-SECRET@git.example.com/x.git"}})";
}

transport::ConsumedRecord record(const TopicPartition& tp, std::int64_t offset,
                                 std::string payload) {
  transport::ConsumedRecord r;
  r.source = tp;
  r.offset = offset;
  r.key = "https://git.example.com/org/key";
  r.payload = std::move(payload);
  r.headers = {{"correlation-id", "req-" + std::to_string(offset)}};
  return r;
}

class PipelineAuditTest : public ::testing::Test {
 protected:
  PipelineAuditTest() : producer_(io_) {
    config_.workers = 2;
    config_.max_buffered_per_partition = 2;
    config_.workspace = workspace_.path().string();
    consumer_.assigned = {kP0, kP1};
    audit::AuditLogSettings settings;
    settings.retry_delay = 0ms;
    audit_ = std::make_unique<audit::AuditLog>(sink_, settings);
    pipeline_ = std::make_unique<Pipeline>(
        io_, pipeline_settings(config_), executor_, producer_,
        PipelineTelemetry{nullptr, nullptr, nullptr, nullptr, audit_.get()});
    pipeline_->attach(consumer_);
  }

  bool run_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(2ms);
      io_.restart();
    }
    return true;
  }

  test_support::TempDir workspace_;
  boost::asio::io_context io_;
  Config config_;
  test_support::FakeExecutor executor_;
  test_support::FakeConsumer consumer_;
  test_support::FakeProducer producer_;
  test_support::RecordingAuditSink sink_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(PipelineAuditTest, ARejectedJobIsAuditedWithItsIdsAndIntakeStaysOpen) {
  pipeline_->on_record(record(kP0, 0, denied_job("d1")));
  ASSERT_EQ(sink_.pending.size(), 1u);
  const auto& line = sink_.pending[0].line;
  EXPECT_NE(line.find(R"("event":"policy_denied","outcome":"denied","correlation_id":"req-0",)"
                      R"("job_id":"d1")"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("tok-SECRET"), std::string::npos) << line;
  EXPECT_TRUE(consumer_.paused.empty()) << "an event on its way is no reason to stop";
  sink_.acknowledge();
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }));
  pipeline_->tick();
  EXPECT_TRUE(consumer_.paused.empty());
}

TEST_F(PipelineAuditTest, ARefusedEventHoldsIntakeUntilTheSinkCatchesUpButBackpressureStays) {
  // kP0 is paused by backpressure: two jobs that do not finish.
  executor_.hold("a");
  executor_.hold("b");
  pipeline_->on_record(record(kP0, 0, job("a", "a")));
  pipeline_->on_record(record(kP0, 1, job("b", "b")));
  ASSERT_TRUE(consumer_.paused.contains(kP0));
  ASSERT_FALSE(consumer_.paused.contains(kP1));

  pipeline_->on_record(record(kP1, 0, denied_job("d1")));
  sink_.refuse();
  pipeline_->tick();
  EXPECT_TRUE(consumer_.paused.contains(kP0));
  EXPECT_TRUE(consumer_.paused.contains(kP1)) << "held: the audit sink refused an event";
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP1) == 1; }))
      << "the job consumed before the hold is still answered";

  pipeline_->tick();  // hands the refused event over again
  ASSERT_EQ(sink_.pending.size(), 1u);
  EXPECT_TRUE(consumer_.paused.contains(kP1)) << "still refused until acknowledged";
  sink_.acknowledge();
  pipeline_->tick();
  EXPECT_FALSE(consumer_.paused.contains(kP1)) << "reopened";
  EXPECT_TRUE(consumer_.paused.contains(kP0)) << "backpressure still holds its partition";
  EXPECT_EQ(sink_.delivered.size(), 1u);
  EXPECT_EQ(audit_->dropped(), 0u);

  executor_.release("a");
  executor_.release("b");
  ASSERT_TRUE(run_until([&] { return !consumer_.paused.contains(kP0); }));
}

}  // namespace
}  // namespace mgit::daemon

namespace mgit::daemon {
namespace {

std::string job_with_credential(const std::string& id) {
  return R"({"schema":"mgit.sync-job/v1","job_id":")" + id +
         R"(","operation":"sync","repository":{"url":"https://git.example.com/org/app.git",)"
         R"("credential":"deploy"}})";
}

TEST_F(PipelineAuditTest, AWithdrawnCoalescedGroupRecordsOneCredentialUse) {
  executor_.hold("first");
  pipeline_->on_record(record(kP0, 0, job_with_credential("first")));
  ASSERT_TRUE(executor_.wait_for_started(1, 5s));
  // Queued behind it, asking the same: the next execution answers all three.
  executor_.hold("leader");
  pipeline_->on_record(record(kP0, 1, job_with_credential("leader")));
  pipeline_->on_record(record(kP0, 2, job_with_credential("follower-1")));
  pipeline_->on_record(record(kP0, 3, job_with_credential("follower-2")));
  executor_.release("first");
  ASSERT_TRUE(run_until([&] { return executor_.calls().size() == 1; }));
  ASSERT_TRUE(run_until([&] { return executor_.wait_for_started(2, 1ms); }));
  // Lost while the group runs: its execution is stopped and nobody is answered.
  pipeline_->on_revoked({kP0}, true, [] {});
  const auto withdrawn_uses = [&] {
    std::size_t count = 0;
    for (const auto& pending : sink_.pending) {
      if (pending.line.find(R"("event":"credential_use","outcome":"withdrawn")") !=
          std::string::npos) {
        ++count;
        EXPECT_NE(pending.line.find(R"("job_id":"leader")"), std::string::npos) << pending.line;
      }
    }
    return count;
  };
  // The whole group completes at once, when the stopped execution returns.
  ASSERT_TRUE(run_until([&] { return withdrawn_uses() > 0; }, 10s));
  io_.run_for(50ms);
  io_.restart();
  EXPECT_EQ(withdrawn_uses(), 1u) << "one execution offered the credential once";
}

}  // namespace
}  // namespace mgit::daemon
