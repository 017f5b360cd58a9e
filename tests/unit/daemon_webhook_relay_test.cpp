// WebhookRelay: a webhook's job is answered only once durable — acknowledged by the broker,
// or in the fsync'd spool — and the spool reaches the broker later.

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <filesystem>
#include <set>

#include "support/fake_kafka.hpp"
#include "support/test_environment.hpp"
#include "webhook_relay.hpp"

namespace mgit::daemon {
namespace {

using namespace std::chrono_literals;
using test_support::FakeProducer;
using test_support::TempDir;
using webhooks::Outcome;

constexpr std::string_view kTopic = "jobs";

webhooks::WebhookJob job(const std::string& delivery) {
  return webhooks::WebhookJob{"github:" + delivery, delivery, "https://git.example.com/acme/app",
                              R"({"job_id":"github:)" + delivery + R"("})"};
}

class WebhookRelayTest : public ::testing::Test {
 protected:
  void make_relay() {
    auto spool = webhooks::Spool::open(spool_dir_);
    ASSERT_TRUE(spool) << spool.error();
    WebhookRelaySettings settings;
    settings.jobs_topic = std::string(kTopic);
    settings.ack_timeout = 100ms;
    settings.replay_interval = 50ms;
    settings.on_spool_size = [this](std::size_t count) { spooled_gauge_ = count; };
    relay_ = std::make_unique<WebhookRelay>(io_, producer_, std::move(*spool), settings);
  }

  /// Submits and runs the loop until answered; nullopt when no answer came in time.
  std::optional<Outcome> submit(const std::string& delivery) {
    std::optional<Outcome> outcome;
    relay_->submit(job(delivery), "00-trace-span-01", [&](Outcome o) { outcome = o; });
    run_until([&] { return outcome.has_value(); });
    return outcome;
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done() && std::chrono::steady_clock::now() < deadline) io_.run_for(5ms);
    return done();
  }

  bool spooled(const std::string& delivery) const {
    return std::filesystem::exists(spool_dir_ / ("github:" + delivery + ".json"));
  }

