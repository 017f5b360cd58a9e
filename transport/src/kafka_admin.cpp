#include "mgit/transport/kafka_admin.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <thread>

#include "kafka_common.hpp"
#include "mgit/basics/ascii.hpp"

namespace mgit::transport {
namespace {

// librdkafka before 2.6.1 repeats the client nonce in its SCRAM client-final-message; Kafka
// 4.0 brokers check it strictly and refuse the proof as "invalid credentials" (librdkafka
// #4895), so right credentials look wrong. Said in the startup message instead of leaving
// the operator to find it.
constexpr int kFirstVersionWithScramForKafka4 = 0x020601ff;

std::string scram_hint(const KafkaSettings& settings) {
  std::string mechanism;
  for (const auto& [key, value] : settings.properties) {
    if (basics::to_lower(basics::trim(key)) == "sasl.mechanism" ||
        basics::to_lower(basics::trim(key)) == "sasl.mechanisms") {
      mechanism = basics::to_lower(basics::trim(value));
    }
  }
  if (!mechanism.starts_with("scram") || rd_kafka_version() >= kFirstVersionWithScramForKafka4)
    return {};
  return fmt::format(
      "; if the credentials are right and the brokers run Kafka 4.0 or later: librdkafka {} "
      "cannot use SCRAM with them (fixed in 2.6.1), use PLAIN over SASL_SSL or client "
      "certificates (docs/security/hardening.md)",
      rd_kafka_version_str());
}

}  // namespace

struct ClusterProbe::State {
  KafkaSettings settings;
  /// librdkafka's reason for the first refused authentication. Written by the error callback,
  /// which runs inside rd_kafka_poll on the thread calling wait_for_broker.
  std::string authentication_failure;
  KafkaPtr rk;  ///< last: destroyed first, while what its callback writes still exists

  static void on_error(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
    auto* self = static_cast<State*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION && self->authentication_failure.empty()) {
      self->authentication_failure = reason;
    }
  }
};

ClusterProbe::ClusterProbe(std::unique_ptr<State> state) : state_(std::move(state)) {}
ClusterProbe::ClusterProbe(ClusterProbe&&) noexcept = default;
ClusterProbe& ClusterProbe::operator=(ClusterProbe&&) noexcept = default;
ClusterProbe::~ClusterProbe() = default;

tl::expected<ClusterProbe, TransportError> ClusterProbe::create(const KafkaSettings& settings) {
  auto conf = make_conf(settings, {{"log_level", "3"}}, {});
  if (!conf) return tl::make_unexpected(conf.error());
  auto state = std::make_unique<State>();
  state->settings = settings;
  // A refused password is final: seen through the error callback, it ends wait_for_broker at
  // once instead of after startup_broker_timeout_seconds of retries.
  rd_kafka_conf_set_error_cb(conf->get(), &State::on_error);
  rd_kafka_conf_set_opaque(conf->get(), state.get());
  std::array<char, 512> errstr{};
  KafkaPtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr.data(), errstr.size()));
  if (!rk) {
    return tl::make_unexpected(
        TransportError{TransportErrorKind::kFatal, 0, std::string("probe: ") + errstr.data()});
  }
  (void)conf->release();
  state->rk = std::move(rk);
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
    rd_kafka_poll(state_->rk.get(), 0);  // serves the error callback
    if (!state_->authentication_failure.empty()) {
      // librdkafka's reason names the mechanism, never the password.
      return tl::make_unexpected(TransportError{
          TransportErrorKind::kFatal, RD_KAFKA_RESP_ERR__AUTHENTICATION,
          fmt::format("Kafka authentication failed at {}: {}{}", state_->settings.brokers,
                      state_->authentication_failure, scram_hint(state_->settings))});
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
