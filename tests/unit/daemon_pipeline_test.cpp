// The pipeline's bookkeeping with a fake consumer, producer and executor: offsets, backpressure,
// revoke, shutdown and the publish-failure fallbacks (faults a real broker cannot be made to
// produce on demand).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>

#include "mgit/daemon/config.hpp"
#include "mgit/daemon/pipeline.hpp"
#include "mgit/daemon/pipeline_settings.hpp"
#include "support/daemon_process.hpp"
#include "support/fake_executor.hpp"
#include "support/fake_kafka.hpp"
#include "support/prometheus_text.hpp"
#include "support/test_environment.hpp"

namespace mgit::daemon {
namespace {

using namespace std::chrono_literals;
using test_support::FakeConsumer;
using test_support::FakeExecutor;
using test_support::FakeProducer;
using transport::TopicPartition;

const TopicPartition kP0{"mgit.sync.jobs", 0};
const TopicPartition kP1{"mgit.sync.jobs", 1};

std::string job(const std::string& id, const std::string& repo) {
  return R"({"schema":"mgit.sync-job/v1","job_id":")" + id +
         R"(","operation":"sync","repository":{"url":"https://git.example.com/org/)" + repo +
         R"(.git"}})";
}

transport::ConsumedRecord record(const TopicPartition& tp, std::int64_t offset, std::string payload,
                                 transport::Headers headers = {}) {
  transport::ConsumedRecord r;
  r.source = tp;
  r.offset = offset;
  r.key = "https://git.example.com/org/key";
  r.payload = std::move(payload);
  r.headers = std::move(headers);
  return r;
}

std::string json_field(const std::string& json, const char* name) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  if (!doc.IsObject() || !doc.HasMember(name)) return {};
  if (doc[name].IsString()) return doc[name].GetString();
  if (doc[name].IsObject() && doc[name].HasMember("code")) return doc[name]["code"].GetString();
  return {};
}

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest() : producer_(io_) {
    config_.workers = 2;
    config_.max_buffered_per_partition = 4;
    config_.max_in_flight = 100;
    config_.revoke_grace_seconds = 1;
    config_.shutdown_grace_seconds = 1;
    config_.workspace = workspace_.path().string();  // the pipeline keeps its in-flight file there
    consumer_.assigned = {kP0, kP1};
  }

  Pipeline& pipeline() {
    if (!pipeline_) {
      auto settings = pipeline_settings(config_);
      settings.hold_before_pause = hold_before_pause_;
      pipeline_ = std::make_unique<Pipeline>(io_, std::move(settings), executor_, producer_);
      pipeline_->attach(consumer_);
    }
    return *pipeline_;
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

  std::vector<std::string> result_statuses() const {
    std::vector<std::string> out;
    for (const auto& r : producer_.on_topic(config_.results_topic)) {
      out.push_back(json_field(r.payload, "status"));
    }
    return out;
  }

  test_support::TempDir workspace_;
  boost::asio::io_context io_;
  Config config_;
  std::chrono::milliseconds hold_before_pause_{1000};
  FakeExecutor executor_;
  FakeConsumer consumer_;
  FakeProducer producer_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(PipelineTest, ResultCarriesTheIntakeTraceAndHeadersAndTheOffsetIsStoredAfterTheAck) {
  producer_.hold_deliveries(true);
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  pipeline().on_record(record(
      kP0, 7, job("j1", "a"),
      {{"traceparent", "00-" + trace + "-00f067aa0ba902b7-01"}, {"correlation-id", "req-1"}}));
  ASSERT_TRUE(run_until([&] { return producer_.produced.size() == 1; }));
  EXPECT_TRUE(consumer_.stored.empty()) << "nothing is stored before the broker acknowledges";

  const auto& result = producer_.produced.front();
  EXPECT_EQ(result.topic, config_.results_topic);
  EXPECT_EQ(result.key, "https://git.example.com/org/a");
  EXPECT_EQ(json_field(result.payload, "trace_id"), trace);
  EXPECT_EQ(json_field(result.payload, "correlation_id"), "req-1");
  const auto header = [&](const std::string& name) {
    return transport::find_header(result.headers, name).value_or("");
  };
  EXPECT_EQ(header("traceparent").substr(0, 36), "00-" + trace + "-");
  EXPECT_NE(header("traceparent").substr(36, 16), "00f067aa0ba902b7") << "the job's own span";
  EXPECT_EQ(header("correlation-id"), "req-1");
  EXPECT_EQ(header("content-type"), "application/json");
  EXPECT_EQ(header("mgit-schema"), "mgit.sync-result/v1");

  producer_.acknowledge_held();
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }));
  EXPECT_EQ(consumer_.stored.at(kP0), 8);
}

