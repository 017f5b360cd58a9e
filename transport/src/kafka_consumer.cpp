#include "mgit/transport/kafka_consumer.hpp"

#include <array>
#include <atomic>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <cstring>
#include <exception>

#include "kafka_common.hpp"
#include "mgit/observability/log.hpp"
#include "queue_wakeup.hpp"

namespace mgit::transport {
namespace {

namespace asio = boost::asio;
using observability::LogLevel;

// A batch bound keeps one busy partition from monopolising the loop.
constexpr int kMaxRecordsPerPoll = 256;

std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  out.reserve(static_cast<std::size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back(TopicPartition{list->elems[i].topic, list->elems[i].partition});
  }
  return out;
}

PartitionListPtr to_list(const std::vector<TopicPartition>& partitions) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const auto& tp : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
  }
  return list;
}

ConsumedRecord copy_record(const rd_kafka_message_t& message) {
  ConsumedRecord record;
  record.source = TopicPartition{rd_kafka_topic_name(message.rkt), message.partition};
  record.offset = message.offset;
  if (message.key != nullptr) {
    record.key.emplace(static_cast<const char*>(message.key), message.key_len);
  }
  if (message.payload != nullptr) {
    record.payload.assign(static_cast<const char*>(message.payload), message.len);
  }
  rd_kafka_timestamp_type_t type{};
  record.timestamp_ms = rd_kafka_message_timestamp(&message, &type);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      record.headers.emplace_back(name, value == nullptr
                                            ? std::string()
                                            : std::string(static_cast<const char*>(value), size));
    }
  }
  return record;
}

class KafkaIntakeConsumer final : public IntakeConsumer {
 public:
  KafkaIntakeConsumer(asio::io_context& io, ConsumerSettings settings, ConsumerEvents& events)
      : io_(io),
        settings_(std::move(settings)),
        events_(events),
        wakeup_(io, settings_.idle_poll_interval) {}

  ~KafkaIntakeConsumer() override {
    try {
      close();
    } catch (const std::exception& e) {
      // A destructor must not throw (that is std::terminate). stderr, because the logger may
      // be what failed.
      std::fprintf(stderr, "mgitd: consumer shutdown: %s\n", e.what());
    }
    queue_.reset();  // no-ops after a complete close(); else the queue before its handle
    rk_.reset();
  }

