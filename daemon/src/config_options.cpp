#include "config_options.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <sstream>

#include "config_rate_limits.hpp"
#include "mgit/basics/ascii.hpp"
#include "mgit/git/git_executor.hpp"
#include "mgit/observability/tracing.hpp"
#include "mgit/security/network_policy.hpp"
#include "mgit/transport/kafka_secrets.hpp"
#include "mgit/webhooks/source_limits.hpp"

namespace mgit::daemon::detail {
namespace {

constexpr std::string_view kEnvPrefix = "MGITD_";
// --help shows these, and configurable_keys reads them back to know each key's TOML type.
constexpr std::string_view kTextType = "TEXT";
constexpr std::string_view kIntegerType = "INT";
constexpr std::string_view kKeyValueType = "KEY=VALUE";
constexpr std::string_view kHostOrCidrType = "HOST|CIDR";
constexpr std::string_view kRefPrefixType = "REF_PREFIX";

std::string trim(std::string_view text) { return std::string(basics::trim(text, kBlanks)); }

std::string key_name(std::string_view flag) {
  std::string out(flag);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Validators. Each returns an empty string when the value is fine (CLI11's convention).

std::string check_kafka_property(const std::string& value) {
  const auto eq = value.find('=');
  if (eq == std::string::npos || eq == 0) {
    // Not echoed: an item without '=' may be a secret typed in the wrong place.
    return "an item is not key=value";
  }
  const std::string key = trim(value.substr(0, eq));
  if (key.empty()) return "kafka_property needs a key before '='";
  if (transport::is_secret_kafka_key(key)) {
    // Flags and config files end up in process listings, shell history and ConfigMaps.
    return fmt::format(
        "'{}' holds a secret and is refused here: use kafka_secrets_file or the environment "
        "variable {}",
        key, transport::kafka_secret_env_name(key));
  }
  return {};
}

std::string check_topic(const std::string& value) {
  if (value.empty() || value.size() > 249) return "a topic name has 1 to 249 characters";
  if (value == "." || value == "..") return "'.' and '..' are not topic names";
  for (char c : value) {
    if (!(basics::is_ascii_alnum(c) || c == '.' || c == '_' || c == '-')) {
      return fmt::format("topic '{}' may only contain [A-Za-z0-9._-]", value);
    }
  }
  return {};
}

std::string check_listen(const std::string& value) {
  const auto colon = value.rfind(':');
  if (colon == std::string::npos) return fmt::format("'{}' is not HOST:PORT", value);
  const std::string port = value.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(port) > 65535) {
    return fmt::format("'{}' does not end in a port 0..65535", value);
  }
  return {};
}

std::string check_not_empty(const std::string& value) {
  return trim(value).empty() ? std::string("must not be empty") : std::string();
}

std::string check_otlp(const std::string& value) {
  if (value.empty()) return {};
  const auto endpoint = observability::OtlpHttpExporter::parse_endpoint(value);
  return endpoint ? std::string() : endpoint.error() + " (or empty to turn tracing off)";
}

std::string check_brokers(const std::string& value) {
  std::stringstream in(value);
  std::string item;
  bool any = false;
  while (std::getline(in, item, ',')) {
    item = trim(item);
    if (item.empty()) return fmt::format("'{}' has an empty broker address", value);
    if (auto err = check_listen(item); !err.empty()) return "broker " + err;
    any = true;
  }
  return any ? std::string() : std::string("must name at least one HOST:PORT");
}

std::string check_network_allow(const std::string& value) {
  auto policy = security::NetworkPolicy::parse({value});
  return policy ? std::string() : policy.error();
}

std::string check_git_proxy(const std::string& value) {
  return value.empty() ? std::string() : git::git_proxy_problem(value);
}

/// A backed-up namespace: a prefix under refs/, never mgitd's own refs/mgitd/.
std::string check_ref_prefix(const std::string& value) {
  if (!basics::starts_with(value, "refs/") || value.size() < 6) {
    return fmt::format("'{}' is not a ref prefix under refs/ (e.g. refs/heads/)", value);
  }
  if (basics::starts_with(value, "refs/mgitd/") || value == "refs/mgitd") {
    return "refs/mgitd/ holds the backups themselves";
  }
  if (value.find_first_of(" ~^:?*[\\") != std::string::npos ||
      value.find("..") != std::string::npos) {
    return fmt::format("'{}' has characters a ref name cannot hold", value);
  }
  return {};
}

constexpr int kDay = 86400;

ValueKind kind_of(const CLI::Option& option) {
  if (option.get_expected_max() == 0) return ValueKind::kBoolean;  // a flag takes no argument
  const std::string type = option.get_type_name();
  if (type == kKeyValueType || type == kHostOrCidrType || type == kRefPrefixType) {
    return ValueKind::kStringArray;
  }
  if (type == kIntegerType) return ValueKind::kInteger;
  return ValueKind::kString;
}

}  // namespace

std::string env_name(std::string_view key) {
  std::string out(kEnvPrefix);
  for (const char c : key) out += basics::ascii_upper(c);
  return out;
}

std::string flag_name(std::string_view key) {
  std::string out(key);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

namespace {

/// The webhook listener's settings (docs/webhooks.md).
void declare_webhook_options(CLI::App& app, Config& config) {
  const auto number = [&app](const char* name, int& var, int lo, int hi, const char* meaning) {
    app.add_option(name, var, meaning)
        ->check(CLI::Range(lo, hi).description(""))
        ->type_name(std::string(kIntegerType));
  };
  app.add_option("--webhook-listen", config.webhook_listen,
                 "HOST:PORT of the webhook listener (empty: webhooks off)")
      ->check(CLI::Validator(
          [](const std::string& value) {
            return value.empty() ? std::string() : check_listen(value);
          },
          "", ""));
  app.add_option("--webhook-routes-file", config.webhook_routes_file,
                 "TOML routes file: which repositories' pushes make which jobs (the allowlist)");
  app.add_option("--webhook-spool-dir", config.webhook_spool_dir,
                 "Jobs waiting for the broker, fsync'd (empty: <workspace>/.mgitd/webhook-spool)");
  number("--webhook-ack-timeout-ms", config.webhook_ack_timeout_ms, 100, 60000,
         "A webhook waits this long for the broker's ack, then its job is spooled");
  number("--webhook-max-body-bytes", config.webhook_max_body_bytes, 1024, 26214400,
         "Larger webhook bodies are answered 413");
  number("--webhook-max-connections", config.webhook_max_connections, 1, 100000,
         "Open webhook connections; more are refused");
  number("--webhook-header-timeout-seconds", config.webhook_header_timeout_seconds, 1, 600,
         "A webhook's headers must arrive within this");
  number("--webhook-read-timeout-seconds", config.webhook_read_timeout_seconds, 1, 600,
         "A whole webhook request must arrive within this");
  number("--webhook-rate-per-second", config.webhook_rate_per_second, 1, 1000000,
         "Webhook requests per second per source address (token bucket)");
  number("--webhook-rate-burst", config.webhook_rate_burst, 1, 1000000,
         "Token bucket size per source address");
  app.add_option("--webhook-trusted-proxies", config.webhook_trusted_proxies,
                 "Repeatable CIDR of proxies whose X-Forwarded-For is believed (an Ingress)")
      ->type_name(std::string(kHostOrCidrType))
      ->check(CLI::Validator(
          [](const std::string& value) {
            auto parsed = webhooks::TrustedProxies::parse({value});
            return parsed ? std::string() : parsed.error();
          },
          "", ""))
      ->take_all();
}

}  // namespace

void declare_options(CLI::App& app, Config& config) {
  app.option_defaults()->always_capture_default();
  auto text = [&app](const char* name, std::string& var, const char* meaning) {
    return app.add_option(name, var, meaning)->type_name(std::string(kTextType));
  };
  auto number = [&app](const char* name, int& var, int lo, int hi, const char* meaning) {
    // The meaning states the range; CLI11's own range text would clutter --help.
    return app.add_option(name, var, meaning)
        ->check(CLI::Range(lo, hi).description(""))
        ->type_name(std::string(kIntegerType));
  };

  text("--brokers", config.brokers, "Kafka bootstrap servers (HOST:PORT,...)")
      ->check(CLI::Validator(check_brokers, "", ""));
  text("--group-id", config.group_id, "Kafka consumer group")
      ->check(CLI::Validator(check_not_empty, "", ""));
  text("--jobs-topic", config.jobs_topic, "Intake topic of sync jobs")
      ->check(CLI::Validator(check_topic, "", ""));
  text("--results-topic", config.results_topic, "Topic the result events go to")
      ->check(CLI::Validator(check_topic, "", ""));
  text("--dlq-topic", config.dlq_topic, "Dead-letter topic for unparseable messages")
      ->check(CLI::Validator(check_topic, "", ""));
  app.add_option_function<std::vector<std::string>>(
         "--kafka-property",
         [&config](const std::vector<std::string>& values) {
           config.kafka_properties.clear();
           for (const auto& value : values) {
             const auto eq = value.find('=');
             config.kafka_properties.emplace_back(trim(value.substr(0, eq)), value.substr(eq + 1));
           }
         },
         "Repeatable KEY=VALUE passed to librdkafka (no secrets)")
      ->type_name(std::string(kKeyValueType))
      ->check(CLI::Validator(check_kafka_property, "", ""))
      ->take_all();
  text("--kafka-secrets-file", config.kafka_secrets_file,
       "File of KEY=VALUE librdkafka settings holding secrets");
  text("--workspace", config.workspace, "Root directory of all targets")
      ->check(CLI::Validator(check_not_empty, "", ""));
  text("--credentials-dir", config.credentials_dir, "Directory with one file per credential name")
      ->check(CLI::Validator(check_not_empty, "", ""));
  number("--workers", config.workers, 1, 256, "Concurrent git operations (1..256)");
  text("--group-instance-id", config.group_instance_id,
       "Static group membership id, e.g. the pod name (empty: dynamic)");
  number("--max-in-flight", config.max_in_flight, 1, 1000000,
         "Process-wide bound on buffered + running jobs (>= workers)");
  number("--max-buffered-per-partition", config.max_buffered_per_partition, 1, 1000000,
         "A partition pauses at this many unfinished jobs");
  number("--max-attempts", config.max_attempts, 1, 20, "Tries for a retryable failure (1..20)");
  app.add_flag("--coalesce", config.coalesce,
               "Jobs queued behind a target's next job that ask the same share its execution "
               "(--coalesce=false: each runs its own)");
  number("--revoke-grace-seconds", config.revoke_grace_seconds, 0, kDay,
         "How long a revoked partition's jobs may finish");
  number("--startup-broker-timeout-seconds", config.startup_broker_timeout_seconds, 1, kDay,
         "Exit non-zero if no broker answers by then");
  number("--broker-unready-grace-seconds", config.broker_unready_grace_seconds, 0, kDay,
         "Broker loss fails readiness only after this");
  number("--stuck-grace-seconds", config.stuck_grace_seconds, 1, kDay,
         "Liveness fails when a job overruns its deadline by this");
  number("--min-free-disk-percent", config.min_free_disk_percent, 0, 99,
         "Below it: not ready, clones refused with disk_full (0..99)");
  app.add_option("--max-message-bytes", config.max_message_bytes,
                 "Larger intake messages go to the DLQ (1024..10485760)")
      ->check(CLI::Range(std::int64_t{1024}, std::int64_t{10} * 1024 * 1024).description(""))
      ->type_name(std::string(kIntegerType));
  number("--job-timeout-seconds", config.job_timeout_seconds, 1, kDay,
         "Default deadline when a job sets none");
  number("--shutdown-grace-seconds", config.shutdown_grace_seconds, 0, kDay,
         "Drain time on SIGTERM");
  number("--stall-timeout-seconds", config.stall_timeout_seconds, 1, kDay,
         "A git worker without progress this long is killed; the job ends timeout");
  number("--max-job-timeout-seconds", config.max_job_timeout_seconds, 1, kDay,
         "Caps every job's deadline, options.timeout_seconds included");
  number("--worker-max-jobs", config.worker_max_jobs, 1, 1000000,
         "A git worker process is replaced after this many jobs");
  number("--worker-memory-limit-mb", config.worker_memory_limit_mb, 0, 1048576,
         "RLIMIT_DATA of a git worker in MiB (0: none)");
  number("--max-file-size-mb", config.max_file_size_mb, 0, 1048576,
         "Largest file a git worker may write, in MiB (0: none); over it: disk_full");
  number("--max-fetch-size-mb", config.max_fetch_size_mb, 0, 1048576,
         "Most a job may receive from its remote, in MiB (0: none); over it: disk_full");
  number("--max-checkout-size-mb", config.max_checkout_size_mb, 0, 1048576,
         "Largest work tree a checkout may write, in MiB (0: none); over it: disk_full");
  number("--max-pack-objects", config.max_pack_objects, 0, 2000000000,
         "Most objects a received pack may hold (0: libgit2's default, no limit)");
  declare_rate_limit_options(app, config);
  text("--audit-sink", config.audit_sink, "Where security events go: kafka|file")
      ->check(CLI::IsMember({"kafka", "file"}).description(""));
  text("--audit-topic", config.audit_topic, "Topic of the audit events (audit_sink=kafka)")
      ->check(CLI::Validator(check_topic, "", ""));
  text("--audit-file", config.audit_file,
       "File the audit events are appended to (audit_sink=file)");
  number("--audit-buffer-events", config.audit_buffer_events, 16, 1000000,
         "Audit events held until acknowledged; intake stops at half of it");
  number("--audit-ack-timeout-seconds", config.audit_ack_timeout_seconds, 1, kDay,
         "An audit event unacknowledged this long stops intake until the sink recovers");
  app.add_option("--network-allow", config.network_allow,
                 "Repeatable host glob or CIDR the network policy opens (an internal git server)")
      ->type_name(std::string(kHostOrCidrType))
      ->check(CLI::Validator(check_network_allow, "", ""))
      ->take_all();
  app.add_flag("--allow-plain-http", config.allow_plain_http,
               "Run jobs with http:// URLs (never with a credential)");
  text("--follow-redirects", config.follow_redirects,
       "none (only the job URL's host:port) | same_host (any port of its host; a credential "
       "then waits for the server's 401)")
      ->check(CLI::IsMember({"none", "same_host"}).description(""));
  text("--git-proxy", config.git_proxy,
       "http(s)://HOST[:PORT] proxy for git over http(s) (empty: none, never from the env)")
      ->check(CLI::Validator(check_git_proxy, "", ""));
  number("--connect-timeout-seconds", config.connect_timeout_seconds, 1, 600,
         "A git connection not established by then fails (network)");
  number("--socket-timeout-seconds", config.socket_timeout_seconds, 1, kDay,
         "A git connection's read or write blocked this long fails (network)");
  text("--git-ca-file", config.git_ca_file,
       "PEM file of CAs trusted for https git remotes, besides the system's (empty: none)");
  app.add_flag("--ref-backup", config.ref_backup,
               "Keep a ref's old tip under refs/mgitd/backup/ when a fetch moves it "
               "non-fast-forward or deletes it (--ref-backup=false: off)");
  app.add_option("--ref-backup-namespaces", config.ref_backup_namespaces,
                 "Repeatable remote ref prefix whose forced updates and deletions are backed up "
                 "(default: refs/heads/ refs/tags/)")
      ->type_name(std::string(kRefPrefixType))
      ->check(CLI::Validator(check_ref_prefix, "", ""))
      ->take_all();
  number("--ref-backup-keep", config.ref_backup_keep, 0, 1000000,
         "Newest backups kept per ref (0: no count limit)");
  number("--ref-backup-max-age-days", config.ref_backup_max_age_days, 0, 36500,
         "Backups older than this many days are removed by a later job (0: no age limit)");
  text("--http-listen", config.http_listen, "HOST:PORT for metrics and health")
      ->check(CLI::Validator(check_listen, "", ""));
  declare_webhook_options(app, config);
  text("--otlp-endpoint", config.otlp_endpoint, "OTLP/HTTP traces URL (empty: tracing off)")
      ->check(CLI::Validator(check_otlp, "", ""));
  text("--log-level", config.log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}).description(""));
  app.add_flag("--embedded-broker", config.embedded_broker,
               "Start an in-process broker for trying mgitd without Kafka");
}

std::vector<KeySpec> configurable_keys() {
  Config scratch;
  CLI::App app;
  declare_options(app, scratch);
  std::vector<KeySpec> keys;
  for (const CLI::Option* option : app.get_options()) {
    if (option == app.get_help_ptr()) continue;
    for (const auto& name : option->get_lnames())
      keys.push_back({key_name(name), kind_of(*option)});
  }
  return keys;
}

}  // namespace mgit::daemon::detail
