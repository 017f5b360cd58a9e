#include "kafka.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include "mgit/transport/kafka_secrets.hpp"

namespace mgit::mgitctl {
namespace {

void set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value, bool secret) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    throw CtlError(secret ? fmt::format("kafka setting {}: rejected by librdkafka", key)
                          : fmt::format("kafka setting {}={}: {}", key, value, errstr));
  }
}

}  // namespace

ConfPtr make_conf(const KafkaOptions& options,
                  const std::vector<std::pair<std::string, std::string>>& extra) {
  ConfPtr conf(rd_kafka_conf_new());
  set(conf.get(), "bootstrap.servers", options.brokers, false);
  set(conf.get(), "client.id", "mgitctl", false);
  set(conf.get(), "log_level", "3", false);  // errors only: stderr is for the operator
  for (const auto& property : options.properties) {
    const auto eq = property.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw CtlError(fmt::format("--kafka-property '{}' is not key=value", property));
    }
    set(conf.get(), property.substr(0, eq), property.substr(eq + 1), false);
  }
  // Same sources and names for secrets as mgitd, from the same code.
  if (!options.secrets_file.empty()) {
    std::vector<std::pair<std::string, std::string>> secrets;
    try {
      secrets = transport::read_kafka_secrets(options.secrets_file);
    } catch (const std::runtime_error& e) {
      throw CtlError(e.what());
    }
    for (const auto& [key, value] : secrets) set(conf.get(), key, value, true);
  }
  for (const auto& key : transport::env_secret_kafka_keys()) {
    const char* value = std::getenv(transport::kafka_secret_env_name(key).c_str());
    if (value != nullptr && *value != '\0') set(conf.get(), key, value, true);
  }
  for (const auto& [key, value] : extra) set(conf.get(), key, value, false);
  return conf;
}

KafkaPtr make_client(rd_kafka_type_t type, ConfPtr conf) {
  char errstr[512];
  KafkaPtr client(rd_kafka_new(type, conf.get(), errstr, sizeof errstr));
  if (!client) throw CtlError(fmt::format("cannot create Kafka client: {}", errstr));
  (void)conf.release();  // rd_kafka_new owns the conf on success
  return client;
}

MetadataPtr fetch_metadata(rd_kafka_t* client, int timeout_ms) {
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(client, 1, nullptr, &raw, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // The usual cause is a wrong address or missing TLS/SASL settings: name where they come from.
    char brokers[512] = "";
    std::size_t size = sizeof brokers;
    if (rd_kafka_conf_get(rd_kafka_conf(client), "bootstrap.servers", brokers, &size) !=
        RD_KAFKA_CONF_OK) {
      brokers[0] = '\0';
    }
    throw CtlError(fmt::format(
        "cannot reach brokers {} ({}): check --brokers or MGITD_BROKERS, and for TLS/SASL "
        "--kafka-property, --kafka-secrets-file or MGITD_KAFKA_SECRET_* (--request-timeout "
        "waits longer)",
        brokers, rd_kafka_err2str(err)));
  }
  return MetadataPtr(raw);
}

const rd_kafka_metadata_topic_t* find_topic(const rd_kafka_metadata_t& metadata,
                                            const std::string& name) {
  for (int i = 0; i < metadata.topic_cnt; ++i) {
    const auto& topic = metadata.topics[i];
    if (name == topic.topic && topic.err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      return &topic;
    }
  }
  return nullptr;
}

std::vector<PartitionRange> watermarks(rd_kafka_t* client, const std::string& topic,
                                       int timeout_ms) {
  const MetadataPtr metadata = fetch_metadata(client, timeout_ms);
  const auto* info = find_topic(*metadata, topic);
  if (info == nullptr || info->partition_cnt == 0) {
    throw CtlError(fmt::format(
        "topic {} does not exist: create it with `mgitctl topics create`, or name the right one "
        "with the --*-topic options or MGITD_*_TOPIC",
        topic));
  }
  std::vector<PartitionRange> out;
  for (int i = 0; i < info->partition_cnt; ++i) {
    PartitionRange range;
    range.partition = info->partitions[i].id;
    // Right after a topic is created its leaders may still be moving in: retry briefly.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    rd_kafka_resp_err_t err;
    while (true) {
      err = rd_kafka_query_watermark_offsets(client, topic.c_str(), range.partition, &range.low,
                                             &range.high, timeout_ms);
      const bool transient = err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                             err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                             err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
      if (!transient || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw CtlError(fmt::format("cannot read offsets of {} [{}]: {}", topic, range.partition,
                                 rd_kafka_err2str(err)));
    }
    out.push_back(range);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.partition < b.partition; });
  return out;
}

void assign(rd_kafka_t* consumer, const std::string& topic,
            const std::vector<std::pair<std::int32_t, std::int64_t>>& offsets) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [partition, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = offset;
  }
  const rd_kafka_resp_err_t err = rd_kafka_assign(consumer, list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw CtlError(fmt::format("cannot assign {}: {}", topic, rd_kafka_err2str(err)));
  }
}

std::string header_value(const rd_kafka_message_t* message, const char* name) {
  rd_kafka_headers_t* headers = nullptr;  // owned by the message
  if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return {};
  }
  return {static_cast<const char*>(value), size};
}

std::string random_hex(std::size_t bytes) {
  static thread_local std::mt19937_64 engine{std::random_device{}()};
  std::string out;
  std::uniform_int_distribution<int> byte(0, 255);
  for (std::size_t i = 0; i < bytes; ++i) out += fmt::format("{:02x}", byte(engine));
  return out;
}

}  // namespace mgit::mgitctl
