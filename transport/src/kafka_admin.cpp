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

}  // namespace mgit::transport
