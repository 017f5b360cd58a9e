#include "support/kafka_test_client.hpp"

#include <librdkafka/rdkafka.h>

#include <array>
#include <stdexcept>
#include <thread>

namespace mgit::test_support {
namespace {

rd_kafka_t* as_rk(void* p) { return static_cast<rd_kafka_t*>(p); }

rd_kafka_conf_t* base_conf(const std::string& brokers) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::array<char, 512> err{};
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err.data(), err.size());
  rd_kafka_conf_set(conf, "log_level", "3", err.data(), err.size());
  return conf;
}

struct DeliveryState {
  std::vector<std::pair<std::int32_t, std::int64_t>>* positions;
  int failures = 0;
  std::string last_error;
};

// Delivery reports are served by rd_kafka_poll on the producing thread, inside produce().
thread_local DeliveryState* g_delivery_state = nullptr;

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
  auto* state = g_delivery_state;
  if (state == nullptr) return;
  const auto index = reinterpret_cast<std::uintptr_t>(message->_private);
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++state->failures;
    state->last_error = rd_kafka_err2str(message->err);
    return;
  }
  (*state->positions)[index] = {message->partition, message->offset};
}

}  // namespace

std::optional<std::string> TestRecord::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

KafkaTestClient::KafkaTestClient(std::string brokers) : brokers_(std::move(brokers)) {
  rd_kafka_conf_t* conf = base_conf(brokers_);
  std::array<char, 512> err{};
  rd_kafka_conf_set(conf, "enable.idempotence", "true", err.data(), err.size());
  rd_kafka_conf_set(conf, "linger.ms", "5", err.data(), err.size());
  // The broker, not this client, decides what is too large: tests send records up to its limit.
  rd_kafka_conf_set(conf, "message.max.bytes", "8388608", err.data(), err.size());
  rd_kafka_conf_set_dr_msg_cb(conf, &on_delivery);
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err.data(), err.size());
  if (producer_ == nullptr) throw std::runtime_error(std::string("test producer: ") + err.data());
}

KafkaTestClient::~KafkaTestClient() {
  if (producer_ != nullptr) {
    rd_kafka_flush(as_rk(producer_), 5000);
    rd_kafka_destroy(as_rk(producer_));
  }
}

void KafkaTestClient::create_topic(const std::string& topic, int partitions,
                                   const std::map<std::string, std::string>& configs) {
  std::array<char, 512> err{};
  rd_kafka_NewTopic_t* new_topic =
      rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err.data(), err.size());
  for (const auto& [name, value] : configs) {
    rd_kafka_NewTopic_set_config(new_topic, name.c_str(), value.c_str());
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(as_rk(producer_));
  rd_kafka_CreateTopics(as_rk(producer_), &new_topic, 1, nullptr, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 30000);
  std::string failure;
  if (event == nullptr) {
    failure = "CreateTopics timed out";
  } else {
    const auto* result = rd_kafka_event_CreateTopics_result(event);
    std::size_t count = 0;
    const auto** topics = rd_kafka_CreateTopics_result_topics(result, &count);
    if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure = rd_kafka_event_error_string(event);
    } else if (count == 1 && rd_kafka_topic_result_error(topics[0]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
               rd_kafka_topic_result_error(topics[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      failure = rd_kafka_topic_result_error_string(topics[0]);
    }
    rd_kafka_event_destroy(event);
  }
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy(new_topic);
  if (!failure.empty()) throw std::runtime_error("create topic " + topic + ": " + failure);
  // Wait until metadata shows every partition with a leader.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (partition_count(topic) != partitions) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("topic " + topic + " did not appear");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void KafkaTestClient::set_topic_configs(const std::string& topic,
                                        const std::map<std::string, std::string>& configs) {
  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  for (const auto& [name, value] : configs) {
    rd_kafka_ConfigResource_set_config(resource, name.c_str(), value.c_str());
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(as_rk(producer_));
  rd_kafka_AlterConfigs(as_rk(producer_), &resource, 1, nullptr, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 30000);
  std::string failure;
  if (event == nullptr) {
    failure = "AlterConfigs timed out";
  } else {
    std::size_t count = 0;
    const auto** altered =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(event), &count);
    if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure = rd_kafka_event_error_string(event);
    } else if (count == 1 &&
               rd_kafka_ConfigResource_error(altered[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure = rd_kafka_ConfigResource_error_string(altered[0]);
    }
    rd_kafka_event_destroy(event);
  }
  rd_kafka_queue_destroy(queue);
  rd_kafka_ConfigResource_destroy(resource);
  if (!failure.empty()) throw std::runtime_error("alter configs of " + topic + ": " + failure);
}

std::optional<std::string> KafkaTestClient::topic_config(const std::string& topic,
                                                         const std::string& name) {
  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_queue_t* queue = rd_kafka_queue_new(as_rk(producer_));
  rd_kafka_DescribeConfigs(as_rk(producer_), &resource, 1, nullptr, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 30000);
  std::optional<std::string> out;
  if (event != nullptr && rd_kafka_event_error(event) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::size_t count = 0;
    const auto** described = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(event), &count);
    for (std::size_t i = 0; i < count; ++i) {
      std::size_t entries = 0;
      const auto** configs = rd_kafka_ConfigResource_configs(described[i], &entries);
      for (std::size_t j = 0; j < entries; ++j) {
        const char* value = rd_kafka_ConfigEntry_value(configs[j]);
        if (name == rd_kafka_ConfigEntry_name(configs[j]) && value != nullptr) out = value;
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_ConfigResource_destroy(resource);
  return out;
}

int KafkaTestClient::partition_count(const std::string& topic) {
  const rd_kafka_metadata_t* metadata = nullptr;
  if (rd_kafka_metadata(as_rk(producer_), 1, nullptr, &metadata, 5000) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return -1;
  }
  int count = -1;
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    if (topic == metadata->topics[i].topic &&
        metadata->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      count = metadata->topics[i].partition_cnt;
      for (int p = 0; p < metadata->topics[i].partition_cnt; ++p) {
        if (metadata->topics[i].partitions[p].leader < 0) count = -1;
      }
    }
  }
  rd_kafka_metadata_destroy(metadata);
  return count;
}

std::vector<std::pair<std::int32_t, std::int64_t>> KafkaTestClient::produce(
    const std::string& topic,
    const std::vector<std::tuple<std::optional<std::string>, std::string,
                                 std::vector<std::pair<std::string, std::string>>>>& records) {
  std::vector<std::pair<std::int32_t, std::int64_t>> positions(records.size(), {-1, -1});
  DeliveryState state{&positions, 0, {}};
  g_delivery_state = &state;
  rd_kafka_t* rk = as_rk(producer_);
  rd_kafka_poll(rk, 0);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& key = std::get<0>(records[i]);
    const auto& value = std::get<1>(records[i]);
    const auto& headers = std::get<2>(records[i]);
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& [k, v] : headers) {
      rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                          static_cast<ssize_t>(v.size()));
    }
    const void* key_data = key ? key->data() : nullptr;
    const std::size_t key_size = key ? key->size() : 0;
    rd_kafka_resp_err_t err;
    do {
      err = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key_data, key_size),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
          RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<std::uintptr_t>(i))),
          RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) rd_kafka_poll(rk, 50);
    } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(hdrs);
      throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (rd_kafka_outq_len(rk) > 0 && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_poll(rk, 50);
  }
  g_delivery_state = nullptr;
  if (state.failures > 0) {
    throw std::runtime_error("produce: " + std::to_string(state.failures) +
                             " deliveries failed: " + state.last_error);
  }
  return positions;
}

