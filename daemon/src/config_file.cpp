#include "config_file.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string_view>
#include <tuple>

#include "mgit/basics/ascii.hpp"

namespace mgit::daemon::detail {
namespace {

constexpr std::string_view kConfigKey = "config";
// Grouping keys in tables would give every key two spellings; one flat list matches the flags,
// the environment and the Helm values.
constexpr std::string_view kFlatHint =
    " (the config file is flat: key = value lines, no [tables] or dotted keys)";

std::string_view describe_type(toml::node_type type) {
  switch (type) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "an unknown value";
}

std::string_view describe_kind(ValueKind kind) {
  switch (kind) {
    case ValueKind::kString:
      return "a string (in quotes)";
    case ValueKind::kInteger:
      return "an integer";
    case ValueKind::kBoolean:
      return "a boolean (true or false)";
    case ValueKind::kStringArray:
      return "an array of strings";
  }
  return "a value";
}

/// toml++ numbers lines from 1; 0 means it recorded no position.
int line_of(const toml::source_region& region, int fallback) {
  return region.begin.line == 0 ? fallback : static_cast<int>(region.begin.line);
}

[[noreturn]] void fail(const std::string& path, int line, std::string_view what) {
  throw ConfigError(fmt::format("config file {} line {}: {}", path, line, what));
}

/// The value of `node` as option text; fails unless its TOML type is `kind`, so `workers =
/// "4"` is as wrong as `workers = 4.5` (TOML has the types, the file should use them).
std::vector<std::string> option_values(const std::string& path, const std::string& key, int line,
                                       ValueKind kind, const toml::node& node) {
  switch (kind) {
    case ValueKind::kString:
      if (const auto* text = node.as_string()) return {text->get()};
      break;
    case ValueKind::kInteger:
      if (const auto* number = node.as_integer()) return {std::to_string(number->get())};
      break;
    case ValueKind::kBoolean:
      if (const auto* flag = node.as_boolean()) return {flag->get() ? "true" : "false"};
      break;
    case ValueKind::kStringArray:
      if (const auto* array = node.as_array()) {
        std::vector<std::string> values;
        for (const auto& item : *array) {
          const auto* text = item.as_string();
          if (text == nullptr) {
            fail(path, line_of(item.source(), line),
                 fmt::format("'{}' takes {}, but an element is {}", key, describe_kind(kind),
                             describe_type(item.type())));
          }
          values.push_back(text->get());
        }
        return values;
      }
      break;
  }
  fail(path, line,
       fmt::format("'{}' takes {}, not {}{}", key, describe_kind(kind), describe_type(node.type()),
                   node.is_table() ? kFlatHint : ""));
}

/// Files written before mgitd read real TOML had bare words (`log_level = info`) and `on`/`off`;
/// toml++ then talks about floats or value types, so say what to write instead.
std::string_view bare_word_hint(const std::string& text, int line) {
  std::istringstream lines(text);
  std::string current;
  for (int i = 0; i < line; ++i) {
    if (!std::getline(lines, current)) return {};
  }
  const auto eq = current.find('=');
  if (eq == std::string::npos) return {};
  const std::string_view value = basics::trim(std::string_view(current).substr(eq + 1), " \t\r");
  if (value.empty() || std::isalpha(static_cast<unsigned char>(value.front())) == 0 ||
      value.starts_with("true") || value.starts_with("false")) {
    return {};
  }
  return " (strings need quotes: key = \"value\"; booleans are true or false)";
}

toml::table parse_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("config file {}: cannot be read", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  try {
    return toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const int line = line_of(e.source(), 1);
    fail(path, line,
         fmt::format("not valid TOML: {}{}", e.description(), bare_word_hint(text, line)));
  }
}

}  // namespace

std::vector<FileSetting> read_config_file(const std::string& path,
                                          const std::vector<KeySpec>& keys) {
  const toml::table table = parse_file(path);
  // toml++ keeps keys sorted by name; check them in file order so the first problem in the
  // file is the one reported.
  std::vector<std::tuple<int, std::string, const toml::node*>> entries;
  for (const auto& [name, node] : table) {
    entries.emplace_back(line_of(name.source(), line_of(node.source(), 0)), name.str(), &node);
  }
  std::sort(entries.begin(), entries.end());

  std::vector<FileSetting> settings;
  for (const auto& [line, key, node] : entries) {
    if (key == kConfigKey) fail(path, line, "'config' cannot be set inside a config file");
    const auto spec = std::find_if(keys.begin(), keys.end(),
                                   [&key = key](const KeySpec& known) { return known.key == key; });
    if (spec == keys.end()) {
      if (node->is_table()) fail(path, line, fmt::format("'{}' is a table{}", key, kFlatHint));
      const bool dashed = key.find('-') != std::string::npos;
      fail(path, line,
           fmt::format("unknown key '{}'{}", key,
                       dashed ? " (config keys use underscores: x_y)" : ""));
    }
    settings.push_back({key, option_values(path, key, line, spec->kind, *node), line});
  }
  return settings;
}

}  // namespace mgit::daemon::detail
