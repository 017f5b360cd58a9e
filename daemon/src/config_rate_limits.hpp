#pragma once

// Private to daemon_core: the per-host rate-limit settings (docs/rate-limits.md).

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

#include "mgit/daemon/config.hpp"
#include "mgit/execution/host_limiter.hpp"

namespace mgit::daemon::detail {

/// Declares the host_* options on `app`, bound to `config`.
void declare_rate_limit_options(CLI::App& app, Config& config);

/// One `host_limits` item, `HOST=concurrency:N,per_minute:N,burst:N` (any subset of the
/// three, in any order): the host key (lower-cased) and its limit, where the fields the item
/// does not name come from `defaults`. An error says what is wrong, for people.
tl::expected<std::pair<std::string, execution::HostLimit>, std::string> parse_host_limit(
    std::string_view item, const execution::HostLimit& defaults);

/// `MGITD_HOST_LIMITS` holds several items separated by ';' (each item has commas).
std::vector<std::string> split_host_limits_env(const std::string& text);

/// The scheduler's host settings from `config`; `host_limits` was validated when loaded.
execution::HostLimitSettings host_limit_settings(const Config& config);

}  // namespace mgit::daemon::detail