std::vector<TestRecord> KafkaTestClient::read_until(
    const std::string& topic, const std::function<bool(const std::vector<TestRecord>&)>& done,
    std::chrono::milliseconds timeout) {
  const int partitions = partition_count(topic);
  if (partitions <= 0) throw std::runtime_error("no topic " + topic);
  rd_kafka_conf_t* conf = base_conf(brokers_);
  std::array<char, 512> err{};
  rd_kafka_conf_set(conf, "group.id", "mgitd-test-reader", err.data(), err.size());
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err.data(), err.size());
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err.data(), err.size());
  if (rk == nullptr) throw std::runtime_error(std::string("test consumer: ") + err.data());
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<TestRecord> records;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done(records) && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(rk, 100);
    if (message == nullptr) continue;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      TestRecord record;
      record.partition = message->partition;
      record.offset = message->offset;
      if (message->key != nullptr) {
        record.key.emplace(static_cast<const char*>(message->key), message->key_len);
      }
      record.value.assign(static_cast<const char*>(message->payload), message->len);
      rd_kafka_timestamp_type_t type{};
      record.timestamp_ms = rd_kafka_message_timestamp(message, &type);
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        std::size_t size = 0;
        for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                                RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          record.headers.emplace_back(
              name, value ? std::string(static_cast<const char*>(value), size) : "");
        }
      }
      records.push_back(std::move(record));
    }
    rd_kafka_message_destroy(message);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return records;
}

std::map<std::int32_t, std::int64_t> KafkaTestClient::end_offsets(const std::string& topic) {
  std::map<std::int32_t, std::int64_t> out;
  const int partitions = partition_count(topic);
  for (int p = 0; p < partitions; ++p) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const auto err =
        rd_kafka_query_watermark_offsets(as_rk(producer_), topic.c_str(), p, &low, &high, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error(rd_kafka_err2str(err));
    out[p] = high;
  }
  return out;
}

std::map<std::int32_t, std::int64_t> KafkaTestClient::committed_offsets(const std::string& group,
                                                                        const std::string& topic) {
  const int partitions = partition_count(topic);
  rd_kafka_conf_t* conf = base_conf(brokers_);
  std::array<char, 512> err{};
  rd_kafka_conf_set(conf, "group.id", group.c_str(), err.data(), err.size());
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err.data(), err.size());
  if (rk == nullptr) throw std::runtime_error(err.data());
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  const auto rc = rd_kafka_committed(rk, list, 10000);
  std::map<std::int32_t, std::int64_t> out;
  for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);
  if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error(rd_kafka_err2str(rc));
  return out;
}

void KafkaTestClient::commit_offsets(const std::string& group, const std::string& topic,
                                     const std::map<std::int32_t, std::int64_t>& offsets) {
  rd_kafka_conf_t* conf = base_conf(brokers_);
  std::array<char, 512> err{};
  rd_kafka_conf_set(conf, "group.id", group.c_str(), err.data(), err.size());
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err.data(), err.size());
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err.data(), err.size());
  if (rk == nullptr) throw std::runtime_error(err.data());
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
  for (const auto& [partition, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset = offset;
  }
  // A group with no members accepts commits from a client that never joined it.
  const auto rc = rd_kafka_commit(rk, list, 0);
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error(rd_kafka_err2str(rc));
}

}  // namespace mgit::test_support
