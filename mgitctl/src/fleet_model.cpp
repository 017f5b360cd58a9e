#include "fleet_model.hpp"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <tuple>

#include "mgit/security/redaction.hpp"
#include "progress.hpp"

namespace mgit::mgitctl {
namespace {

using namespace std::chrono;

/// Reads exactly `digits` decimal digits at `pos`.
std::optional<int> number(std::string_view text, std::size_t& pos, std::size_t digits) {
  if (pos + digits > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    const char c = text[pos + i];
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  pos += digits;
  return value;
}

bool expect(std::string_view text, std::size_t& pos, std::string_view one_of) {
  if (pos >= text.size() || one_of.find(text[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

std::string member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject() || !object.HasMember(name) || !object[name].IsString()) return {};
  return {object[name].GetString(), object[name].GetStringLength()};
}

int rank(const FleetEntry& entry) { return entry.failing ? 0 : entry.stale ? 1 : 2; }

std::string state_of(const FleetEntry& entry) {
  return entry.failing ? "failing" : entry.stale ? "stale" : "ok";
}

std::string head_of(const FleetEntry& entry) {
  if (entry.head_oid.empty()) return "-";
  std::string ref = entry.head_ref;
  if (ref.rfind("refs/heads/", 0) == 0) ref = ref.substr(11);
  const std::string oid = entry.head_oid.substr(0, 12);
  return ref.empty() ? oid : ref + "@" + oid;
}

}  // namespace

std::optional<SystemTime> parse_rfc3339(std::string_view text) {
  std::size_t pos = 0;
  const auto y = number(text, pos, 4);
  if (!y || !expect(text, pos, "-")) return std::nullopt;
  const auto mo = number(text, pos, 2);
  if (!mo || !expect(text, pos, "-")) return std::nullopt;
  const auto d = number(text, pos, 2);
  if (!d || !expect(text, pos, "Tt ")) return std::nullopt;
  const auto h = number(text, pos, 2);
  if (!h || !expect(text, pos, ":")) return std::nullopt;
  const auto mi = number(text, pos, 2);
  if (!mi || !expect(text, pos, ":")) return std::nullopt;
  const auto s = number(text, pos, 2);
  if (!s || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
  const year_month_day date{year{*y}, month{static_cast<unsigned>(*mo)},
                            day{static_cast<unsigned>(*d)}};
  if (!date.ok()) return std::nullopt;
  nanoseconds fraction{0};
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    long long scale = 100000000;
    const std::size_t first = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos])) != 0) {
      fraction += nanoseconds((text[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == first) return std::nullopt;
  }
  minutes offset{0};
  if (expect(text, pos, "Zz")) {
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    const auto oh = number(text, pos, 2);
    if (!oh || !expect(text, pos, ":")) return std::nullopt;
    const auto om = number(text, pos, 2);
    if (!om) return std::nullopt;
    offset = minutes(sign * (*oh * 60 + *om));
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  const auto local = sys_days(date) + hours(*h) + minutes(*mi) + seconds(*s);
  return time_point_cast<SystemTime::duration>(local - offset + fraction);
}

std::optional<seconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  seconds total{0};
  std::size_t pos = 0;
  while (pos < text.size()) {
    long long value = 0;
    const std::size_t first = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos])) != 0) {
      if (value > 100000000) return std::nullopt;
      value = value * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == first || pos == text.size()) return std::nullopt;  // a number needs its unit
    switch (text[pos]) {
      case 's':
        total += seconds(value);
        break;
      case 'm':
        total += minutes(value);
        break;
      case 'h':
        total += hours(value);
        break;
      case 'd':
        total += hours(24 * value);
        break;
      default:
        return std::nullopt;
    }
    ++pos;
  }
  if (total <= seconds(0)) return std::nullopt;
  return total;
}

