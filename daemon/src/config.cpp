#include "mgit/daemon/config.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "config_file.hpp"
#include "config_options.hpp"
#include "mgit/basics/ascii.hpp"
#include "mgit/transport/kafka_secrets.hpp"

#ifndef MGITD_VERSION
#define MGITD_VERSION "0.0.0"
#endif
#ifndef MGITD_REVISION
#define MGITD_REVISION "unknown"
#endif

namespace mgit::daemon {
namespace {

using detail::ConfigError;
using detail::env_name;
using detail::flag_name;

constexpr std::string_view kConfigOption = "config";
constexpr std::string_view kKafkaPropertyOption = "kafka_property";

/// Parses `--x-y=value` arguments of one source into `config`; a bad value is reported with
/// `source` so the operator knows which of flag, environment or file to fix.
void apply(Config& config, const std::vector<std::string>& args, const std::string& source) {
  CLI::App app;
  detail::declare_options(app, config);
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
  for (const auto& value : values) {
    if (value.empty()) {
      // CLI11 reads `--x-y=` as a missing value, but a separate "" as an empty one (a TOML
      // `otlp_endpoint = ""` means "off"). Other values keep `=` so a leading '-' stays a value.
      args.push_back("--" + flag_name(key));
      args.emplace_back();
    } else {
      args.push_back(fmt::format("--{}={}", flag_name(key), value));
    }
  }
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
      out.emplace_back(basics::trim(piece, detail::kBlanks));
    }
  }
  return out;
}

/// `a, b,c` -> {a, b, c}; empty pieces are dropped.
std::vector<std::string> split_comma_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string piece;
  while (std::getline(in, piece, ',')) {
    if (auto item = basics::trim(piece, detail::kBlanks); !item.empty()) out.emplace_back(item);
  }
  return out;
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
  3. the TOML config file (--config) x_y = value       (env MGITD_CONFIG)
Each key is taken from the highest source that sets it; the repeatable kafka_property and
network_allow are taken whole from one source (env: MGITD_KAFKA_PROPERTY="k=v,k=v",
MGITD_NETWORK_ALLOW="git.internal.example,10.20.0.0/16").
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
  detail::declare_options(cli, from_flags);
  cli.add_option("--config", config_path, "TOML config file of x_y = value keys (env MGITD_CONFIG)")
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
    const std::vector<detail::KeySpec> keys = detail::configurable_keys();
    std::set<std::string> set_by_flag;
    for (const auto& [key, kind] : keys) {
      if (cli.count("--" + flag_name(key)) > 0) set_by_flag.insert(key);
    }
    if (config_path.empty()) config_path = env_value(env_name(kConfigOption)).value_or("");

    Config config;
    std::set<std::string> set_by_env;
    std::map<std::string, std::vector<std::string>> env_values;
    for (const auto& [key, kind] : keys) {
      const auto value = env_value(env_name(key));
      if (!value) continue;
      set_by_env.insert(key);
      if (key == kKafkaPropertyOption) {
        env_values[key] = split_kafka_property_env(*value);
      } else if (kind == detail::ValueKind::kStringArray) {
        env_values[key] = split_comma_list(*value);  // network_allow="a,b"
      } else {
        env_values[key] = std::vector<std::string>{*value};
      }
    }

    // Lowest precedence first; each key comes from exactly one source.
    if (!config_path.empty()) {
      for (const auto& [key, values, line] : detail::read_config_file(config_path, keys)) {
        if (set_by_flag.count(key) || set_by_env.count(key)) continue;
        apply(config, as_args(key, values),
              fmt::format("config file {} line {} ({})", config_path, line, key));
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

}  // namespace mgit::daemon
