#include "mgit/observability/log.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "log_writer.hpp"
#include "mgit/basics/json_escape.hpp"

namespace mgit::observability {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

detail::LogWriter& writer() {
  // Never destroyed: a static destructor may still log after this one would have run. Exit
  // writes out what is buffered.
  static detail::LogWriter* const instance = [] {
    auto* created = new detail::LogWriter();
    std::atexit([] { flush_logs(); });
    return created;
  }();
  return *instance;
}

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void append_string_field(std::string& line, std::string_view key, std::string_view value) {
  line += ",\"";
  basics::append_json_escaped(line, key);
  line += "\":\"";
  basics::append_json_escaped(line, value);
  line += '"';
}

void append_field(std::string& line, const LogField& field) {
  if (const auto* text = std::get_if<std::string_view>(&field.value)) {
    append_string_field(line, field.key, *text);
    return;
  }
  line += ",\"";
  basics::append_json_escaped(line, field.key);
  line += "\":";
  if (const auto* number = std::get_if<std::int64_t>(&field.value)) {
    line += fmt::format("{}", *number);
  } else if (const auto* real = std::get_if<double>(&field.value)) {
    line += std::isfinite(*real) ? fmt::format("{}", *real) : std::string("null");
  } else if (const auto* raw = std::get_if<RawJson>(&field.value)) {
    line += raw->json;
  } else {
    line += std::get<bool>(field.value) ? "true" : "false";
  }
}

void emit(LogLevel level, const JobContext* ctx, std::string_view msg, LogFields fields) {
  if (!log_enabled(level)) return;
  const auto now =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  std::string line;
  line.reserve(256);
  line += fmt::format(R"({{"ts":"{:%Y-%m-%dT%H:%M:%S}Z")", now);
  append_string_field(line, "level", level_name(level));
  append_string_field(line, "msg", msg);
  if (ctx != nullptr) {
    append_string_field(line, "correlation_id", ctx->correlation_id);
    append_string_field(line, "job_id", ctx->job_id);
    append_string_field(line, "trace_id", ctx->trace_id);
    append_string_field(line, "span_id", ctx->span_id);
  }
  for (const auto& field : fields) append_field(line, field);
  line += '}';
  writer().write(line, level >= LogLevel::kWarn);
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view text) {
  if (text == "trace") return LogLevel::kTrace;
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "warn" || text == "warning") return LogLevel::kWarn;
  if (text == "error") return LogLevel::kError;
  return std::nullopt;
}

void init_logging(LogLevel level, LogOutput output) {
  writer().set_buffered(output == LogOutput::kBuffered);
  set_log_level(level);
}

void flush_logs() { writer().flush(); }

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool log_enabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void log(LogLevel level, std::string_view msg, LogFields fields) {
  emit(level, nullptr, msg, fields);
}

void log(LogLevel level, const JobContext& ctx, std::string_view msg, LogFields fields) {
  emit(level, &ctx, msg, fields);
}

}  // namespace mgit::observability
