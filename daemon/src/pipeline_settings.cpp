#include "mgit/daemon/pipeline_settings.hpp"

#include <filesystem>
#include <string>

#include "config_rate_limits.hpp"
#include "host_name.hpp"
#include "mgit/basics/ascii.hpp"
#include "mgit/daemon/config.hpp"

namespace mgit::daemon {

namespace {

// A result must fit what the broker accepts: 1,000,000 bytes (about the brokers' default record
// limit) unless the operator set `message.max.bytes`, with room left for headers and record
// overhead. The producer's own limit is set higher, for DLQ copies of 1 MiB intake records.
std::size_t max_result_bytes(const Config& config) {
  constexpr std::size_t kHeadroom = std::size_t{16} * 1024;
  std::size_t limit = 1000000;
  for (const auto& [key, value] : config.kafka_properties) {
    if (key == "message.max.bytes") limit = static_cast<std::size_t>(std::stoull(value));
  }
  return limit > 2 * kHeadroom ? limit - kHeadroom : limit / 2;
}

// One file per replica: replicas may share the workspace volume. Names are made safe for a
// file name; Kafka allows almost anything in a group id.
std::string in_flight_file(const Config& config) {
  std::string name = config.group_id + "-" +
                     (config.group_instance_id.empty() ? host_name() : config.group_instance_id);
  for (auto& c : name) {
    if (!basics::is_ascii_alnum(c) && c != '.' && c != '_' && c != '-') c = '_';
  }
  return (std::filesystem::path(config.workspace) / ".mgitd" / "in-flight" / (name + ".json"))
      .string();
}

}  // namespace

PipelineSettings pipeline_settings(const Config& config) {
  PipelineSettings settings;
  settings.scheduler.workers = config.workers;
  settings.scheduler.max_attempts = config.max_attempts;
  settings.scheduler.coalesce = config.coalesce;
  settings.scheduler.default_timeout = std::chrono::seconds(config.job_timeout_seconds);
  settings.scheduler.max_timeout = std::chrono::seconds(config.max_job_timeout_seconds);
  settings.scheduler.hosts = detail::host_limit_settings(config);
  settings.max_message_bytes = static_cast<std::size_t>(config.max_message_bytes);
  settings.results_topic = config.results_topic;
  settings.dlq_topic = config.dlq_topic;
  settings.group_id = config.group_id;
  settings.max_buffered_per_partition = static_cast<std::size_t>(config.max_buffered_per_partition);
  settings.max_in_flight = static_cast<std::size_t>(config.max_in_flight);
  settings.revoke_grace = std::chrono::seconds(config.revoke_grace_seconds);
  settings.shutdown_grace = std::chrono::seconds(config.shutdown_grace_seconds);
  settings.max_result_bytes = max_result_bytes(config);
  settings.worker = host_name();
  settings.in_flight_file = in_flight_file(config);
  return settings;
}

}  // namespace mgit::daemon
