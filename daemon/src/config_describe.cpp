// describe_config: the effective configuration as JSON for the startup log line.
#include <string>
#include <string_view>
#include <vector>

#include "mgit/basics/json_escape.hpp"
#include "mgit/daemon/config.hpp"
#include "mgit/security/redaction.hpp"
#include "mgit/transport/kafka_secrets.hpp"

namespace mgit::daemon {
namespace {

void add_string(std::string& out, std::string_view key, std::string_view value) {
  out += '"';
  basics::append_json_escaped(out, key);
  out += "\":\"";
  basics::append_json_escaped(out, value);
  out += "\",";
}

/// A JSON array of strings.
std::string string_list(const std::vector<std::string>& items) {
  std::string list = "[";
  for (const auto& item : items) {
    list += '"';
    basics::append_json_escaped(list, item);
    list += "\",";
  }
  if (list.size() > 1) list.pop_back();
  return list + ']';
}

void add_raw(std::string& out, std::string_view key, const std::string& value) {
  out += '"';
  basics::append_json_escaped(out, key);
  out += "\":";
  out += value;
  out += ',';
}

}  // namespace

std::string describe_config(const Config& config) {
  std::string out = "{";
  // Bootstrap servers and property values may carry URLs with userinfo (`SASL_SSL://u:p@h`,
  // an OAuth token endpoint): they go out as every other URL does.
  add_string(out, "brokers", security::redact_urls_in_text(config.brokers));
  add_string(out, "group_id", config.group_id);
  add_string(out, "jobs_topic", config.jobs_topic);
  add_string(out, "results_topic", config.results_topic);
  add_string(out, "dlq_topic", config.dlq_topic);
  std::string properties = "{";
  for (const auto& [key, value] : config.kafka_properties) {
    add_string(properties, key,
               transport::is_secret_kafka_key(key) ? "***" : security::redact_urls_in_text(value));
  }
  if (properties.size() > 1) properties.pop_back();
  properties += '}';
  add_raw(out, "kafka_property", properties);
  add_string(out, "kafka_secrets_file", config.kafka_secrets_file);
  // Only which secret keys the environment supplied, never their values.
  std::string env_secrets = "[";
  for (const auto& [key, value] : config.kafka_env_secrets) {
    env_secrets += '"';
    basics::append_json_escaped(env_secrets, key);
    env_secrets += "\",";
  }
  if (env_secrets.size() > 1) env_secrets.pop_back();
  env_secrets += ']';
  add_raw(out, "kafka_env_secrets", env_secrets);
  add_string(out, "workspace", config.workspace);
  add_string(out, "credentials_dir", config.credentials_dir);
  add_raw(out, "workers", std::to_string(config.workers));
  add_string(out, "group_instance_id", config.group_instance_id);
  add_raw(out, "max_in_flight", std::to_string(config.max_in_flight));
  add_raw(out, "max_buffered_per_partition", std::to_string(config.max_buffered_per_partition));
  add_raw(out, "max_attempts", std::to_string(config.max_attempts));
  add_raw(out, "coalesce", config.coalesce ? "true" : "false");
  add_raw(out, "revoke_grace_seconds", std::to_string(config.revoke_grace_seconds));
  add_raw(out, "startup_broker_timeout_seconds",
          std::to_string(config.startup_broker_timeout_seconds));
  add_raw(out, "broker_unready_grace_seconds", std::to_string(config.broker_unready_grace_seconds));
  add_raw(out, "stuck_grace_seconds", std::to_string(config.stuck_grace_seconds));
  add_raw(out, "min_free_disk_percent", std::to_string(config.min_free_disk_percent));
  add_raw(out, "max_message_bytes", std::to_string(config.max_message_bytes));
  add_raw(out, "job_timeout_seconds", std::to_string(config.job_timeout_seconds));
  add_raw(out, "shutdown_grace_seconds", std::to_string(config.shutdown_grace_seconds));
  add_raw(out, "stall_timeout_seconds", std::to_string(config.stall_timeout_seconds));
  add_raw(out, "max_job_timeout_seconds", std::to_string(config.max_job_timeout_seconds));
  add_raw(out, "worker_max_jobs", std::to_string(config.worker_max_jobs));
  add_raw(out, "worker_memory_limit_mb", std::to_string(config.worker_memory_limit_mb));
  add_raw(out, "max_file_size_mb", std::to_string(config.max_file_size_mb));
  add_raw(out, "max_fetch_size_mb", std::to_string(config.max_fetch_size_mb));
  add_raw(out, "max_checkout_size_mb", std::to_string(config.max_checkout_size_mb));
  add_raw(out, "max_pack_objects", std::to_string(config.max_pack_objects));
  add_raw(out, "host_max_concurrent_jobs", std::to_string(config.host_max_concurrent_jobs));
  add_raw(out, "host_jobs_per_minute", std::to_string(config.host_jobs_per_minute));
  add_raw(out, "host_burst", std::to_string(config.host_burst));
  add_raw(out, "host_limits", string_list(config.host_limits));
  add_raw(out, "host_cooldown_seconds", std::to_string(config.host_cooldown_seconds));
  add_raw(out, "host_cooldown_max_seconds", std::to_string(config.host_cooldown_max_seconds));
  add_raw(out, "host_wait_share_percent", std::to_string(config.host_wait_share_percent));
  add_string(out, "audit_sink", config.audit_sink);
  add_string(out, "audit_topic", config.audit_topic);
  add_string(out, "audit_file", config.audit_file);
  add_raw(out, "audit_buffer_events", std::to_string(config.audit_buffer_events));
  add_raw(out, "audit_ack_timeout_seconds", std::to_string(config.audit_ack_timeout_seconds));
  add_raw(out, "network_allow", string_list(config.network_allow));
  add_raw(out, "allow_plain_http", config.allow_plain_http ? "true" : "false");
  add_string(out, "follow_redirects", config.follow_redirects);
  add_string(out, "git_proxy", security::redact_url(config.git_proxy));
  add_raw(out, "connect_timeout_seconds", std::to_string(config.connect_timeout_seconds));
  add_raw(out, "socket_timeout_seconds", std::to_string(config.socket_timeout_seconds));
  add_string(out, "git_ca_file", config.git_ca_file);
  add_raw(out, "ref_backup", config.ref_backup ? "true" : "false");
  add_raw(out, "ref_backup_namespaces", string_list(config.ref_backup_namespaces));
  add_raw(out, "ref_backup_keep", std::to_string(config.ref_backup_keep));
  add_raw(out, "ref_backup_max_age_days", std::to_string(config.ref_backup_max_age_days));
  add_string(out, "http_listen", config.http_listen);
  add_string(out, "webhook_listen", config.webhook_listen);
  add_string(out, "webhook_routes_file", config.webhook_routes_file);
  add_string(out, "webhook_spool_dir", config.webhook_spool_dir);
  add_raw(out, "webhook_ack_timeout_ms", std::to_string(config.webhook_ack_timeout_ms));
  add_raw(out, "webhook_max_body_bytes", std::to_string(config.webhook_max_body_bytes));
  add_raw(out, "webhook_max_connections", std::to_string(config.webhook_max_connections));
  add_raw(out, "webhook_header_timeout_seconds",
          std::to_string(config.webhook_header_timeout_seconds));
  add_raw(out, "webhook_read_timeout_seconds", std::to_string(config.webhook_read_timeout_seconds));
  add_raw(out, "webhook_rate_per_second", std::to_string(config.webhook_rate_per_second));
  add_raw(out, "webhook_rate_burst", std::to_string(config.webhook_rate_burst));
  add_raw(out, "webhook_trusted_proxies", string_list(config.webhook_trusted_proxies));
  add_string(out, "otlp_endpoint", security::redact_url(config.otlp_endpoint));
  add_string(out, "log_level", config.log_level);
  add_raw(out, "embedded_broker", config.embedded_broker ? "true" : "false");
  add_string(out, "config_file", config.config_file);
  out.back() = '}';
  return out;
}

}  // namespace mgit::daemon
