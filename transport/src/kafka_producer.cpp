#include "mgit/transport/kafka_producer.hpp"

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <deque>
#include <exception>
#include <string_view>
#include <vector>

#include "kafka_common.hpp"
#include "mgit/observability/log.hpp"
#include "queue_wakeup.hpp"

namespace mgit::transport {
namespace {

namespace asio = boost::asio;
using observability::LogLevel;

struct PendingDelivery {
  DeliveryHandler handler;
};

class KafkaRecordProducer final : public RecordProducer {
 public:
  KafkaRecordProducer(asio::io_context& io, ProducerSettings settings)
      : io_(io),
        settings_(std::move(settings)),
        wakeup_(io, std::chrono::milliseconds(100)),
        retry_timer_(io) {}

  ~KafkaRecordProducer() override {
    // The owner flushed (with handlers) while it was alive; handlers may reference objects
    // that are gone by now, so from here on reports are only counted, never delivered.
    handlers_detached_ = true;
    try {
      // Shutdown order: flush what is queued, then count what was not delivered.
      const auto left = flush(std::chrono::milliseconds(5000));
      if (left > 0) {
        observability::log(LogLevel::kError, "producer closed with undelivered records",
                           {{"undelivered", left}});
      }
      retry_timer_.cancel();
      wakeup_.stop();
    } catch (const std::exception& e) {
      // A destructor must not throw (that is std::terminate); the handles are still released
      // below, in order. stderr, because the logger is what may have failed.
      std::fprintf(stderr, "mgitd: producer shutdown: %s\n", e.what());
    }
    topics_.clear();  // topic handles go before the handle they belong to
    queue_.reset();
    rk_.reset();  // handlers of records purged here are never called; their opaques leak
                  // only if flush timed out, which was logged above.
  }