TEST_F(PipelineTest, OnlyTheContiguousFinishedOffsetsAreStored) {
  executor_.hold("slow");
  pipeline().on_record(record(kP0, 0, job("slow", "a")));
  pipeline().on_record(record(kP0, 1, job("fast", "b")));
  ASSERT_TRUE(run_until([&] { return result_statuses().size() == 1; }));
  ASSERT_TRUE(run_until([&] { return producer_.outstanding() == 0; }));
  EXPECT_EQ(consumer_.stored.count(kP0), 0u) << "offset 1 finished but 0 did not";
  executor_.release("slow");
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }));
  EXPECT_EQ(consumer_.stored.at(kP0), 2);
}

TEST_F(PipelineTest, AHotPartitionPausesAloneAndResumesAtHalf) {
  for (int i = 0; i < 4; ++i) executor_.hold("hot" + std::to_string(i));
  for (int i = 0; i < 4; ++i) {
    pipeline().on_record(record(kP0, i, job("hot" + std::to_string(i), "hot")));
  }
  pipeline().on_record(record(kP1, 0, job("cold", "cold")));
  EXPECT_TRUE(consumer_.paused.contains(kP0));
  EXPECT_FALSE(consumer_.paused.contains(kP1)) << "only the hot partition pauses";

  executor_.release("hot0");
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }));
  EXPECT_TRUE(consumer_.paused.contains(kP0)) << "3 of 4 still unfinished: above half";
  executor_.release("hot1");
  ASSERT_TRUE(run_until([&] { return !consumer_.paused.contains(kP0); }))
      << "resumes once at most half are unfinished";
  executor_.release("hot2");
  executor_.release("hot3");
  ASSERT_TRUE(run_until([&] { return result_statuses().size() == 5; }));
}

TEST_F(PipelineTest, MaxInFlightStopsTakingRecordsAndResumesAtSevenEighths) {
  config_.max_in_flight = 16;               // resumes at 14
  config_.max_buffered_per_partition = 16;  // no partition pauses on its own here
  for (int i = 0; i < 16; ++i) executor_.hold("j" + std::to_string(i));
  for (int i = 0; i < 15; ++i) {
    pipeline().on_record(record(i % 2 == 0 ? kP0 : kP1, i / 2,
                                job("j" + std::to_string(i), "t" + std::to_string(i))));
  }
  EXPECT_FALSE(consumer_.holding);
  pipeline().on_record(record(kP1, 7, job("j15", "t15")));
  EXPECT_TRUE(consumer_.holding) << "at max_in_flight intake stops taking records";
  EXPECT_TRUE(consumer_.paused.empty()) << "without pausing: librdkafka keeps its prefetch";
  executor_.release("j0");
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }));
  EXPECT_TRUE(consumer_.holding) << "15 unfinished: above 7/8";
  executor_.release("j1");
  ASSERT_TRUE(run_until([&] { return !consumer_.holding; })) << "14 unfinished: taking again";
  EXPECT_TRUE(consumer_.paused.empty());
  for (int i = 2; i < 16; ++i) executor_.release("j" + std::to_string(i));
  ASSERT_TRUE(run_until([&] { return result_statuses().size() == 16; }));
}

