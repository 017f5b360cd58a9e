#include "mgit/daemon/config.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "mgit/basics/ascii.hpp"
#include "mgit/basics/json_escape.hpp"
#include "mgit/observability/log.hpp"
#include "mgit/observability/tracing.hpp"
#include "mgit/transport/kafka_secrets.hpp"

#ifndef MGITD_VERSION
#define MGITD_VERSION "0.0.0"
#endif
#ifndef MGITD_REVISION
#define MGITD_REVISION "unknown"
#endif

namespace mgit::daemon {
namespace {

constexpr std::string_view kEnvPrefix = "MGITD_";
constexpr std::string_view kConfigOption = "config";
constexpr std::string_view kKafkaPropertyOption = "kafka_property";

/// A configuration problem found while loading; caught once in load_config.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string trim(std::string_view text) { return std::string(basics::trim(text, " \t\r\n")); }

/// `max_in_flight` (config key) -> `MGITD_MAX_IN_FLIGHT`.
std::string env_name(std::string_view key) {
  std::string out(kEnvPrefix);
  for (char c : key) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

/// `max_in_flight` -> `max-in-flight` (the long flag name without dashes).
std::string flag_name(std::string_view key) {
  std::string out(key);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

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
    return fmt::format("'{}' is not key=value", value.substr(0, value.find('=')));
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
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
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

constexpr int kDay = 86400;

/// Declares every option on `app`, bound to `config`. Used once per source so an invalid value
/// is reported with the source it came from; parsing writes only the options present.
void declare_options(CLI::App& app, Config& config) {
  app.option_defaults()->always_capture_default();
  auto text = [&app](const char* name, std::string& var, const char* meaning) {
    return app.add_option(name, var, meaning)->type_name("TEXT");
  };
  auto number = [&app](const char* name, int& var, int lo, int hi, const char* meaning) {
    // The meaning states the range; CLI11's own range text would clutter --help.
    return app.add_option(name, var, meaning)
        ->check(CLI::Range(lo, hi).description(""))
        ->type_name("INT");
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
      ->type_name("KEY=VALUE")
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
      ->type_name("INT");
  number("--job-timeout-seconds", config.job_timeout_seconds, 1, kDay,
         "Default deadline when a job sets none");
  number("--shutdown-grace-seconds", config.shutdown_grace_seconds, 0, kDay,
         "Drain time on SIGTERM");
  text("--http-listen", config.http_listen, "HOST:PORT for metrics, health and webhooks")
      ->check(CLI::Validator(check_listen, "", ""));
  text("--otlp-endpoint", config.otlp_endpoint, "OTLP/HTTP traces URL (empty: tracing off)")
      ->check(CLI::Validator(check_otlp, "", ""));
  text("--log-level", config.log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}).description(""));
  app.add_flag("--embedded-broker", config.embedded_broker,
               "Start an in-process broker for trying mgitd without Kafka");
}

/// Every configurable key (`x_y`) in declaration order, from an App built like the real one.
std::vector<std::string> configurable_keys() {
  Config scratch;
  CLI::App app;
  declare_options(app, scratch);
  std::vector<std::string> keys;
  for (const CLI::Option* option : app.get_options()) {
    if (option == app.get_help_ptr()) continue;
    for (const auto& name : option->get_lnames()) keys.push_back(key_name(name));
  }
  return keys;
}

/// Parses `--x-y=value` arguments of one source into `config`; a bad value is reported with
/// `source` so the operator knows which of flag, environment or file to fix.
void apply(Config& config, const std::vector<std::string>& args, const std::string& source) {
  CLI::App app;
  declare_options(app, config);
  std::vector<const char*> argv{"mgitd"};
  for (const auto& arg : args) argv.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    throw ConfigError(fmt::format("{}: {}", source, e.what()));
  }
}

std::vector<std::string> as_args(const std::string& key, const std::vector<std::string>& values) {
  std::vector<std::string> args;
  for (const auto& value : values) args.push_back(fmt::format("--{}={}", flag_name(key), value));
  return args;
}

/// Comma-separated `k=v,k=v`; a piece without `=` continues the previous value, so list-valued
/// properties such as `ssl.cipher.suites=A,B` survive the split.
std::vector<std::string> split_kafka_property_env(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string piece;
  while (std::getline(in, piece, ',')) {
    if (piece.find('=') == std::string::npos && !out.empty()) {
      out.back() += ',' + piece;
    } else {
      out.push_back(trim(piece));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Config file: `key = value` lines, `#` comments, "basic" and 'literal' strings, bare values,
// and `[ ... ]` arrays (possibly over several lines) for the repeatable kafka_property.

struct FileEntry {
  std::string key;
  std::vector<std::string> values;
  int line = 0;
};

class ConfigFileParser {
 public:
  ConfigFileParser(std::string text, std::string path)
      : text_(std::move(text)), path_(std::move(path)) {}

  std::vector<FileEntry> parse() {
    std::vector<FileEntry> entries;
    while (true) {
      skip_blank_lines();
      if (at_end()) break;
      const int line = line_;
      if (peek() == '[') fail("sections are not supported; write key = value lines");
      std::string key;
      while (!at_end() && (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '_' ||
                           peek() == '-' || peek() == '.')) {
        key += next();
      }
      if (key.empty()) fail("expected a key");
      skip_spaces();
      if (at_end() || peek() != '=') fail(fmt::format("expected '=' after '{}'", key));
      next();
      skip_spaces();
      FileEntry entry{key, {}, line};
      if (!at_end() && peek() == '[') {
        next();
        entry.values = parse_array();
      } else {
        entry.values.push_back(parse_value(false));
      }
      end_of_line();
      entries.push_back(std::move(entry));
    }
    return entries;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ConfigError(fmt::format("config file {} line {}: {}", path_, line_, what));
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  char next() {
    const char c = text_[pos_++];
    if (c == '\n') ++line_;
    return c;
  }
  void skip_spaces() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\r')) next();
  }
  void skip_comment() {
    if (!at_end() && peek() == '#') {
      while (!at_end() && peek() != '\n') next();
    }
  }
  void skip_blank_lines() {
    while (true) {
      skip_spaces();
      skip_comment();
      if (at_end() || peek() != '\n') return;
      next();
    }
  }
  void end_of_line() {
    skip_spaces();
    skip_comment();
    if (!at_end() && peek() != '\n') fail("unexpected text after the value");
  }

  std::string parse_value(bool in_array) {
    if (at_end()) fail("missing value");
    if (peek() == '"') return parse_basic_string();
    if (peek() == '\'') {
      next();
      std::string out;
      while (!at_end() && peek() != '\'' && peek() != '\n') out += next();
      if (at_end() || peek() != '\'') fail("unterminated string");
      next();
      return out;
    }
    std::string out;
    while (!at_end() && peek() != '\n' && peek() != '#' &&
           !(in_array && (peek() == ',' || peek() == ']'))) {
      out += next();
    }
    out = trim(out);
    if (out.empty()) fail("missing value");
    return out;
  }

  std::string parse_basic_string() {
    next();
    std::string out;
    while (true) {
      if (at_end() || peek() == '\n') fail("unterminated string");
      const char c = next();
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) fail("unterminated string");
      switch (const char e = next(); e) {
        case '"':
        case '\\':
          out += e;
          break;
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        default:
          fail(fmt::format("unsupported escape '\\{}'", e));
      }
    }
  }

  std::vector<std::string> parse_array() {
    std::vector<std::string> values;
    while (true) {
      skip_blank_lines();
      if (at_end()) fail("unterminated array");
      if (peek() == ']') {
        next();
        return values;
      }
      values.push_back(parse_value(true));
      skip_blank_lines();
      if (at_end()) fail("unterminated array");
      if (peek() == ',') {
        next();
      } else if (peek() != ']') {
        fail("expected ',' or ']' in array");
      }
    }
  }

  std::string text_;
  std::string path_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

std::map<std::string, std::vector<std::string>> read_config_file(
    const std::string& path, const std::vector<std::string>& known) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("config file {}: cannot be read", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::map<std::string, std::vector<std::string>> values;
  std::map<std::string, int> first_line;
  for (auto& entry : ConfigFileParser(buffer.str(), path).parse()) {
    const auto where = fmt::format("config file {} line {}", path, entry.line);
    if (entry.key == kConfigOption) {
      throw ConfigError(fmt::format("{}: 'config' cannot be set inside a config file", where));
    }
    if (std::find(known.begin(), known.end(), entry.key) == known.end()) {
      const bool dashed = entry.key.find('-') != std::string::npos;
      throw ConfigError(fmt::format("{}: unknown key '{}'{}", where, entry.key,
                                    dashed ? " (config keys use underscores: x_y)" : ""));
    }
    auto& slot = values[entry.key];
    if (!slot.empty() && entry.key != kKafkaPropertyOption) {
      throw ConfigError(fmt::format("{}: '{}' is already set on line {}", where, entry.key,
                                    first_line[entry.key]));
    }
    if (entry.values.size() != 1 && entry.key != kKafkaPropertyOption) {
      throw ConfigError(
          fmt::format("{}: '{}' takes a single value, not an array", where, entry.key));
    }
    first_line.emplace(entry.key, entry.line);
    slot.insert(slot.end(), entry.values.begin(), entry.values.end());
  }
  return values;
}

void validate_combination(const Config& config) {
  if (config.max_in_flight < config.workers) {
    throw ConfigError(fmt::format("max_in_flight ({}) must be at least workers ({})",
                                  config.max_in_flight, config.workers));
  }
  // Equal names would feed results (or dead letters) back in as jobs.
  if (config.jobs_topic == config.results_topic || config.jobs_topic == config.dlq_topic ||
      config.results_topic == config.dlq_topic) {
    throw ConfigError(
        fmt::format("jobs_topic, results_topic and dlq_topic must differ ({}, {}, {})",
                    config.jobs_topic, config.results_topic, config.dlq_topic));
  }
}

constexpr std::string_view kHelpFooter = R"(Configuration sources, highest precedence first:
  1. command-line flags            --x-y VALUE
  2. environment variables          MGITD_X_Y=VALUE   (empty counts as unset)
  3. the config file (--config)     x_y = VALUE       (env MGITD_CONFIG)
Each key is taken from the highest source that sets it; the repeatable kafka_property is
taken whole from one source (env: MGITD_KAFKA_PROPERTY="k=v,k=v").
Secrets never go in flags or the config file: put librdkafka secrets in kafka_secrets_file or
in MGITD_KAFKA_SECRET_<KEY> (e.g. MGITD_KAFKA_SECRET_SASL_PASSWORD for sasl.password).
SIGHUP re-reads the configuration and applies log_level.

Subcommand:
  mgitd healthcheck [--ready] [--http-listen HOST:PORT] [--timeout-seconds N]
      exit 0 when the local daemon's /health/live (or /health/ready) answers 200.)";

std::string version_text() {
  return fmt::format("mgitd {} (revision {})", MGITD_VERSION, MGITD_REVISION);
}

}  // namespace

ConfigLoad load_config(int argc, const char* const* argv, const EnvLookup& env) {
  const auto env_value = [&env](const std::string& name) -> std::optional<std::string> {
    auto value = env(name);
    if (value && value->empty()) return std::nullopt;
    return value;
  };

  // Pass 1: the command line alone, for --help/--version, --config and which keys it sets.
  Config from_flags;
  std::string config_path;
  CLI::App cli{"mgitd: runs repository-sync jobs from Kafka and publishes a result per job",
               "mgitd"};
  declare_options(cli, from_flags);
  cli.add_option("--config", config_path, "Config file of x_y = VALUE lines (env MGITD_CONFIG)")
      ->type_name("FILE");
  cli.set_version_flag("--version", version_text(), "Print the version and exit");
  cli.footer(std::string(kHelpFooter));
  cli.get_formatter()->column_width(42);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return ConfigLoad{std::nullopt, cli.exit(e, std::cout, std::cerr)};
    std::cerr << "mgitd: configuration error: command line: " << e.what()
              << "\n(run mgitd --help for the options)\n";
    return ConfigLoad{std::nullopt, 2};
  }

  try {
    const std::vector<std::string> keys = configurable_keys();
    std::set<std::string> set_by_flag;
    for (const auto& key : keys) {
      if (cli.count("--" + flag_name(key)) > 0) set_by_flag.insert(key);
    }
    if (config_path.empty()) config_path = env_value(env_name(kConfigOption)).value_or("");

    Config config;
    std::set<std::string> set_by_env;
    std::map<std::string, std::vector<std::string>> env_values;
    for (const auto& key : keys) {
      const auto value = env_value(env_name(key));
      if (!value) continue;
      set_by_env.insert(key);
      env_values[key] = key == kKafkaPropertyOption ? split_kafka_property_env(*value)
                                                    : std::vector<std::string>{*value};
    }

    // Lowest precedence first; each key comes from exactly one source.
    if (!config_path.empty()) {
      for (const auto& [key, values] : read_config_file(config_path, keys)) {
        if (set_by_flag.count(key) || set_by_env.count(key)) continue;
        apply(config, as_args(key, values), fmt::format("config file {} ({})", config_path, key));
      }
    }
    for (const auto& [key, values] : env_values) {
      if (set_by_flag.count(key)) continue;
      apply(config, as_args(key, values), "environment " + env_name(key));
    }
    std::vector<std::string> flag_args(argv + 1, argv + argc);
    // --config is not a configurable key; strip it before re-applying the flags.
    for (auto it = flag_args.begin(); it != flag_args.end();) {
      if (*it == "--config") {
        it = flag_args.erase(it, std::min(it + 2, flag_args.end()));
      } else if (it->rfind("--config=", 0) == 0) {
        it = flag_args.erase(it);
      } else {
        ++it;
      }
    }
    apply(config, flag_args, "command line");

    for (const auto& key : transport::env_secret_kafka_keys()) {
      if (auto value = env(transport::kafka_secret_env_name(key)); value && !value->empty()) {
        config.kafka_env_secrets.emplace_back(key, *value);
      }
    }
    config.config_file = config_path;
    validate_combination(config);
    return ConfigLoad{std::move(config), 0};
  } catch (const ConfigError& e) {
    std::cerr << "mgitd: configuration error: " << e.what() << "\n";
    return ConfigLoad{std::nullopt, 2};
  }
}

std::optional<std::string> process_env(const std::string& name) {
  if (const char* value = std::getenv(name.c_str())) return std::string(value);
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> kafka_settings(const Config& config) {
  std::vector<std::pair<std::string, std::string>> out = config.kafka_properties;
  if (!config.kafka_secrets_file.empty()) {
    auto secrets = transport::read_kafka_secrets(config.kafka_secrets_file);
    out.insert(out.end(), secrets.begin(), secrets.end());
  }
  out.insert(out.end(), config.kafka_env_secrets.begin(), config.kafka_env_secrets.end());
  return out;
}

namespace {

void add_string(std::string& out, std::string_view key, std::string_view value) {
  out += '"';
  basics::append_json_escaped(out, key);
  out += "\":\"";
  basics::append_json_escaped(out, value);
  out += "\",";
}

void add_raw(std::string& out, std::string_view key, const std::string& value) {
  out += '"';
  basics::append_json_escaped(out, key);
  out += "\":";
  out += value;
  out += ',';
}

/// `https://user:token@host/x` -> `https://***@host/x`.
std::string mask_userinfo(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto authority_end = url.find_first_of("/?#", scheme + 3);
  const auto at = url.rfind('@', authority_end == std::string::npos ? url.size() : authority_end);
  if (at == std::string::npos || at < scheme + 3) return url;
  return url.substr(0, scheme + 3) + "***" + url.substr(at);
}

}  // namespace

std::string describe_config(const Config& config) {
  std::string out = "{";
  add_string(out, "brokers", config.brokers);
  add_string(out, "group_id", config.group_id);
  add_string(out, "jobs_topic", config.jobs_topic);
  add_string(out, "results_topic", config.results_topic);
  add_string(out, "dlq_topic", config.dlq_topic);
  std::string properties = "{";
  for (const auto& [key, value] : config.kafka_properties) {
    add_string(properties, key, transport::is_secret_kafka_key(key) ? "***" : value);
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
  add_raw(out, "revoke_grace_seconds", std::to_string(config.revoke_grace_seconds));
  add_raw(out, "startup_broker_timeout_seconds",
          std::to_string(config.startup_broker_timeout_seconds));
  add_raw(out, "broker_unready_grace_seconds", std::to_string(config.broker_unready_grace_seconds));
  add_raw(out, "stuck_grace_seconds", std::to_string(config.stuck_grace_seconds));
  add_raw(out, "min_free_disk_percent", std::to_string(config.min_free_disk_percent));
  add_raw(out, "max_message_bytes", std::to_string(config.max_message_bytes));
  add_raw(out, "job_timeout_seconds", std::to_string(config.job_timeout_seconds));
  add_raw(out, "shutdown_grace_seconds", std::to_string(config.shutdown_grace_seconds));
  add_string(out, "http_listen", config.http_listen);
  add_string(out, "otlp_endpoint", mask_userinfo(config.otlp_endpoint));
  add_string(out, "log_level", config.log_level);
  add_raw(out, "embedded_broker", config.embedded_broker ? "true" : "false");
  add_string(out, "config_file", config.config_file);
  out.back() = '}';
  return out;
}

}  // namespace mgit::daemon
