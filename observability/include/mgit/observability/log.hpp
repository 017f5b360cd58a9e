#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "mgit/observability/job_context.hpp"

namespace mgit::observability {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

/// Parses `trace|debug|info|warn|error`; nothing for anything else.
std::optional<LogLevel> parse_log_level(std::string_view text);

/// A value that is already valid JSON (an object from `describe_config`, say), written as is.
struct RawJson {
  std::string_view json;
};

struct LogField {
  std::string_view key;
  std::variant<std::string_view, std::int64_t, double, bool, RawJson> value;

  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, std::int64_t v) : key(k), value(v) {}
  LogField(std::string_view k, int v) : key(k), value(static_cast<std::int64_t>(v)) {}
  LogField(std::string_view k, unsigned v) : key(k), value(static_cast<std::int64_t>(v)) {}
  LogField(std::string_view k, std::size_t v) : key(k), value(static_cast<std::int64_t>(v)) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
  LogField(std::string_view k, RawJson v) : key(k), value(v) {}
};

using LogFields = std::initializer_list<LogField>;

/// kDirect: one write(2) per line. kBuffered: info and lower lines are written together a few
/// ms later by a flusher thread (a busy event loop pays an append, not a system call, per
/// line); a warn or error line is written at once with everything before it, and exit
/// writes out the rest.
enum class LogOutput { kDirect, kBuffered };

/// Installs the process-wide JSON-lines logger (stdout). Safe to call again to change level.
void init_logging(LogLevel level, LogOutput output = LogOutput::kDirect);
/// Writes out buffered lines now (before an exit that skips atexit handlers, say).
void flush_logs();
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);

/// One JSON object per line: ts, level, msg, then the fields. Thread-safe.
void log(LogLevel level, std::string_view msg, LogFields fields = {});
/// Same, with correlation_id, job_id, trace_id and span_id of the job.
void log(LogLevel level, const JobContext& ctx, std::string_view msg, LogFields fields = {});

}  // namespace mgit::observability
