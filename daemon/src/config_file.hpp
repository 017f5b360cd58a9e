#pragma once

// Private to daemon_core: reading the TOML config file.

#include <string>
#include <vector>

#include "config_options.hpp"

namespace mgit::daemon::detail {

/// One key of the config file: its values as option text (`4`, `true`, `a=b`), ready for the
/// same CLI11 options as flags and environment, and the line it was written on.
struct FileSetting {
  std::string key;
  std::vector<std::string> values;
  int line = 0;
};

/// Reads the flat TOML file at `path`, in file order. Throws ConfigError naming the file, the
/// line and the key for unreadable files, TOML syntax errors, unknown keys, tables and values
/// of the wrong type. Ranges and formats are left to the options (the same for every source).
std::vector<FileSetting> read_config_file(const std::string& path,
                                          const std::vector<KeySpec>& keys);

}  // namespace mgit::daemon::detail