  tl::expected<void, TransportError> init() {
    KafkaProperties defaults = {
        {"linger.ms", "5"},
        {"compression.type", "lz4"},
        // Above the broker's default record limit (1 MiB) plus room for mgit-* headers, so
        // the DLQ copy of a record the broker accepted on intake is not refused locally.
        {"message.max.bytes", "1114112"},
    };
    KafkaProperties forced = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"message.timeout.ms", std::to_string(settings_.delivery_timeout.count())},
    };
    auto conf = make_conf(settings_.kafka, defaults, forced);
    if (!conf) return tl::make_unexpected(conf.error());
    rd_kafka_conf_set_dr_msg_cb(conf->get(), &KafkaRecordProducer::delivery_trampoline);
    rd_kafka_conf_set_opaque(conf->get(), this);
    rd_kafka_conf_set_error_cb(conf->get(), &KafkaRecordProducer::error_trampoline);
    std::array<char, 512> errstr{};
    rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr.data(), errstr.size()));
    if (!rk_) {
      return tl::make_unexpected(
          TransportError{TransportErrorKind::kFatal, 0, std::string("producer: ") + errstr.data()});
    }
    (void)conf->release();
    queue_.reset(rd_kafka_queue_get_main(rk_.get()));
    // Delivery reports are served here, on the io_context thread.
    return wakeup_.start(queue_.get(), [this] { rd_kafka_poll(rk_.get(), 0); });
  }

  void produce(OutgoingRecord record, DeliveryHandler on_delivery) override {
    waiting_.push_back(Waiting{std::move(record), std::move(on_delivery)});
    ++outstanding_;
    send_waiting();
  }

  [[nodiscard]] std::size_t outstanding() const override { return outstanding_; }

  void prepare_topics(const std::vector<std::string>& topics) override {
    // librdkafka queries a topic's leader when its handle is first created; holding the
    // handle keeps the answer for the first produce to that topic.
    for (const auto& topic : topics) {
      if (topic.empty()) continue;
      KafkaTopicPtr handle(rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr));
      if (handle) topics_.push_back(std::move(handle));
    }
  }

  std::size_t flush(std::chrono::milliseconds timeout) override {
    if (!rk_) return outstanding_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (outstanding_ > 0 && std::chrono::steady_clock::now() < deadline) {
      send_waiting();
      rd_kafka_poll(rk_.get(), 50);
    }
    return outstanding_;
  }

 private:
  struct Waiting {
    OutgoingRecord record;
    DeliveryHandler handler;
  };

  // Sends queued records in order until librdkafka's local queue is full.
  void send_waiting() {
    while (!waiting_.empty()) {
      auto& next = waiting_.front();
      // Owned by librdkafka once producev succeeds; its delivery report frees it.
      auto pending = std::make_unique<PendingDelivery>(PendingDelivery{std::move(next.handler)});
      KafkaHeadersPtr headers(rd_kafka_headers_new(next.record.headers.size()));
      for (const auto& [name, value] : next.record.headers) {
        rd_kafka_header_add(headers.get(), name.data(), static_cast<ssize_t>(name.size()),
                            value.data(), static_cast<ssize_t>(value.size()));
      }
      auto& r = next.record;
      // A view, not two optional::operator-> calls: clang-analyzer 14 models the second one
      // as reallocating the string the first returned a pointer into.
      const std::string_view key = r.key ? std::string_view(*r.key) : std::string_view();
      const void* key_data = key.data();
      const std::size_t key_size = key.size();
      const auto err = rd_kafka_producev(
          rk_.get(), RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_KEY(key_data, key_size),
          RD_KAFKA_V_VALUE(r.payload.data(), r.payload.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers.get()),
          RD_KAFKA_V_OPAQUE(pending.get()), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        next.handler = std::move(pending->handler);
        schedule_retry();
        return;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // Rejected locally (too large, unknown topic, fatal state): report like a
        // failed delivery, asynchronously so callers never re-enter themselves.
        auto handler = std::move(pending->handler);
        auto error = to_transport_error(err, "produce");
        waiting_.pop_front();
        --outstanding_;  // now, so flush() does not wait for a record that never left
        asio::post(io_, [this, handler = std::move(handler), error]() mutable {
          if (!handlers_detached_) handler(tl::make_unexpected(error));
        });
        continue;
      }
      (void)headers.release();  // producev took ownership on success
      // The delivery report frees `pending` (delivery_trampoline); the analyzer cannot see
      // librdkafka take it through producev's varargs.
      // NOLINTBEGIN(clang-analyzer-cplusplus.NewDeleteLeaks)
      (void)pending.release();
      waiting_.pop_front();
      // NOLINTEND(clang-analyzer-cplusplus.NewDeleteLeaks)
    }
  }

  void schedule_retry() {
    if (retry_armed_) return;
    retry_armed_ = true;
    retry_timer_.expires_after(std::chrono::milliseconds(20));
    retry_timer_.async_wait([this](const boost::system::error_code& ec) {
      retry_armed_ = false;
      if (ec) return;
      send_waiting();
    });
  }

  static void delivery_trampoline(rd_kafka_t* /*rk*/, const rd_kafka_message_t* message,
                                  void* opaque) {
    // Runs inside rd_kafka_poll, i.e. on the io_context thread.
    auto* self = static_cast<KafkaRecordProducer*>(opaque);
    std::unique_ptr<PendingDelivery> pending(static_cast<PendingDelivery*>(message->_private));
    --self->outstanding_;
    if (self->handlers_detached_) return;
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      pending->handler(tl::make_unexpected(to_transport_error(message->err, "delivery")));
      return;
    }
    pending->handler(DeliveredRecord{
        TopicPartition{rd_kafka_topic_name(message->rkt), message->partition}, message->offset});
  }

  static void error_trampoline(rd_kafka_t* rk, int err, const char* reason, void* /*opaque*/) {
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      std::array<char, 512> detail{};
      const auto fatal = rd_kafka_fatal_error(rk, detail.data(), detail.size());
      observability::log(LogLevel::kError, "producer fatal error",
                         {{"error", rd_kafka_err2str(fatal)}, {"detail", detail.data()}});
      return;
    }
    observability::log(
        LogLevel::kWarn, "producer error",
        {{"error", rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err))}, {"reason", reason}});
  }

  asio::io_context& io_;
  ProducerSettings settings_;
  KafkaPtr rk_;
  KafkaQueuePtr queue_;
  QueueWakeup wakeup_;
  asio::steady_timer retry_timer_;
  bool retry_armed_ = false;
  std::deque<Waiting> waiting_;
  std::vector<KafkaTopicPtr> topics_;
  std::size_t outstanding_ = 0;
  bool handlers_detached_ = false;
};

}  // namespace

tl::expected<std::unique_ptr<RecordProducer>, TransportError> RecordProducer::create(
    boost::asio::io_context& io, ProducerSettings settings) {
  auto producer = std::make_unique<KafkaRecordProducer>(io, std::move(settings));
  if (auto ok = producer->init(); !ok) return tl::make_unexpected(ok.error());
  return producer;
}

}  // namespace mgit::transport
