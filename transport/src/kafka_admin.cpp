#include "mgit/transport/kafka_admin.hpp"

#include <algorithm>
#include <array>
#include <thread>

#include "kafka_common.hpp"

namespace mgit::transport {

struct ClusterProbe::State {
  KafkaPtr rk;
  KafkaSettings settings;
};

ClusterProbe::ClusterProbe(std::unique_ptr<State> state) : state_(std::move(state)) {}
ClusterProbe::ClusterProbe(ClusterProbe&&) noexcept = default;
ClusterProbe& ClusterProbe::operator=(ClusterProbe&&) noexcept = default;
ClusterProbe::~ClusterProbe() = default;

tl::expected<ClusterProbe, TransportError> ClusterProbe::create(const KafkaSettings& settings) {
  auto conf = make_conf(settings, {{"log_level", "3"}}, {});
  if (!conf) return tl::make_unexpected(conf.error());
  std::array<char, 512> errstr{};
  KafkaPtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr.data(), errstr.size()));
  if (!rk) {
    return tl::make_unexpected(
        TransportError{TransportErrorKind::kFatal, 0, std::string("probe: ") + errstr.data()});
  }
  (void)conf->release();
  auto state = std::make_unique<State>();
  state->rk = std::move(rk);
  state->settings = settings;
  return ClusterProbe(std::move(state));
}

tl::expected<void, TransportError> ClusterProbe::wait_for_broker(
    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR__TRANSPORT;
  do {
    const rd_kafka_metadata_t* raw = nullptr;
    last = rd_kafka_metadata(state_->rk.get(), 0, nullptr, &raw, 2000);
    if (last == RD_KAFKA_RESP_ERR_NO_ERROR) {
      MetadataPtr metadata(raw, &destroy_metadata);
      if (metadata->broker_cnt > 0) return {};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  } while (std::chrono::steady_clock::now() < deadline);
  return tl::make_unexpected(TransportError{
      TransportErrorKind::kTransient, static_cast<int>(last),
      "no Kafka broker answered at " + state_->settings.brokers + " within " +
          std::to_string(timeout.count() / 1000) + " s (" + rd_kafka_err2str(last) + ")"});
}

tl::expected<std::map<std::string, TopicDescription>, TransportError> ClusterProbe::describe(
    const std::vector<std::string>& topics, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* raw = nullptr;
  // All-topics metadata: asking for a named missing topic could auto-create it on
  // clusters that allow that.
  const auto err =
      rd_kafka_metadata(state_->rk.get(), 1, nullptr, &raw, static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return tl::make_unexpected(to_transport_error(err, "metadata"));
  MetadataPtr metadata(raw, &destroy_metadata);
  std::map<std::string, TopicDescription> out;
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const auto& topic = metadata->topics[i];
    // Only an unknown topic is missing; a leader election in progress is not.
    if (topic.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) continue;
    const std::string name = topic.topic;
    if (std::find(topics.begin(), topics.end(), name) == topics.end()) continue;
    TopicDescription description{name, topic.partition_cnt, 0};
    if (topic.partition_cnt > 0) description.replication_factor = topic.partitions[0].replica_cnt;
    out.emplace(name, description);
  }
  return out;
}

tl::expected<std::map<std::int32_t, std::int64_t>, TransportError> ClusterProbe::end_offsets(
    const std::string& topic, std::chrono::milliseconds timeout) {
  auto described = describe({topic}, timeout);
  if (!described) return tl::make_unexpected(described.error());
  const auto found = described->find(topic);
  if (found == described->end()) {
    return tl::make_unexpected(
        TransportError{TransportErrorKind::kPermanent, 0, "no topic " + topic});
  }
  std::map<std::int32_t, std::int64_t> out;
  for (std::int32_t p = 0; p < found->second.partitions; ++p) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const auto err = rd_kafka_query_watermark_offsets(state_->rk.get(), topic.c_str(), p, &low,
                                                      &high, static_cast<int>(timeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return tl::make_unexpected(to_transport_error(err, "watermarks"));
    }
    out[p] = high;
  }
  return out;
}

tl::expected<std::map<std::int32_t, std::int64_t>, TransportError> ClusterProbe::committed_offsets(
    const std::string& group_id, const std::string& topic, std::chrono::milliseconds timeout) {
  auto described = describe({topic}, timeout);
  if (!described) return tl::make_unexpected(described.error());
  const auto found = described->find(topic);
  if (found == described->end()) {
    return tl::make_unexpected(
        TransportError{TransportErrorKind::kPermanent, 0, "no topic " + topic});
  }
  // A consumer handle of the group that never subscribes: committed() only asks the
  // coordinator, it does not join the group.
  auto conf = make_conf(state_->settings, {{"log_level", "3"}},
                        {{"group.id", group_id}, {"enable.auto.commit", "false"}});
  if (!conf) return tl::make_unexpected(conf.error());
  std::array<char, 512> errstr{};
  KafkaPtr consumer(rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), errstr.data(), errstr.size()));
  if (!consumer) {
    return tl::make_unexpected(TransportError{TransportErrorKind::kFatal, 0, errstr.data()});
  }
  (void)conf->release();
  PartitionListPtr list(rd_kafka_topic_partition_list_new(found->second.partitions));
  for (std::int32_t p = 0; p < found->second.partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  }
  const auto err =
      rd_kafka_committed(consumer.get(), list.get(), static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return tl::make_unexpected(to_transport_error(err, "committed"));
  std::map<std::int32_t, std::int64_t> out;
  for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
  rd_kafka_consumer_close(consumer.get());
  return out;
}

}  // namespace mgit::transport