TEST_F(PipelineTest, AHoldAtMaxInFlightThatLastsBecomesAPauseOfEveryPartition) {
  config_.max_in_flight = 2;
  hold_before_pause_ = 20ms;
  executor_.hold("a");
  executor_.hold("b");
  pipeline().on_record(record(kP0, 0, job("a", "a")));
  pipeline().on_record(record(kP1, 0, job("b", "b")));
  EXPECT_TRUE(consumer_.holding);
  // Held too long: rebalances and errors wait in the same queue, so the consumer is polled
  // again with every partition paused.
  ASSERT_TRUE(run_until([&] { return !consumer_.holding; }));
  EXPECT_TRUE(consumer_.paused.contains(kP0));
  EXPECT_TRUE(consumer_.paused.contains(kP1));
  executor_.release("a");
  ASSERT_TRUE(run_until([&] { return consumer_.paused.empty(); })) << "1 of 2: resumed";
  executor_.release("b");
  ASSERT_TRUE(run_until([&] { return result_statuses().size() == 2; }));
}

TEST_F(PipelineTest, LosingThePartitionThatFilledMaxInFlightTakesRecordsAgain) {
  config_.max_in_flight = 2;
  config_.max_buffered_per_partition = 8;
  hold_before_pause_ = 20ms;
  executor_.hold("a");
  executor_.hold("b");
  pipeline().on_record(record(kP0, 0, job("a", "a")));
  pipeline().on_record(record(kP0, 1, job("b", "b")));
  ASSERT_TRUE(run_until([&] { return consumer_.paused.contains(kP1); })) << "held, then paused";
  // Every unfinished job was the lost partition's: nothing else would ever resume intake.
  pipeline().on_revoked({kP0}, true, [] {});
  consumer_.assigned = {kP1};
  ASSERT_TRUE(run_until([&] { return !consumer_.paused.contains(kP1) && !consumer_.holding; }));
  executor_.release("a");
  executor_.release("b");
}

TEST_F(PipelineTest, UnparseableMessageGoesToTheDlqWithItsKeyBytesAndErrorHeaders) {
  auto r = record(kP1, 41, "not json", {{"x-origin", "producer-7"}});
  r.key.reset();  // a keyless record stays keyless in the DLQ
  pipeline().on_record(r);
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP1) == 1; }));
  const auto dlq = producer_.on_topic(config_.dlq_topic);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].payload, "not json");
  EXPECT_FALSE(dlq[0].key.has_value());
  const auto header = [&](const std::string& name) {
    return transport::find_header(dlq[0].headers, name).value_or("<none>");
  };
  EXPECT_EQ(header("x-origin"), "producer-7");
  EXPECT_EQ(header("mgit-error-code"), "not_json");
  EXPECT_NE(header("mgit-error-message"), "<none>");
  EXPECT_EQ(header("mgit-source-topic"), kP1.topic);
  EXPECT_EQ(header("mgit-source-partition"), "1");
  EXPECT_EQ(header("mgit-source-offset"), "41");
  EXPECT_TRUE(producer_.on_topic(config_.results_topic).empty());
  EXPECT_EQ(consumer_.stored.at(kP1), 42);
}

TEST_F(PipelineTest, InvalidJobGetsARejectedResultWithoutRunning) {
  pipeline().on_record(
      record(kP0, 0, R"({"schema":"mgit.sync-job/v1","job_id":"x","operation":"sync"})"));
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }));
  const auto results = producer_.on_topic(config_.results_topic);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(json_field(results[0].payload, "status"), "rejected");
  EXPECT_EQ(json_field(results[0].payload, "error"), "invalid_job");
  EXPECT_TRUE(executor_.calls().empty());
}

TEST_F(PipelineTest, ATransientPublishFailureRetriesTheSameResult) {
  producer_.fail_next(config_.results_topic, 2, transport::TransportErrorKind::kTransient);
  pipeline().on_record(record(kP0, 0, job("patient", "a")));
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }, 10s));
  const auto results = producer_.on_topic(config_.results_topic);
  ASSERT_EQ(results.size(), 3u) << "two failed tries and the acknowledged one";
  for (const auto& result : results) {
    EXPECT_EQ(json_field(result.payload, "status"), "succeeded") << "no fallback on a blip";
  }
  EXPECT_TRUE(producer_.on_topic(config_.dlq_topic).empty());
  EXPECT_TRUE(pipeline().ready());
}