bool Fleet::add(std::optional<std::string_view> key, std::string_view value,
                std::int64_t timestamp_ms) {
  rapidjson::Document doc;
  doc.Parse(value.data(), value.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  const std::string status = member(doc, "status");
  if (status.empty()) return false;
  const std::string url =
      doc.HasMember("repository") ? member(doc["repository"], "url") : std::string();
  const std::string target = member(doc, "target");
  // Results are keyed by repository key; an unkeyed one (never from mgitd) falls back on its URL.
  std::string repository_key = key ? security::redact_url(*key) : security::redact_url(url);
  auto& entry = entries_[{repository_key, target}];

  const std::string finished_at = member(doc, "finished_at");
  std::optional<SystemTime> time = parse_rfc3339(finished_at);
  if (!time && timestamp_ms >= 0) time = SystemTime(milliseconds(timestamp_ms));
  ++entry.results;
  // Per key the topic is ordered, but replays and several daemons can interleave: the newest
  // finish wins, and a record without any time counts as newest (it was read last).
  const bool newest = !entry.last_time || !time || *time >= *entry.last_time;
  if (status == "succeeded" &&
      (!entry.last_success_time || !time || *time >= *entry.last_success_time)) {
    entry.last_success_time = time;
    entry.last_success_at = finished_at;
  }
  if (!newest) return true;
  entry.repository_key = std::move(repository_key);
  entry.repository_url = security::redact_url(url);
  entry.target = target;
  entry.last_status = status;
  entry.last_job_id = member(doc, "job_id");
  entry.last_finished_at = finished_at;
  entry.last_time = time;
  if (doc.HasMember("head") && doc["head"].IsObject() && !member(doc["head"], "oid").empty()) {
    entry.head_ref = member(doc["head"], "ref");
    entry.head_oid = member(doc["head"], "oid");
  }
  entry.error_code.clear();
  entry.error_message.clear();
  if (doc.HasMember("error") && doc["error"].IsObject()) {
    entry.error_code = member(doc["error"], "code");
    // Messages never carry secrets by contract; a URL with userinfo is stripped all the same.
    entry.error_message = security::redact_urls_in_text(member(doc["error"], "message"));
  }
  return true;
}

std::vector<FleetEntry> Fleet::rows(SystemTime now, std::optional<seconds> stale_after) const {
  std::vector<FleetEntry> out;
  for (const auto& [id, entry] : entries_) {
    FleetEntry row = entry;
    row.failing = row.last_status != "succeeded";
    row.stale = stale_after.has_value() &&
                (!row.last_success_time || now - *row.last_success_time > *stale_after);
    out.push_back(std::move(row));
  }
  std::stable_sort(out.begin(), out.end(), [](const FleetEntry& a, const FleetEntry& b) {
    return std::tuple(rank(a), a.target, a.repository_key) <
           std::tuple(rank(b), b.target, b.repository_key);
  });
  return out;
}

std::string terminal_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      out += '?';
      ++i;
    } else if (byte < 0x20 || byte == 0x7F) {
      out += '?';
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string render_fleet_table(const std::vector<FleetEntry>& rows, SystemTime now) {
  struct Line {
    std::vector<std::string> cells;
  };
  std::vector<Line> lines;
  lines.push_back({{"STATE", "TARGET", "REPOSITORY", "STATUS", "LAST SUCCESS", "HEAD", "ERROR"}});
  for (const auto& row : rows) {
    std::string success = "never";
    if (row.last_success_time) {
      success = (row.last_success_at.empty() ? std::string("?") : row.last_success_at) + " (" +
                render_duration(now - *row.last_success_time) + " ago)";
    }
    std::string error = "-";
    if (!row.error_code.empty()) {
      error = row.error_code + (row.error_message.empty() ? "" : ": " + row.error_message);
    }
    std::vector<std::string> cells{
        state_of(row),
        row.target.empty() ? "-" : row.target,
        row.repository_url.empty() ? row.repository_key : row.repository_url,
        row.last_status,
        success,
        head_of(row),
        error};
    for (auto& cell : cells) cell = terminal_safe(cell);
    lines.push_back({std::move(cells)});
  }
  std::vector<std::size_t> widths(7, 0);
  for (const auto& line : lines) {
    for (std::size_t i = 0; i < line.cells.size(); ++i) {
      widths[i] = std::max(widths[i], line.cells[i].size());
    }
  }
  std::string out;
  for (const auto& line : lines) {
    for (std::size_t i = 0; i + 1 < line.cells.size(); ++i) {
      out += fmt::format("{:<{}}  ", line.cells[i], widths[i]);
    }
    out += line.cells.back() + "\n";
  }
  return out;
}

std::string render_fleet_json(const std::vector<FleetEntry>& rows) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  const auto str = [&w](const std::string& s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  const auto str_or_null = [&](const std::string& s) {
    if (s.empty()) {
      w.Null();
    } else {
      str(s);
    }
  };
  std::size_t failing = 0;
  std::size_t stale = 0;
  w.StartObject();
  w.Key("repositories");
  w.StartArray();
  for (const auto& row : rows) {
    failing += row.failing ? 1 : 0;
    stale += row.stale ? 1 : 0;
    w.StartObject();
    w.Key("repository_key");
    str(row.repository_key);
    w.Key("repository_url");
    str_or_null(row.repository_url);
    w.Key("target");
    str_or_null(row.target);
    w.Key("state");
    str(state_of(row));
    w.Key("failing");
    w.Bool(row.failing);
    w.Key("stale");
    w.Bool(row.stale);
    w.Key("last_status");
    str(row.last_status);
    w.Key("last_job_id");
    str_or_null(row.last_job_id);
    w.Key("last_finished_at");
    str_or_null(row.last_finished_at);
    w.Key("last_success_at");
    if (row.last_success_time) {
      str_or_null(row.last_success_at);
    } else {
      w.Null();
    }
    w.Key("head");
    if (row.head_oid.empty()) {
      w.Null();
    } else {
      w.StartObject();
      w.Key("ref");
      str_or_null(row.head_ref);
      w.Key("oid");
      str(row.head_oid);
      w.EndObject();
    }
    w.Key("error");
    if (row.error_code.empty()) {
      w.Null();
    } else {
      w.StartObject();
      w.Key("code");
      str(row.error_code);
      w.Key("message");
      str(row.error_message);
      w.EndObject();
    }
    w.Key("results");
    w.Uint64(row.results);
    w.EndObject();
  }
  w.EndArray();
  w.Key("total");
  w.Uint64(rows.size());
  w.Key("failing");
  w.Uint64(failing);
  w.Key("stale");
  w.Uint64(stale);
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace mgit::mgitctl
