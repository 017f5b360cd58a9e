#include "consume.hpp"

#include <fmt/format.h>

#include <iostream>
#include <set>
#include <string_view>

#include "commands.hpp"
#include "mgit/basics/json_escape.hpp"
#include "mgit/observability/log.hpp"

namespace mgit::mgitctl {
namespace {

/// Closes the consumer before rd_kafka_destroy runs.
struct ConsumerCloser {
  rd_kafka_t* consumer;
  ~ConsumerCloser() { rd_kafka_consumer_close(consumer); }
};

constexpr int kPollMs = 200;

}  // namespace

ReadEnd read_topic(const KafkaOptions& kafka, const ReadPlan& plan,
                   const std::function<bool(const rd_kafka_message_t&)>& on_record) {
  // A throwaway group id: librdkafka wants one, but nothing is ever committed under it.
  const KafkaPtr consumer =
      make_client(RD_KAFKA_CONSUMER, make_conf(kafka, {{"group.id", "mgitctl-" + random_hex(8)},
                                                       {"enable.auto.commit", "false"},
                                                       {"enable.auto.offset.store", "false"},
                                                       {"enable.partition.eof", "true"},
                                                       {"auto.offset.reset", "earliest"}}));
  const ConsumerCloser closer{consumer.get()};

  std::vector<std::pair<std::int32_t, std::int64_t>> starts;
  std::set<std::int32_t> behind;  // partitions not yet read up to their high watermark
  for (const auto& range : plan.ranges) {
    const std::int64_t start = plan.from_low ? range.low : range.high;
    starts.emplace_back(range.partition, start);
    if (start < range.high) behind.insert(range.partition);
  }
  assign(consumer.get(), plan.topic, starts);

  const auto high_of = [&plan](std::int32_t partition) {
    for (const auto& range : plan.ranges) {
      if (range.partition == partition) return range.high;
    }
    return std::int64_t{0};
  };

  while (true) {
    if (plan.until_high && behind.empty()) return ReadEnd::kCaughtUp;
    if (plan.deadline && std::chrono::steady_clock::now() >= *plan.deadline) {
      return ReadEnd::kTimedOut;
    }
    const MessagePtr message(rd_kafka_consumer_poll(consumer.get(), kPollMs));
    if (plan.on_tick) plan.on_tick();
    if (!message) continue;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (message->offset >= high_of(message->partition)) behind.erase(message->partition);
      continue;
    }
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const std::string error = rd_kafka_message_errstr(message.get());
      if (message->err == RD_KAFKA_RESP_ERR__FATAL ||
          message->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
          message->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        throw CtlError(
            fmt::format("reading {}: {} (check the topic name and this client's ACLs; "
                        "mgitctl topics check lists the topics)",
                        plan.topic, error));
      }
      fmt::print(stderr, "mgitctl: reading {}: {} (retrying)\n", plan.topic, error);
      continue;
    }
    if (message->offset + 1 >= high_of(message->partition)) behind.erase(message->partition);
    if (!on_record(*message)) return ReadEnd::kStopped;
  }
}

namespace {

std::vector<PartitionRange> capture(const KafkaOptions& kafka, const std::string& topic) {
  const KafkaPtr client = make_client(RD_KAFKA_PRODUCER, make_conf(kafka));
  return watermarks(client.get(), topic, kafka.timeout_ms);
}

ReadPlan plan_for(const KafkaOptions& kafka, const std::string& topic,
                  const ConsumeOptions& options) {
  ReadPlan plan;
  plan.topic = topic;
  plan.ranges = capture(kafka, topic);
  // Without --follow the useful default is "what is there now"; with it, "what comes next".
  plan.from_low = options.from_beginning || !options.follow;
  plan.until_high = !options.follow;
  if (options.timeout_seconds > 0) {
    plan.deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(options.timeout_seconds);
  }
  return plan;
}

std::string_view payload_of(const rd_kafka_message_t& message) {
  return {static_cast<const char*>(message.payload), message.len};
}

}  // namespace

int run_results(const KafkaOptions& kafka, const ConsumeOptions& options) {
  read_topic(kafka, plan_for(kafka, kafka.results_topic, options),
             [](const rd_kafka_message_t& message) {
               fmt::print("{}\n", payload_of(message));
               std::fflush(stdout);
               return true;
             });
  return kExitOk;
}

int run_dlq(const KafkaOptions& kafka, const ConsumeOptions& options) {
  read_topic(kafka, plan_for(kafka, kafka.dlq_topic, options),
             [](const rd_kafka_message_t& message) {
               std::string line = fmt::format(R"({{"partition":{},"offset":{},"key":)",
                                              message.partition, message.offset);
               if (message.key != nullptr) {
                 line += '"';
                 basics::append_json_escaped(
                     line, {static_cast<const char*>(message.key), message.key_len});
                 line += '"';
               } else {
                 line += "null";
               }
               line += R"(,"headers":{)";
               rd_kafka_headers_t* headers = nullptr;
               if (rd_kafka_message_headers(&message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                 const char* name = nullptr;
                 const void* value = nullptr;
                 size_t size = 0;
                 for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                                    RD_KAFKA_RESP_ERR_NO_ERROR;
                      ++i) {
                   if (i > 0) line += ',';
                   line += '"';
                   basics::append_json_escaped(line, name);
                   line += "\":\"";
                   if (value != nullptr) {
                     basics::append_json_escaped(line, {static_cast<const char*>(value), size});
                   }
                   line += '"';
                 }
               }
               line += R"(},"value":")";
               basics::append_json_escaped(line, payload_of(message));
               line += "\"}";
               fmt::print("{}\n", line);
               std::fflush(stdout);
               return true;
             });
  return kExitOk;
}

}  // namespace mgit::mgitctl