TEST_F(PipelineTest, AFatalProducerErrorStopsIntakeWithoutCommitting) {
  producer_.fail_next(config_.results_topic, 1, transport::TransportErrorKind::kFatal);
  pipeline().on_record(record(kP0, 0, job("j", "a")));
  ASSERT_TRUE(run_until([&] { return !pipeline().ready(); }));
  EXPECT_TRUE(consumer_.stored.empty());
  EXPECT_TRUE(consumer_.paused.contains(kP0));
}

TEST_F(PipelineTest, AnUnpublishableResultIsReplacedByAMinimalFailure) {
  producer_.fail_next(config_.results_topic, 1);
  pipeline().on_record(record(kP0, 0, job("big", "a")));
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }));
  const auto results = producer_.on_topic(config_.results_topic);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(json_field(results[1].payload, "status"), "failed");
  EXPECT_EQ(json_field(results[1].payload, "error"), "internal");
  EXPECT_EQ(json_field(results[1].payload, "job_id"), "big");
}

TEST_F(PipelineTest, WhenNoResultCanBePublishedTheJobGoesToTheDlq) {
  producer_.fail_next(config_.results_topic, 2);
  pipeline().on_record(record(kP0, 0, job("j", "a")));
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }));
  const auto dlq = producer_.on_topic(config_.dlq_topic);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].payload, job("j", "a"));
  EXPECT_EQ(transport::find_header(dlq[0].headers, "mgit-error-code"), "result_unpublishable");
  EXPECT_TRUE(pipeline().ready());
}

TEST_F(PipelineTest, WhenEvenTheDlqFailsIntakeStopsAndNothingIsCommitted) {
  producer_.fail_next(config_.results_topic, 2);
  producer_.fail_next(config_.dlq_topic, 1);
  pipeline().on_record(record(kP0, 0, job("j", "a")));
  ASSERT_TRUE(run_until([&] { return !pipeline().ready(); }));
  EXPECT_TRUE(consumer_.stored.empty());
  EXPECT_TRUE(consumer_.paused.contains(kP0));
  EXPECT_TRUE(consumer_.paused.contains(kP1));
  // Later records are not taken while intake is stopped.
  pipeline().on_record(record(kP1, 0, job("later", "b")));
  io_.run_for(50ms);
  EXPECT_EQ(executor_.calls().size(), 1u);
}

TEST_F(PipelineTest, ADlqCopyRefusedForItsSizeIsReplacedByAReducedRecord) {
  producer_.fail_next(config_.dlq_topic, 1, transport::TransportErrorKind::kPermanent, true);
  pipeline().on_record(record(kP0, 7, "not json", {{"correlation-id", "req-7"}}));
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }));
  const auto dlq = producer_.on_topic(config_.dlq_topic);
  ASSERT_EQ(dlq.size(), 2u) << "the refused full copy, then the reduced record";
  EXPECT_EQ(dlq[0].payload, "not json");
  const auto& reduced = dlq[1];
  EXPECT_TRUE(reduced.payload.empty());
  EXPECT_EQ(reduced.key, "https://git.example.com/org/key");
  const auto header = [&](const std::string& name) {
    return transport::find_header(reduced.headers, name).value_or("<none>");
  };
  EXPECT_EQ(header("correlation-id"), "req-7");
  EXPECT_EQ(header("mgit-error-code"), "not_json");
  EXPECT_EQ(header("mgit-source-offset"), "7");
  EXPECT_EQ(header("mgit-original-size"), "8");
  EXPECT_EQ(header("mgit-original-sha256").size(), 64u);
  EXPECT_EQ(consumer_.stored.at(kP0), 8);
  EXPECT_TRUE(pipeline().ready());
}