  tl::expected<void, TransportError> init() {
    KafkaProperties defaults = {
        {"auto.offset.reset", "earliest"},
        {"auto.commit.interval.ms", "1000"},
        // Bounds what librdkafka prefetches per partition, so memory stays bounded
        // whatever the backlog.
        {"queued.max.messages.kbytes", "8192"},
        {"fetch.max.bytes", "8388608"},
        {"statistics.interval.ms", std::to_string(settings_.statistics_interval.count())},
        // librdkafka 2.0's fetcher notices a resumed partition only at its broker thread's
        // next wakeup, bounded by this (500 ms by default): every backpressure pause would
        // stall intake that long. 100 ms bounds the stall at the cost of at most ten empty
        // fetch requests a second per broker connection while idle.
        {"fetch.wait.max.ms", "100"},
    };
    KafkaProperties forced = {
        {"group.id", settings_.group_id},
        {"partition.assignment.strategy", "cooperative-sticky"},
        // Offsets are stored by us only after a result is acknowledged; librdkafka's
        // auto-commit then commits what we stored, outside of any rebalance race.
        {"enable.auto.commit", "true"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
    };
    if (!settings_.group_instance_id.empty()) {
      forced.emplace_back("group.instance.id", settings_.group_instance_id);
    }
    auto conf = make_conf(settings_.kafka, defaults, forced);
    if (!conf) return tl::make_unexpected(conf.error());
    rd_kafka_conf_set_opaque(conf->get(), this);
    rd_kafka_conf_set_rebalance_cb(conf->get(), &KafkaIntakeConsumer::rebalance_trampoline);
    rd_kafka_conf_set_error_cb(conf->get(), &KafkaIntakeConsumer::error_trampoline);
    rd_kafka_conf_set_stats_cb(conf->get(), &KafkaIntakeConsumer::stats_trampoline);
    rd_kafka_conf_set_log_cb(conf->get(), &KafkaIntakeConsumer::log_trampoline);

    std::array<char, 512> errstr{};
    rk_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), errstr.data(), errstr.size()));
    if (!rk_) {
      return tl::make_unexpected(
          TransportError{TransportErrorKind::kFatal, 0, std::string("consumer: ") + errstr.data()});
    }
    (void)conf->release();  // rd_kafka_new took ownership
    rd_kafka_poll_set_consumer(rk_.get());
    queue_.reset(rd_kafka_queue_get_consumer(rk_.get()));
    return {};
  }

  tl::expected<void, TransportError> start() override {
    PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), settings_.topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (const auto err = rd_kafka_subscribe(rk_.get(), topics.get())) {
      return tl::make_unexpected(to_transport_error(err, "subscribe"));
    }
    return wakeup_.start(queue_.get(), [this] { poll_batch(); });
  }

  void pause(const std::vector<TopicPartition>& partitions) override {
    if (partitions.empty() || closed_) return;
    auto list = to_list(partitions);
    rd_kafka_pause_partitions(rk_.get(), list.get());
  }

  void resume(const std::vector<TopicPartition>& partitions) override {
    if (partitions.empty() || closed_) return;
    auto list = to_list(partitions);
    rd_kafka_resume_partitions(rk_.get(), list.get());
  }

  void hold_records(bool hold) override {
    if (hold == holding_) return;
    holding_ = hold;
    // The queue's wakeup may have fired while we held: look again now.
    if (!hold && !closing_)
      asio::post(io_, [this] {
        if (!closing_ && !holding_) poll_batch();
      });
  }

  tl::expected<void, TransportError> store_offset(const TopicPartition& partition,
                                                  std::int64_t next_offset) override {
    if (closed_) {
      return tl::make_unexpected(TransportError{TransportErrorKind::kPermanent,
                                                RD_KAFKA_RESP_ERR__STATE, "consumer closed"});
    }
    PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), partition.topic.c_str(), partition.partition)
        ->offset = next_offset;
    auto err = rd_kafka_offsets_store(rk_.get(), list.get());
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return tl::make_unexpected(to_transport_error(err, "offsets_store"));
    }
    return {};
  }

  tl::expected<void, TransportError> commit_stored() override {
    if (closed_) return {};
    const auto err = rd_kafka_commit(rk_.get(), nullptr, 0);
    // NO_OFFSET: nothing new was stored since the last commit; that is success.
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      return tl::make_unexpected(to_transport_error(err, "commit"));
    }
    return {};
  }

  void close() override {
    if (closed_ || !rk_) return;
    if (polling_) {
      // Called from inside rd_kafka_consumer_poll (a rebalance callback): closing and
      // destroying the handle there would return into freed memory.
      asio::post(io_, [this] { close(); });
      return;
    }
    closing_ = true;
    wakeup_.stop();
    // close() serves the final revoke through our rebalance callback, which unassigns
    // at once while closing_ is set; auto-commit commits the stored offsets.
    if (const auto err = rd_kafka_consumer_close(rk_.get())) {
      observability::log(LogLevel::kWarn, "consumer close failed",
                         {{"error", rd_kafka_err2str(err)}});
    }
    closed_ = true;
    queue_.reset();
    rk_.reset();
  }

  [[nodiscard]] std::vector<TopicPartition> assignment() const override {
    if (closed_ || !rk_) return {};
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(rk_.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    PartitionListPtr list(raw);
    return to_vector(list.get());
  }

 private:
  void poll_batch() {
    if (const auto resets = offset_resets_.exchange(0); resets > 0) {
      events_.on_offset_resets(resets);
    }
    for (int i = 0; i < kMaxRecordsPerPoll && !closing_; ++i) {
      // Checked per record: the owner holds from inside on_record, at its limit.
      if (holding_) return;
      polling_ = true;
      rd_kafka_message_t* raw = rd_kafka_consumer_poll(rk_.get(), 0);
      polling_ = false;
      if (raw == nullptr) return;
      MessagePtr message(raw);
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        events_.on_error(to_transport_error(message->err, "consume"));
        continue;
      }
      events_.on_record(copy_record(*message));
    }
    // More may be waiting; continue after other handlers had their turn.
    if (!closing_)
      asio::post(io_, [this] {
        if (!closing_) poll_batch();
      });
  }

  static void rebalance_trampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    static_cast<KafkaIntakeConsumer*>(opaque)->on_rebalance(rk, err, partitions);
  }

  static void error_trampoline(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaIntakeConsumer*>(opaque);
    // Served by rd_kafka_consumer_poll (the main queue is forwarded to the consumer queue),
    // so this already runs on the io_context thread.
    TransportError error{classify(static_cast<rd_kafka_resp_err_t>(err)), err, reason};
    if (err == RD_KAFKA_RESP_ERR__FATAL) error.kind = TransportErrorKind::kFatal;
    self->events_.on_error(error);
  }

  // Served by rd_kafka_consumer_poll like the error callback: on the io_context thread.
  static int stats_trampoline(rd_kafka_t* /*rk*/, char* json, std::size_t json_len, void* opaque) {
    auto* self = static_cast<KafkaIntakeConsumer*>(opaque);
    if (auto stats =
            parse_consumer_statistics(std::string_view(json, json_len), self->settings_.topic)) {
      self->events_.on_statistics(*stats);
    }
    return 0;  // librdkafka frees the JSON
  }

  // Called on librdkafka's threads, also while the handle is created and destroyed: it
  // only counts (atomically); poll_batch hands the count over on the io_context thread.
  static void log_trampoline(const rd_kafka_t* rk, int level, const char* facility,
                             const char* text) {
    log_to_json(rk, level, facility, text);
    // librdkafka logs an error-driven reset at warning level ("offset reset (at offset
    // ..."); a group's first start without a committed offset is only debug-logged.
    if (level == 4 && std::strcmp(facility, "OFFSET") == 0 &&
        std::strstr(text, "offset reset") != nullptr) {
      if (auto* self = static_cast<KafkaIntakeConsumer*>(rd_kafka_opaque(rk))) {
        self->offset_resets_.fetch_add(1);
      }
    }
  }

  // Runs inside rd_kafka_consumer_poll/close, i.e. on the io_context thread.
  void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                    rd_kafka_topic_partition_list_t* partitions) {
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    const auto changed = to_vector(partitions);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      if (cooperative) {
        KafkaErrorPtr error(rd_kafka_incremental_assign(rk, partitions));
        if (error) log_rebalance_error("incremental_assign", error.get());
      } else {
        rd_kafka_assign(rk, partitions);
      }
      observability::log(
          LogLevel::kInfo, "partitions assigned",
          {{"count", changed.size()}, {"protocol", cooperative ? "cooperative" : "eager"}});
      events_.on_assigned(changed);
      return;
    }

    const bool lost = rd_kafka_assignment_lost(rk) != 0;
    auto unassign = [rk, cooperative](rd_kafka_topic_partition_list_t* list) {
      if (cooperative) {
        KafkaErrorPtr error(rd_kafka_incremental_unassign(rk, list));
        if (error) {
          observability::log(LogLevel::kWarn, "incremental_unassign failed",
                             {{"error", rd_kafka_error_string(error.get())}});
        }
      } else {
        rd_kafka_assign(rk, nullptr);
      }
    };
    observability::log(LogLevel::kInfo, "partitions revoked",
                       {{"count", changed.size()}, {"lost", lost}, {"closing", closing_}});
    if (lost || closing_) {
      // Nothing can be committed for lost partitions; on close the owner has already
      // drained, so release at once.
      unassign(partitions);
      events_.on_revoked(changed, lost, [] {});
      return;
    }
    // Keep the partitions until their in-flight jobs are answered; librdkafka waits for
    // the unassign call (it need not happen inside this callback).
    pause(changed);
    auto copy = std::shared_ptr<rd_kafka_topic_partition_list_t>(
        rd_kafka_topic_partition_list_copy(partitions), &rd_kafka_topic_partition_list_destroy);
    auto released = std::make_shared<bool>(false);
    events_.on_revoked(changed, false, [this, copy, released, unassign] {
      if (*released || closed_) return;
      *released = true;
      unassign(copy.get());
    });
  }

  void log_rebalance_error(const char* what, const rd_kafka_error_t* error) {
    observability::log(LogLevel::kError, "rebalance call failed",
                       {{"call", what}, {"error", rd_kafka_error_string(error)}});
  }

  using MessagePtr = Handle<rd_kafka_message_t, &rd_kafka_message_destroy>;

  asio::io_context& io_;
  ConsumerSettings settings_;
  ConsumerEvents& events_;
  KafkaPtr rk_;
  KafkaQueuePtr queue_;
  QueueWakeup wakeup_;
  bool closing_ = false;
  bool closed_ = false;
  bool polling_ = false;  ///< inside rd_kafka_consumer_poll, where callbacks run
  bool holding_ = false;  ///< hold_records: the queue is left alone
  std::atomic<std::uint64_t> offset_resets_{0};
};

}  // namespace

tl::expected<std::unique_ptr<IntakeConsumer>, TransportError> IntakeConsumer::create(
    boost::asio::io_context& io, ConsumerSettings settings, ConsumerEvents& events) {
  auto consumer = std::make_unique<KafkaIntakeConsumer>(io, std::move(settings), events);
  if (auto ok = consumer->init(); !ok) return tl::make_unexpected(ok.error());
  return consumer;
}

}  // namespace mgit::transport
