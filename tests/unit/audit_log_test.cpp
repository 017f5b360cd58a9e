#include "mgit/audit/audit_log.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>

#include "mgit/audit/file_sink.hpp"
#include "support/recording_audit_sink.hpp"
#include "support/test_environment.hpp"

namespace mgit::audit {
namespace {

using namespace std::chrono_literals;
using test_support::RecordingAuditSink;

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
};

AuditEvent event(std::string job_id) {
  AuditEvent out;
  out.event = kPolicyDenied;
  out.outcome = "denied";
  out.job_id = std::move(job_id);
  return out;
}

class AuditLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<AuditLog> make_log(std::size_t capacity) {
    AuditLogSettings settings;
    settings.capacity = capacity;
    settings.ack_timeout = 10s;
    settings.retry_delay = 1s;
    settings.on_recorded = [this](std::string_view name) { recorded_.emplace_back(name); };
    settings.on_dropped = [this] { ++dropped_; };
    settings.clock = [this] { return clock_.now; };
    return std::make_unique<AuditLog>(sink_, std::move(settings));
  }

  RecordingAuditSink sink_;
  FakeClock clock_;
  std::vector<std::string> recorded_;
  int dropped_ = 0;
};

TEST_F(AuditLogTest, AnAcknowledgedEventLeavesTheBufferAndIntakeStaysOpen) {
  auto log = make_log(8);
  log->record(event("j1"));
  EXPECT_EQ(log->buffered(), 1u);
  EXPECT_TRUE(log->accepting()) << "one event in flight is normal";
  sink_.acknowledge();
  EXPECT_EQ(log->buffered(), 0u);
  ASSERT_EQ(sink_.delivered.size(), 1u);
  EXPECT_NE(sink_.delivered[0].find("\"job_id\":\"j1\""), std::string::npos);
  EXPECT_EQ(recorded_, std::vector<std::string>{"policy_denied"});
}

TEST_F(AuditLogTest, ARefusedEventClosesIntakeUntilItIsDeliveredOnRetry) {
  auto log = make_log(8);
  log->record(event("j1"));
  sink_.refuse();
  EXPECT_FALSE(log->accepting());
  EXPECT_NE(log->closed_reason().find("refused 1"), std::string::npos) << log->closed_reason();

  log->tick();  // the retry delay has not passed
  EXPECT_TRUE(sink_.pending.empty());
  clock_.now += 1s;
  log->tick();
  ASSERT_EQ(sink_.pending.size(), 1u) << "handed over again";
  EXPECT_FALSE(log->accepting()) << "closed until delivered, not reopened for each retry";
  sink_.refuse();
  EXPECT_FALSE(log->accepting());
  clock_.now += 1s;
  log->tick();
  ASSERT_EQ(sink_.pending.size(), 1u);
  sink_.acknowledge();
  EXPECT_TRUE(log->accepting());
  EXPECT_EQ(log->buffered(), 0u);
  EXPECT_EQ(sink_.delivered.size(), 1u);
}

TEST_F(AuditLogTest, AnEventUnacknowledgedPastTheTimeoutClosesIntake) {
  auto log = make_log(8);
  log->record(event("j1"));
  clock_.now += 9s;
  EXPECT_TRUE(log->accepting());
  clock_.now += 1s;
  EXPECT_FALSE(log->accepting());
  EXPECT_NE(log->closed_reason().find("unacknowledged"), std::string::npos);
  sink_.acknowledge();
  EXPECT_TRUE(log->accepting()) << "reopens once the sink caught up";
}

TEST_F(AuditLogTest, IntakeClosesAtHalfTheBufferSoLateEventsStillFitAndNoneIsDropped) {
  auto log = make_log(8);
  for (int i = 0; i < 3; ++i) log->record(event("j" + std::to_string(i)));
  EXPECT_TRUE(log->accepting());
  log->record(event("j3"));
  EXPECT_FALSE(log->accepting()) << "4 of 8 held";
  // Jobs consumed before intake closed still answer: their events are kept.
  for (int i = 4; i < 8; ++i) log->record(event("j" + std::to_string(i)));
  EXPECT_EQ(log->buffered(), 8u);
  EXPECT_EQ(log->dropped(), 0u);
  EXPECT_EQ(dropped_, 0);

  // Past the bound an event is dropped and counted, never held without limit.
  log->record(event("j8"));
  EXPECT_EQ(log->dropped(), 1u);
  EXPECT_EQ(dropped_, 1);
  EXPECT_EQ(log->buffered(), 8u);

  sink_.acknowledge(8);
  EXPECT_TRUE(log->accepting());
  EXPECT_EQ(sink_.delivered.size(), 8u);
}

TEST_F(AuditLogTest, AnAcknowledgementAfterTheLogIsGoneIsIgnored) {
  auto log = make_log(8);
  log->record(event("j1"));
  log.reset();
  sink_.acknowledge();  // must not touch the destroyed log
  EXPECT_TRUE(sink_.pending.empty());
}

TEST(AuditFileSinkTest, AppendsOneLinePerEventToAPrivateFile) {
  test_support::TempDir dir;
  const auto path = dir.path() / "audit.jsonl";
  { std::ofstream(path) << "{\"earlier\":true}\n"; }
  auto sink = FileSink::open(path);
  ASSERT_TRUE(sink) << sink.error();
  AuditLogSettings settings;
  AuditLog log(**sink, settings);
  log.record(event("first"));
  log.record(event("second"));
  EXPECT_EQ(log.buffered(), 0u) << "a written line counts as delivered";
  EXPECT_TRUE(log.accepting());

  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "{\"earlier\":true}") << "appended, not truncated";
  EXPECT_NE(lines[1].find("\"job_id\":\"first\""), std::string::npos);
  EXPECT_NE(lines[2].find("\"job_id\":\"second\""), std::string::npos);

  const auto fresh = dir.path() / "fresh.jsonl";
  ASSERT_TRUE(FileSink::open(fresh));
  struct stat info {};
  ASSERT_EQ(::stat(fresh.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST(AuditFileSinkTest, AFailedWriteIsRefusedAndClosesIntake) {
  // /dev/full accepts the open and fails every write with ENOSPC: a full disk.
  auto sink = FileSink::open("/dev/full");
  ASSERT_TRUE(sink) << sink.error();
  AuditLog log(**sink, AuditLogSettings{});
  log.record(event("j1"));
  EXPECT_EQ(log.buffered(), 1u);
  EXPECT_FALSE(log.accepting());
}

TEST(AuditFileSinkTest, AnUnopenableFileIsAStartupError) {
  const auto sink = FileSink::open("/nonexistent-dir/audit.jsonl");
  ASSERT_FALSE(sink);
  EXPECT_NE(sink.error().find("cannot open audit_file /nonexistent-dir/audit.jsonl"),
            std::string::npos)
      << sink.error();
}

}  // namespace
}  // namespace mgit::audit