TEST_F(PipelineTest, WhenEvenTheReducedDlqRecordIsRefusedIntakeStops) {
  producer_.fail_next(config_.dlq_topic, 2, transport::TransportErrorKind::kPermanent, true);
  pipeline().on_record(record(kP0, 0, "not json"));
  ASSERT_TRUE(run_until([&] { return !pipeline().ready(); }));
  EXPECT_EQ(producer_.on_topic(config_.dlq_topic).size(), 2u);
  EXPECT_TRUE(consumer_.stored.empty());
}

TEST_F(PipelineTest, ARecordRunningAtThreeUncleanExitsGoesToTheDlqAsPoison) {
  // What a daemon killed while running kP0@5 (for the third time) and kP0@6 (for the
  // first) leaves behind.
  const std::filesystem::path file = pipeline_settings(config_).in_flight_file;
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file)
      << R"({"version":1,"clean":false,"records":[)"
      << R"({"topic":"mgit.sync.jobs","partition":0,"offset":5,"unclean_exits":2,"running":true},)"
      << R"({"topic":"mgit.sync.jobs","partition":0,"offset":6,"unclean_exits":0,"running":true}]})";
  observability::Metrics metrics(observability::BuildInfo{"v", "r"});
  pipeline_ = std::make_unique<Pipeline>(io_, pipeline_settings(config_), executor_, producer_,
                                         PipelineTelemetry{&metrics, nullptr, nullptr});
  pipeline_->attach(consumer_);
  pipeline().on_record(record(kP0, 5, job("poison", "a"), {{"correlation-id", "req-5"}}));
  pipeline().on_record(record(kP0, 6, job("once", "b")));
  ASSERT_TRUE(run_until([&] { return consumer_.stored[kP0] == 7; }));

  const auto dlq = producer_.on_topic(config_.dlq_topic);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].payload, job("poison", "a")) << "the record, untouched";
  EXPECT_EQ(transport::find_header(dlq[0].headers, "mgit-error-code"), "poison");
  EXPECT_EQ(transport::find_header(dlq[0].headers, "mgit-source-offset"), "5");
  EXPECT_EQ(transport::find_header(dlq[0].headers, "correlation-id"), "req-5");
  ASSERT_EQ(executor_.calls().size(), 1u) << "the poison record is not run";
  EXPECT_EQ(executor_.calls()[0].job_id, "once") << "one unclean exit is not enough";
  EXPECT_EQ(result_statuses(), std::vector<std::string>{"succeeded"});
  EXPECT_EQ(test_support::metric_sample(metrics.serialize(),
                                        R"(mgitd_dlq_records_total{reason="poison"})"),
            1);
}

TEST_F(PipelineTest, TheInFlightFileNamesWhatIsRunningAndIsGoneAfterACleanExit) {
  const std::filesystem::path file = pipeline_settings(config_).in_flight_file;
  // The newest of the file's two slots (docs/delivery.md, "Poison records").
  const auto read = [&] {
    std::string newest;
    std::uint64_t newest_sequence = 0;
    for (const auto& slot : {file, std::filesystem::path(file.string() + ".alt")}) {
      std::ifstream in(slot);
      std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      std::smatch sequence;
      if (std::regex_search(text, sequence, std::regex(R"re("seq":([0-9]+))re")) &&
          std::stoull(sequence[1].str()) >= newest_sequence) {
        newest_sequence = std::stoull(sequence[1].str());
        newest = std::move(text);
      }
    }
    return newest;
  };
  executor_.hold("slow");
  pipeline().on_record(record(kP1, 12, job("slow", "a")));
  ASSERT_TRUE(executor_.wait_for_started(1, 5s));
  // Written before the execution started: a crash from here on counts against kP1@12.
  EXPECT_NE(read().find(R"("partition":1,"offset":12,"unclean_exits":0,"running":true)"),
            std::string::npos)
      << read();
  executor_.release("slow");
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP1) == 1; }));
  EXPECT_EQ(read().find("\"offset\":12"), std::string::npos) << read();
  pipeline_.reset();
  EXPECT_FALSE(std::filesystem::exists(file)) << "nothing is counted after a clean exit";
  EXPECT_FALSE(std::filesystem::exists(file.string() + ".alt"));
}

