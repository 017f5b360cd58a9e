#include "kafka_common.hpp"

#include <fmt/format.h>

#include <array>

#include "mgit/observability/log.hpp"

namespace mgit::transport {

// librdkafka's own log lines become JSON lines like ours. Called on librdkafka's threads;
// the logger is thread-safe.
void log_to_json(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  using observability::LogLevel;
  const LogLevel mapped = level <= 3   ? LogLevel::kError
                          : level == 4 ? LogLevel::kWarn
                          : level <= 6 ? LogLevel::kInfo
                                       : LogLevel::kDebug;
  observability::log(
      mapped, text,
      {{"component", "librdkafka"}, {"facility", facility}, {"client", rd_kafka_name(rk)}});
}

std::optional<std::string> find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

tl::expected<KafkaConfPtr, TransportError> make_conf(const KafkaSettings& settings,
                                                     const KafkaProperties& defaults,
                                                     const KafkaProperties& forced) {
  KafkaConfPtr conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), &log_to_json);
  std::array<char, 512> errstr{};
  auto set = [&](const std::string& key,
                 const std::string& value) -> tl::expected<void, TransportError> {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), errstr.data(), errstr.size()) !=
        RD_KAFKA_CONF_OK) {
      // The value is not echoed: it may be a secret from kafka_secrets_file.
      return tl::make_unexpected(TransportError{
          TransportErrorKind::kFatal, 0, fmt::format("kafka setting {}: {}", key, errstr.data())});
    }
    return {};
  };
  if (auto ok = set("bootstrap.servers", settings.brokers); !ok)
    return tl::make_unexpected(ok.error());
  for (const auto* layer : {&defaults, &settings.properties, &forced}) {
    for (const auto& [key, value] : *layer) {
      if (auto ok = set(key, value); !ok) return tl::make_unexpected(ok.error());
    }
  }
  return conf;
}

TransportErrorKind classify(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return TransportErrorKind::kPermanent;
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__FENCED:
      return TransportErrorKind::kFatal;
    default:
      return TransportErrorKind::kTransient;
  }
}

bool is_record_too_large(rd_kafka_resp_err_t err) {
  switch (err) {
    // MSG_SIZE_TOO_LARGE comes from librdkafka's own check (message.max.bytes) and from the
    // broker (the topic's max.message.bytes); RECORD_LIST_TOO_LARGE and INVALID_RECORD are
    // how brokers refuse a batch that a single oversized record or header made invalid.
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
      return true;
    default:
      return false;
  }
}

TransportError to_transport_error(rd_kafka_resp_err_t err, std::string context) {
  return TransportError{classify(err), static_cast<int>(err),
                        fmt::format("{}: {}", context, rd_kafka_err2str(err)),
                        is_record_too_large(err)};
}

}  // namespace mgit::transport
