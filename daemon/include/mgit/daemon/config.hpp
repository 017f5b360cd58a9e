#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mgit::daemon {

/// The daemon's effective configuration. Names match the spec's operator-facing names
/// (flag `--x-y` = env `MGITD_X_Y` = config-file key `x_y`).
struct Config {
  std::string brokers = "localhost:9092";
  std::string group_id = "mgitd";
  std::string jobs_topic = "mgit.sync.jobs";
  std::string results_topic = "mgit.sync.results";
  std::string dlq_topic = "mgit.sync.dlq";
  std::vector<std::pair<std::string, std::string>> kafka_properties;  ///< `kafka_property`
  std::string kafka_secrets_file;
  /// librdkafka secrets from `MGITD_KAFKA_SECRET_<KEY>` variables (see
  /// transport::env_secret_kafka_keys).
  std::vector<std::pair<std::string, std::string>> kafka_env_secrets;
  std::string workspace = "/var/lib/mgitd";
  std::string credentials_dir = "/etc/mgitd/credentials";
  int workers = 4;
  std::string group_instance_id;
  int max_in_flight = 256;
  int max_buffered_per_partition = 64;
  int max_attempts = 3;
  int revoke_grace_seconds = 20;
  int startup_broker_timeout_seconds = 60;
  int broker_unready_grace_seconds = 60;
  int stuck_grace_seconds = 60;
  int min_free_disk_percent = 10;
  std::int64_t max_message_bytes = 65536;
  int job_timeout_seconds = 600;
  int shutdown_grace_seconds = 30;
  int stall_timeout_seconds = 60;
  int max_job_timeout_seconds = 3600;
  int worker_max_jobs = 1000;
  int worker_memory_limit_mb = 4096;
  int max_file_size_mb = 8192;
  int max_fetch_size_mb = 16384;
  int max_checkout_size_mb = 32768;
  int max_pack_objects = 0;
  // Per git host rate limits (docs/rate-limits.md).
  int host_max_concurrent_jobs = 0;
  int host_jobs_per_minute = 0;
  int host_burst = 0;
  std::vector<std::string> host_limits;  ///< `HOST=concurrency:N,per_minute:N,burst:N` items
  int host_cooldown_seconds = 5;
  int host_cooldown_max_seconds = 300;
  int host_wait_share_percent = 50;
  std::string audit_sink = "kafka";  ///< `kafka` (audit_topic) or `file` (audit_file)
  std::string audit_topic = "mgit.audit";
  std::string audit_file;
  int audit_buffer_events = 4096;
  int audit_ack_timeout_seconds = 10;
  // Network policy of the git workers (docs/git-executor.md, "Network policy").
  std::vector<std::string> network_allow;  ///< host globs and CIDRs opened
  bool allow_plain_http = false;
  bool coalesce = true;                   ///< burst coalescing (docs/delivery.md)
  bool ref_backup = true;                 ///< force-push safety net backups
  std::string follow_redirects = "none";  ///< none | same_host
  std::string git_proxy;                  ///< empty: no proxy
  int connect_timeout_seconds = 10;
  int socket_timeout_seconds = 300;
  std::string git_ca_file;  ///< PEM CAs trusted for https remotes beside the system's
  // The force-push safety net (docs/git-executor.md, "Force-push safety net"); its switch
  // `ref_backup` sits with the other booleans (struct padding).
  std::vector<std::string> ref_backup_namespaces{"refs/heads/", "refs/tags/"};
  int ref_backup_keep = 10;          ///< newest backups kept per ref; 0: no count limit
  int ref_backup_max_age_days = 90;  ///< 0: no age limit
  std::string http_listen = "0.0.0.0:8080";
  // Webhook intake (docs/webhooks.md): off while webhook_listen is empty.
  std::string webhook_listen;
  std::string webhook_routes_file;
  std::string webhook_spool_dir;  ///< empty: <workspace>/.mgitd/webhook-spool
  int webhook_ack_timeout_ms = 3000;
  int webhook_max_body_bytes = 1048576;
  int webhook_max_connections = 64;
  int webhook_header_timeout_seconds = 5;
  int webhook_read_timeout_seconds = 10;
  int webhook_rate_per_second = 10;
  int webhook_rate_burst = 40;
  std::vector<std::string> webhook_trusted_proxies;  ///< CIDRs whose X-Forwarded-For is believed
  std::string otlp_endpoint;
  std::string log_level = "info";
  bool embedded_broker = false;
  std::string config_file;  ///< `--config`
};

/// Result of reading the command line: either run with a config, or exit (help, version,
/// error) with the given code after the text was printed.
struct ConfigLoad {
  std::optional<Config> config;
  int exit_code = 0;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// Reads flags, then `MGITD_*` environment variables, then the optional config file, with
/// precedence flag > env > file for every key (a repeatable key is taken whole from the
/// highest source that sets it). Validates ranges and refuses librdkafka secret keys
/// given through `kafka_property`. Prints help/errors to stdout/stderr.
ConfigLoad load_config(int argc, const char* const* argv, const EnvLookup& env);

/// Environment lookup backed by getenv.
std::optional<std::string> process_env(const std::string& name);

/// Every librdkafka setting the daemon's clients get: `kafka_property`, then the secrets file,
/// then `kafka_env_secrets` (a later entry for the same key wins). Reads the secrets file, so
/// call it at startup; throws std::runtime_error when the file cannot be read.
std::vector<std::pair<std::string, std::string>> kafka_settings(const Config& config);

/// The config as one JSON object with secrets masked, for the startup log line.
std::string describe_config(const Config& config);

}  // namespace mgit::daemon