TEST_F(PipelineTest, RevokeWaitsForInFlightJobsAndStoresTheirOffsetsFirst) {
  executor_.hold("running");
  pipeline().on_record(record(kP0, 5, job("running", "a")));
  ASSERT_TRUE(executor_.wait_for_started(1, 5s));
  bool released = false;
  pipeline().on_revoked({kP0}, false, [&] {
    released = true;
    EXPECT_EQ(consumer_.stored.count(kP0), 1u) << "offsets are stored before the release";
  });
  io_.run_for(100ms);
  io_.restart();
  EXPECT_FALSE(released) << "a job of the partition is still running";
  executor_.release("running");
  ASSERT_TRUE(run_until([&] { return released; }));
  EXPECT_EQ(consumer_.stored.at(kP0), 6);
}

TEST_F(PipelineTest, RevokeReleasesAtTheGraceDeadlineEvenIfAJobHangs) {
  executor_.hold("stuck");
  pipeline().on_record(record(kP0, 0, job("stuck", "a")));
  ASSERT_TRUE(executor_.wait_for_started(1, 5s));
  bool released = false;
  pipeline().on_revoked({kP0}, false, [&] { released = true; });
  ASSERT_TRUE(run_until([&] { return released; }, 5s));
  EXPECT_TRUE(consumer_.stored.empty());
  // The hanging job is stopped (its worker killed) and not answered: the partition's next
  // owner runs it again.
  ASSERT_TRUE(run_until([&] { return executor_.calls().size() == 1; }));
  io_.run_for(50ms);
  io_.restart();
  EXPECT_TRUE(result_statuses().empty());
  EXPECT_TRUE(consumer_.stored.empty()) << "a released partition's offsets are not ours";
}

TEST_F(PipelineTest, AnAnswerFromAnEarlierAssignmentDoesNotCountForTheNewOne) {
  pipeline().on_assigned({kP0});
  executor_.hold("old");
  pipeline().on_record(record(kP0, 0, job("old", "a")));
  ASSERT_TRUE(executor_.wait_for_started(1, 5s));
  pipeline().on_revoked({kP0}, true, [] {});  // lost, then handed back to us
  pipeline().on_assigned({kP0});
  executor_.hold("new");
  pipeline().on_record(record(kP0, 0, job("new", "b")));
  // The lost assignment's job is stopped without an answer; its end must not count for the
  // record at the same offset in the new assignment.
  ASSERT_TRUE(run_until([&] { return executor_.calls().size() == 1; }));
  io_.run_for(50ms);
  io_.restart();
  EXPECT_TRUE(result_statuses().empty());
  EXPECT_TRUE(consumer_.stored.empty()) << "offset 0 of the new assignment is not answered yet";
  executor_.release("new");
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }));
  EXPECT_EQ(consumer_.stored.at(kP0), 1);
  EXPECT_EQ(result_statuses().size(), 1u);
}

TEST_F(PipelineTest, ARewoundRecordIsDroppedWhileItsFirstDeliveryIsTracked) {
  executor_.hold("first");
  pipeline().on_record(record(kP0, 3, job("first", "a")));
  pipeline().on_record(record(kP0, 3, job("first", "a")));
  executor_.release("first");
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }));
  io_.run_for(50ms);
  EXPECT_EQ(result_statuses().size(), 1u);
  EXPECT_EQ(executor_.calls().size(), 1u);
}

TEST_F(PipelineTest, ShutdownDrainsBufferedJobsThenCommitsAndCloses) {
  executor_.hold("first");
  pipeline().on_record(record(kP0, 0, job("first", "same")));
  pipeline().on_record(record(kP0, 1, job("second", "same")));
  bool done = false;
  pipeline().begin_shutdown([&] { done = true; });
  EXPECT_TRUE(consumer_.paused.contains(kP0));
  EXPECT_TRUE(consumer_.paused.contains(kP1));
  io_.run_for(100ms);
  io_.restart();
  EXPECT_FALSE(done);
  executor_.release("first");
  ASSERT_TRUE(run_until([&] { return done; }));
  EXPECT_EQ(result_statuses().size(), 2u) << "the queued job ran too";
  EXPECT_EQ(consumer_.stored.at(kP0), 2);
  EXPECT_GE(consumer_.commits, 1);
  EXPECT_TRUE(consumer_.closed);
}

