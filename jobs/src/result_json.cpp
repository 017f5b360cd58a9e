// Serialization of `mgit.sync-result/v1`.
#include "mgit/jobs/result_json.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "mgit/security/redaction.hpp"

namespace mgit::jobs {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(Writer& writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void write_key(Writer& writer, std::string_view key) { write_string(writer, key); }

void write_string_or_null(Writer& writer, std::string_view text) {
  if (text.empty()) {
    writer.Null();
  } else {
    write_string(writer, text);
  }
}

/// Civil date of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
void civil_from_days(std::int64_t days, int& year, unsigned& month, unsigned& day) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  day = doy - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0));
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-23T09:41:07.512Z`.
std::string format_timestamp(std::chrono::system_clock::time_point time) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  const std::int64_t ms = duration_cast<milliseconds>(time.time_since_epoch()).count();
  // Floor division so instants before 1970 still land on the right day.
  std::int64_t days = ms / 86400000;
  std::int64_t ms_of_day = ms % 86400000;
  if (ms_of_day < 0) {
    ms_of_day += 86400000;
    --days;
  }
  int year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civil_from_days(days, year, month, day);
  const auto seconds_of_day = ms_of_day / 1000;
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", year, month, day,
                static_cast<int>(seconds_of_day / 3600), static_cast<int>(seconds_of_day / 60 % 60),
                static_cast<int>(seconds_of_day % 60), static_cast<int>(ms_of_day % 1000));
  return buffer;
}

/// Serializes with the first `kept_refs` of `refs_updated`; `truncated` adds the total.
std::string serialize(const JobResult& result, std::size_t kept_refs, bool truncated) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  write_key(writer, "schema");
  write_string(writer, "mgit.sync-result/v1");
  write_key(writer, "job_id");
  write_string(writer, result.job_id);
  write_key(writer, "correlation_id");
  write_string(writer, result.correlation_id);
  write_key(writer, "trace_id");
  write_string(writer, result.trace_id);
  write_key(writer, "status");
  write_string(writer, to_string(result.status));

  write_key(writer, "error");
  if (result.error) {
    writer.StartObject();
    write_key(writer, "code");
    write_string(writer, to_string(result.error->code));
    write_key(writer, "message");
    write_string(writer, result.error->message);
    write_key(writer, "retryable");
    writer.Bool(result.error->retryable());
    writer.EndObject();
  } else {
    writer.Null();
  }

  write_key(writer, "operation");
  if (result.operation) {
    write_string(writer, to_string(*result.operation));
  } else {
    writer.Null();
  }

  write_key(writer, "repository");
  writer.StartObject();
  write_key(writer, "url");
  write_string(writer, security::redact_url(result.repository_url));
  writer.EndObject();

  write_key(writer, "target");
  write_string_or_null(writer, result.target);

  const ExecutionReport& report = result.report;
  write_key(writer, "head");
  if (report.head_ref.empty() && report.head_oid.empty()) {
    writer.Null();
  } else {
    writer.StartObject();
    write_key(writer, "ref");
    write_string_or_null(writer, report.head_ref);  // null for a detached HEAD
    write_key(writer, "oid");
    write_string_or_null(writer, report.head_oid);
    writer.EndObject();
  }

  write_key(writer, "refs_updated");
  writer.StartArray();
  for (std::size_t i = 0; i < kept_refs && i < report.refs_updated.size(); ++i) {
    const RefUpdate& update = report.refs_updated[i];
    writer.StartObject();
    write_key(writer, "ref");
    write_string(writer, update.ref);
    write_key(writer, "old");
    write_string_or_null(writer, update.old_oid);  // null: created
    write_key(writer, "new");
    write_string_or_null(writer, update.new_oid);  // null: deleted
    // Only when set, like `recloned`: v1 consumers that do not know them see no change.
    if (update.forced) {
      write_key(writer, "forced");
      writer.Bool(true);
    }
    if (!update.backup_ref.empty()) {
      write_key(writer, "backup_ref");
      write_string(writer, update.backup_ref);
    }
    writer.EndObject();
  }
  writer.EndArray();
  if (truncated) {
    write_key(writer, "refs_updated_total");
    writer.Uint64(report.refs_updated.size());
  }
  // Only when set: an optional field consumers of v1 may not know.
  if (report.recloned) {
    write_key(writer, "recloned");
    writer.Bool(true);
  }
  if (!result.served_by.empty()) {
    write_key(writer, "served_by");
    write_string(writer, result.served_by);
  }

  write_key(writer, "stats");
  writer.StartObject();
  write_key(writer, "received_objects");
  writer.Uint64(report.received_objects);
  write_key(writer, "received_bytes");
  writer.Uint64(report.received_bytes);
  write_key(writer, "queue_ms");
  writer.Int64(result.queue_ms);
  write_key(writer, "duration_ms");
  writer.Int64(result.duration_ms);
  writer.EndObject();

  write_key(writer, "attempts");
  writer.Int(result.attempts);
  write_key(writer, "worker");
  write_string(writer, result.worker);

  write_key(writer, "source");
  if (result.source.topic.empty()) {
    writer.Null();
  } else {
    writer.StartObject();
    write_key(writer, "topic");
    write_string(writer, result.source.topic);
    write_key(writer, "partition");
    writer.Int(result.source.partition);
    write_key(writer, "offset");
    writer.Int64(result.source.offset);
    writer.EndObject();
  }

  write_key(writer, "finished_at");
  write_string(writer, format_timestamp(result.finished_at));
  writer.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace

std::string result_to_json(const JobResult& result, std::size_t max_bytes) {
  const std::size_t total = result.report.refs_updated.size();
  std::string full = serialize(result, total, false);
  if (full.size() <= max_bytes || total == 0) return full;

  // The size grows with every kept ref, so the largest count that fits is found by
  // bisection: [low] always fits (or is 0), [high] never does.
  std::size_t low = 0;
  std::size_t high = total;
  std::string best = serialize(result, 0, true);
  while (high - low > 1) {
    const std::size_t middle = low + (high - low) / 2;
    std::string candidate = serialize(result, middle, true);
    if (candidate.size() <= max_bytes) {
      low = middle;
      best = std::move(candidate);
    } else {
      high = middle;
    }
  }
  // When not even an empty list fits, the smallest event is still the best answer: the
  // caller's fallback (a minimal `failed` result) handles a produce that fails on size.
  return best;
}

}  // namespace mgit::jobs
