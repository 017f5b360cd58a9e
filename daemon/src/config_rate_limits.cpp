#include "config_rate_limits.hpp"

#include <fmt/format.h>

#include <charconv>
#include <sstream>

#include "config_options.hpp"
#include "mgit/basics/ascii.hpp"

namespace mgit::daemon::detail {

namespace {

constexpr int kMaxCount = 1000000;

std::string_view trimmed(std::string_view text) { return basics::trim(text, kBlanks); }

std::string check_host_limit(const std::string& value) {
  auto parsed = parse_host_limit(value, {});
  return parsed ? std::string() : parsed.error();
}

}  // namespace

tl::expected<std::pair<std::string, execution::HostLimit>, std::string> parse_host_limit(
    std::string_view item, const execution::HostLimit& defaults) {
  const auto eq = item.find('=');
  if (eq == std::string_view::npos) {
    return tl::make_unexpected(
        fmt::format("'{}' is not HOST=concurrency:N,per_minute:N,burst:N", item));
  }
  const std::string host = basics::to_lower(trimmed(item.substr(0, eq)));
  if (host.empty() || host.find_first_of("/@ \t") != std::string::npos) {
    return tl::make_unexpected(
        fmt::format("'{}' is not a host (HOST or HOST:PORT as in the repository key)", host));
  }
  execution::HostLimit limit = defaults;
  std::stringstream fields{std::string(item.substr(eq + 1))};
  std::string field;
  bool any = false;
  while (std::getline(fields, field, ',')) {
    const auto colon = field.find(':');
    const std::string name(trimmed(std::string_view(field).substr(0, colon)));
    const std::string_view text = colon == std::string::npos
                                      ? std::string_view()
                                      : trimmed(std::string_view(field).substr(colon + 1));
    int number = -1;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (colon == std::string::npos || ec != std::errc() || end != text.data() + text.size() ||
        number < 0 || number > kMaxCount) {
      return tl::make_unexpected(
          fmt::format("host {}: '{}' is not NAME:N with N in 0..{}", host, field, kMaxCount));
    }
    if (name == "concurrency") {
      limit.max_concurrent = number;
    } else if (name == "per_minute") {
      limit.jobs_per_minute = number;
    } else if (name == "burst") {
      limit.burst = number;
    } else {
      return tl::make_unexpected(
          fmt::format("host {}: unknown limit '{}' (concurrency, per_minute, burst)", host, name));
    }
    any = true;
  }
  if (!any) return tl::make_unexpected(fmt::format("host {}: no limit given", host));
  return std::make_pair(host, limit);
}

std::vector<std::string> split_host_limits_env(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ';')) {
    if (!trimmed(item).empty()) out.emplace_back(trimmed(item));
  }
  return out;
}

void declare_rate_limit_options(CLI::App& app, Config& config) {
  const auto number = [&app](const char* name, int& var, int lo, int hi, const char* meaning) {
    app.add_option(name, var, meaning)->check(CLI::Range(lo, hi).description(""))->type_name("INT");
  };
  number("--host-max-concurrent-jobs", config.host_max_concurrent_jobs, 0, kMaxCount,
         "Jobs one git host (host:port) may run at once (0: no cap)");
  number("--host-jobs-per-minute", config.host_jobs_per_minute, 0, kMaxCount,
         "Jobs one git host may start per minute, a token bucket (0: no limit)");
  number("--host-burst", config.host_burst, 0, kMaxCount,
         "Token bucket size per host (0: one second's worth of the rate, at least 1)");
  app.add_option("--host-limits", config.host_limits,
                 "Repeatable HOST=concurrency:N,per_minute:N,burst:N overriding the host_* "
                 "defaults for one host")
      ->type_name("KEY=VALUE")
      ->check(CLI::Validator(check_host_limit, "", ""))
      ->take_all();
  number("--host-cooldown-seconds", config.host_cooldown_seconds, 1, 86400,
         "First cool-down of a host answering 429/503; doubles per trip in a row");
  number("--host-cooldown-max-seconds", config.host_cooldown_max_seconds, 1, 86400,
         "Longest cool-down of a host");
  number("--host-wait-share-percent", config.host_wait_share_percent, 1, 100,
         "Share of max_buffered_per_partition and max_in_flight one host's waiting jobs may hold");
}

execution::HostLimitSettings host_limit_settings(const Config& config) {
  execution::HostLimitSettings settings;
  settings.defaults = execution::HostLimit{config.host_max_concurrent_jobs,
                                           config.host_jobs_per_minute, config.host_burst};
  for (const auto& item : config.host_limits) {
    if (auto parsed = parse_host_limit(item, settings.defaults)) {
      settings.overrides.insert_or_assign(parsed->first, parsed->second);
    }
  }
  settings.cooldown_base = std::chrono::seconds(config.host_cooldown_seconds);
  settings.cooldown_max = std::chrono::seconds(
      std::max(config.host_cooldown_seconds, config.host_cooldown_max_seconds));
  settings.wait_share_percent = config.host_wait_share_percent;
  settings.max_buffered_per_partition = static_cast<std::size_t>(config.max_buffered_per_partition);
  settings.max_in_flight = static_cast<std::size_t>(config.max_in_flight);
  return settings;
}

}  // namespace mgit::daemon::detail