TEST_F(PipelineTest, ShutdownEndsWhenAnotherRecordInFlightAtTheLastAnswerIsDelivered) {
  config_.shutdown_grace_seconds = 30;
  executor_.hold("first");
  pipeline().on_record(record(kP0, 0, job("first", "a")));
  // A record the same producer carries for someone else (an audit event, a webhook's job),
  // still unacknowledged when the last job's answer is.
  producer_.hold_deliveries(true);
  bool other_delivered = false;
  producer_.produce(transport::OutgoingRecord{"mgit.audit", "key", "event", {}},
                    [&](const auto&) { other_delivered = true; });
  producer_.hold_deliveries(false);
  bool done = false;
  pipeline().begin_shutdown([&] { done = true; });
  executor_.release("first");
  ASSERT_TRUE(run_until([&] { return consumer_.stored.count(kP0) == 1; }));
  io_.run_for(100ms);
  io_.restart();
  EXPECT_FALSE(done) << "a record is still in flight";
  producer_.acknowledge_held();
  ASSERT_TRUE(run_until([&] { return other_delivered; }));
  pipeline().tick();  // the daemon's heartbeat, once a second
  EXPECT_TRUE(run_until([&] { return done; }, 2s)) << "waited for the whole shutdown grace";
  EXPECT_TRUE(consumer_.closed);
}

TEST_F(PipelineTest, ShutdownAbandonsWhatIsUnfinishedAtTheDeadline) {
  executor_.hold("hangs");
  pipeline().on_record(record(kP0, 0, job("hangs", "a")));
  pipeline().on_record(record(kP0, 1, job("queued", "a")));
  bool done = false;
  pipeline().begin_shutdown([&] { done = true; });
  ASSERT_TRUE(run_until([&] { return done; }, 5s));
  EXPECT_TRUE(consumer_.stored.empty()) << "unfinished jobs stay uncommitted";
  EXPECT_TRUE(consumer_.closed);
}

}  // namespace
}  // namespace mgit::daemon

