#include "mgit/audit/audit_event.hpp"

#include <fmt/format.h>

#include <ctime>

#include "mgit/basics/json_escape.hpp"
#include "mgit/security/redaction.hpp"

namespace mgit::audit {
namespace {

void append_string(std::string& out, std::string_view name, std::string_view value) {
  out += ",\"";
  basics::append_json_escaped(out, name);
  out += "\":\"";
  basics::append_json_escaped(out, value);
  out += '"';
}

std::string timestamp(std::chrono::system_clock::time_point ts) {
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(ts.time_since_epoch()).count();
  const auto seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                     millis % 1000);
}

}  // namespace

std::string encode(const AuditEvent& event) {
  std::string out = R"({"ts":")" + timestamp(event.ts) + R"(")";
  append_string(out, "event", event.event);
  append_string(out, "outcome", event.outcome);
  append_string(out, "correlation_id", event.correlation_id);
  append_string(out, "job_id", event.job_id);
  append_string(out, "trace_id", event.trace_id);
  for (const auto& field : event.fields) {
    if (const auto* text = std::get_if<std::string>(&field.value)) {
      append_string(out, field.name, security::redact_urls_in_text(*text));
      continue;
    }
    out += ",\"";
    basics::append_json_escaped(out, field.name);
    out += "\":";
    if (const auto* number = std::get_if<std::int64_t>(&field.value)) {
      out += std::to_string(*number);
    } else if (const auto* flag = std::get_if<bool>(&field.value)) {
      out += *flag ? "true" : "false";
    } else {
      out += std::get<RawJson>(field.value).json;
    }
  }
  out += '}';
  return out;
}

}  // namespace mgit::audit
