#pragma once

// Private to daemon_core: the option table shared by every configuration source.

#include <CLI/CLI.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mgit/daemon/config.hpp"

namespace mgit::daemon::detail {

/// What the config sources trim around keys and values.
inline constexpr std::string_view kBlanks = " \t\r\n";

/// A configuration problem found while loading; caught once in load_config.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The TOML type a config-file key takes.
enum class ValueKind { kString, kInteger, kBoolean, kStringArray };

struct KeySpec {
  std::string key;  ///< `x_y`
  ValueKind kind;
};

/// `max_in_flight` (config key) -> `MGITD_MAX_IN_FLIGHT`.
std::string env_name(std::string_view key);

/// `max_in_flight` -> `max-in-flight` (the long flag name without dashes).
std::string flag_name(std::string_view key);

/// Declares every option on `app`, bound to `config`. Used once per source so an invalid value
/// is reported with the source it came from; parsing writes only the options present.
void declare_options(CLI::App& app, Config& config);

/// Every configurable key in declaration order, with its type, from an App built like the
/// real one (so the list cannot drift from the options).
std::vector<KeySpec> configurable_keys();

}  // namespace mgit::daemon::detail