namespace mgit::daemon {
namespace {

class RecordingSpans final : public observability::SpanSink {
 public:
  void submit(observability::Span span) override { spans.push_back(std::move(span)); }
  std::vector<observability::Span> named(const std::string& name) const {
    std::vector<observability::Span> out;
    for (const auto& span : spans) {
      if (span.name == name) out.push_back(span);
    }
    return out;
  }
  std::vector<observability::Span> spans;  // io_context thread only, like the pipeline
};

std::string attribute(const observability::Span& span, const std::string& key) {
  for (const auto& [name, value] : span.attributes) {
    if (name == key) {
      if (const auto* text = std::get_if<std::string>(&value)) return *text;
      if (const auto* number = std::get_if<std::int64_t>(&value)) return std::to_string(*number);
    }
  }
  return {};
}

TEST_F(PipelineTest, EveryAnswerPathIsCountedAndTraced) {
  observability::Metrics metrics(observability::BuildInfo{"v", "r"});
  RecordingSpans spans;
  pipeline_ = std::make_unique<Pipeline>(io_, pipeline_settings(config_), executor_, producer_,
                                         PipelineTelemetry{&metrics, &spans, nullptr});
  pipeline_->attach(consumer_);
  executor_.script("flaky", [](int attempt) -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
    if (attempt == 1)
      return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kNetwork, "reset"});
    return jobs::ExecutionReport{};
  });
  pipeline().on_record(record(kP0, 0, job("flaky", "a")));
  ASSERT_TRUE(run_until([&] { return consumer_.stored.size() == 1; }));
  pipeline().on_record(
      record(kP1, 0, R"({"schema":"mgit.sync-job/v1","job_id":"bad","operation":"explode"})"));
  pipeline().on_record(record(kP1, 1, "not json"));
  ASSERT_TRUE(run_until([&] { return producer_.produced.size() == 3; }));
  // A result the broker refuses for good: the minimal failed/internal result replaces it.
  producer_.fail_next(config_.results_topic, 1);
  pipeline().on_record(record(kP0, 1, job("refused", "b")));
  ASSERT_TRUE(run_until([&] { return spans.named("mgitd.job").size() == 4; }));

  const auto text = metrics.serialize();
  EXPECT_EQ(
      test_support::metric_sample(text, R"(mgitd_jobs_received_total{topic="mgit.sync.jobs"})"), 4);
  EXPECT_EQ(
      test_support::metric_sample(
          text,
          R"(mgitd_jobs_completed_total{error_code="none",operation="sync",status="succeeded"})"),
      1);
  EXPECT_EQ(
      test_support::metric_sample(
          text,
          R"(mgitd_jobs_completed_total{error_code="invalid_job",operation="unknown",status="rejected"})"),
      1);
  EXPECT_EQ(
      test_support::metric_sample(
          text,
          R"(mgitd_jobs_completed_total{error_code="internal",operation="sync",status="failed"})"),
      1)
      << "the minimal result is what was published for 'refused'";
  EXPECT_EQ(test_support::metric_sample(text, R"(mgitd_dlq_records_total{reason="not_json"})"), 1);
  EXPECT_EQ(test_support::metric_sample(text, R"(mgitd_retries_total{error_code="network"})"), 1);
  EXPECT_EQ(test_support::metric_sample(
                text, R"(mgitd_job_duration_seconds_count{operation="sync",status="succeeded"})"),
            2);

  std::map<std::string, observability::Span> jobs_by_id;
  for (const auto& span : spans.named("mgitd.job"))
    jobs_by_id[attribute(span, "mgit.job.id")] = span;
  ASSERT_EQ(jobs_by_id.size(), 4u);
  EXPECT_EQ(attribute(jobs_by_id["flaky"], "mgit.job.status"), "succeeded");
  EXPECT_EQ(jobs_by_id["flaky"].status, observability::SpanStatus::kOk);
  EXPECT_EQ(attribute(jobs_by_id["bad"], "mgit.job.status"), "rejected");
  EXPECT_EQ(attribute(jobs_by_id[""], "mgit.job.status"), "dead_letter");
  EXPECT_EQ(attribute(jobs_by_id[""], "mgit.dlq.reason"), "not_json");
  EXPECT_EQ(attribute(jobs_by_id["refused"], "mgit.error.code"), "internal");
  for (const auto& [id, span] : jobs_by_id) {
    EXPECT_EQ(span.kind, observability::SpanKind::kConsumer) << id;
    if (id != "flaky") {
      EXPECT_EQ(span.status, observability::SpanStatus::kError) << id;
    }
  }
  // Two git.sync attempts for "flaky" (the first failed), one for "refused".
  const auto git = spans.named("git.sync");
  ASSERT_EQ(git.size(), 3u);
  int failed_attempts = 0;
  for (const auto& span : git) {
    if (span.status == observability::SpanStatus::kError) ++failed_attempts;
  }
  EXPECT_EQ(failed_attempts, 1);
  // One produce span per publish: 4 answers plus the refused full result.
  const auto produce = spans.named("kafka.produce");
  EXPECT_EQ(produce.size(), 5u);
  for (const auto& span : spans.spans) {
    EXPECT_EQ(span.trace_id.size(), 32u);
    if (span.name != "mgitd.job") {
      EXPECT_TRUE(std::any_of(
          jobs_by_id.begin(), jobs_by_id.end(),
          [&](const auto& entry) { return entry.second.span_id == span.parent_span_id; }))
          << span.name << " must be a child of a job span";
    }
  }
}

}  // namespace
}  // namespace mgit::daemon