  TempDir dir_;
  std::filesystem::path spool_dir_ = dir_.path() / "spool";
  boost::asio::io_context io_;
  // The spool thread posts its results here: the loop must wait for them, not run dry.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  FakeProducer producer_{io_};
  std::unique_ptr<WebhookRelay> relay_;
  std::size_t spooled_gauge_ = 0;
};

TEST_F(WebhookRelayTest, AnAcknowledgedJobIsEnqueuedOnceAndItsRedeliveryIsADuplicate) {
  make_relay();
  EXPECT_EQ(submit("d1"), Outcome::kEnqueued);
  ASSERT_EQ(producer_.on_topic(std::string(kTopic)).size(), 1U);
  const auto record = producer_.on_topic(std::string(kTopic)).front();
  EXPECT_EQ(record.key, "https://git.example.com/acme/app");
  EXPECT_EQ(transport::find_header(record.headers, "correlation-id"), "d1");
  EXPECT_EQ(transport::find_header(record.headers, "traceparent"), "00-trace-span-01");
  EXPECT_EQ(submit("d1"), Outcome::kDuplicate);
  EXPECT_EQ(producer_.on_topic(std::string(kTopic)).size(), 1U) << "no second record";
  EXPECT_FALSE(spooled("d1"));
}

TEST_F(WebhookRelayTest, WithoutAnAckInTimeTheJobIsSpooledThenRemovedWhenTheAckComes) {
  make_relay();
  producer_.hold_deliveries(true);
  EXPECT_EQ(submit("d2"), Outcome::kSpooled);
  EXPECT_TRUE(spooled("d2")) << "answered only after the file exists";
  EXPECT_EQ(spooled_gauge_, 1U);
  // A redelivery now is answered from the spool at once, without a second record.
  EXPECT_EQ(submit("d2"), Outcome::kSpooled);
  EXPECT_EQ(producer_.on_topic(std::string(kTopic)).size(), 1U);
  producer_.acknowledge_held();
  EXPECT_TRUE(run_until([&] { return !spooled("d2"); }));
  EXPECT_EQ(spooled_gauge_, 0U);
}

TEST_F(WebhookRelayTest, NeitherBrokerNorSpoolMeansUnavailable) {
  make_relay();
  producer_.hold_deliveries(true);
  std::filesystem::remove_all(spool_dir_);  // every write now fails
  EXPECT_EQ(submit("d3"), Outcome::kUnavailable);
  // The provider's retry, after the volume is back, is spooled.
  std::filesystem::create_directories(spool_dir_);
  EXPECT_EQ(submit("d3"), Outcome::kSpooled);
  EXPECT_TRUE(spooled("d3"));
}

TEST_F(WebhookRelayTest, TheSpoolIsReplayedAtStartUntilTheBrokerTakesIt) {
  {
    auto spool = webhooks::Spool::open(spool_dir_);
    ASSERT_TRUE(spool);
    ASSERT_TRUE(spool->write(webhooks::SpooledRecord{"github:old", "key", "{}", {{"a", "b"}}}));
  }
  make_relay();
  producer_.fail_next(std::string(kTopic), 1, transport::TransportErrorKind::kTransient);
  relay_->start();
  // The first produce fails; the next replay (50 ms later) succeeds and removes the file.
  EXPECT_TRUE(run_until([&] { return !spooled("old"); }));
  const auto produced = producer_.on_topic(std::string(kTopic));
  ASSERT_GE(produced.size(), 2U);
  EXPECT_EQ(produced.back().key, "key");
  EXPECT_EQ(transport::find_header(produced.back().headers, "a"), "b");
  EXPECT_EQ(spooled_gauge_, 0U);
}

TEST_F(WebhookRelayTest, ShuttingDownAnswersWaitingAndLaterWebhooksFromTheSpool) {
  make_relay();
  producer_.hold_deliveries(true);
  std::optional<Outcome> waiting;
  relay_->submit(job("d4"), "", [&](Outcome o) { waiting = o; });
  bool idle = false;
  relay_->shut_down([&] { idle = true; });
  EXPECT_TRUE(run_until([&] { return idle && waiting.has_value(); }, 1s))
      << "answered before its ack timeout";
  EXPECT_EQ(waiting, Outcome::kSpooled);
  EXPECT_TRUE(spooled("d4"));
  const auto produced_before = producer_.produced.size();
  EXPECT_EQ(submit("d5"), Outcome::kSpooled);
  EXPECT_TRUE(spooled("d5"));
  EXPECT_EQ(producer_.produced.size(), produced_before) << "the next start produces it";
}

TEST_F(WebhookRelayTest, RecordsTheBrokerKeepsRefusingDoNotStarveTheOthers) {
  {
    auto spool = webhooks::Spool::open(spool_dir_);
    ASSERT_TRUE(spool);
    for (const std::string id : {"github:a", "github:b", "github:c"}) {
      ASSERT_TRUE(spool->write(webhooks::SpooledRecord{id, "key-" + id, "{}", {}}));
    }
  }
  auto spool = webhooks::Spool::open(spool_dir_);
  ASSERT_TRUE(spool);
  WebhookRelaySettings settings;
  settings.jobs_topic = std::string(kTopic);
  settings.replay_interval = 20ms;
  settings.replay_batch = 1;  // one record per replay: without a rotation "a" is tried forever
  relay_ = std::make_unique<WebhookRelay>(io_, producer_, std::move(*spool), settings);
  producer_.fail_next(std::string(kTopic), 1000000);  // the broker refuses everything
  relay_->start();
  std::set<std::string> tried;
  EXPECT_TRUE(run_until([&] {
    tried.clear();
    for (const auto& record : producer_.on_topic(std::string(kTopic))) tried.insert(*record.key);
    return tried.size() == 3;
  })) << "each spooled record is offered in turn";
  EXPECT_TRUE(spooled("a") && spooled("b") && spooled("c")) << "refused records stay spooled";
}

}  // namespace
}  // namespace mgit::daemon
