// RFC 3339 timestamps, as `not_after` carries them.
#include "rfc3339.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace mgit::jobs {
namespace {

JobError invalid_job(std::string message) { return {ErrorCode::kInvalidJob, std::move(message)}; }

std::optional<int> read_digits(std::string_view text, std::size_t pos, std::size_t count) {
  if (pos + count > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : kDays[month - 1];
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(int year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * static_cast<unsigned>(month + (month > 2 ? -3 : 9)) + 2) / 5 +
                       static_cast<unsigned>(day) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

tl::expected<std::chrono::system_clock::time_point, JobError> parse_rfc3339(std::string_view text) {
  const auto malformed = [] {
    return tl::unexpected(
        invalid_job("not_after: must be an RFC 3339 timestamp such as 2026-11-23T10:00:00Z"));
  };
  // YYYY-MM-DDTHH:MM:SS
  const auto year = read_digits(text, 0, 4);
  const auto month = read_digits(text, 5, 2);
  const auto day = read_digits(text, 8, 2);
  const auto hour = read_digits(text, 11, 2);
  const auto minute = read_digits(text, 14, 2);
  const auto second = read_digits(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return malformed();
  }
  // 60 is a leap second; it simply counts into the next minute.
  if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month) || *hour > 23 ||
      *minute > 59 || *second > 60) {
    return malformed();
  }
  // system_clock counts nanoseconds in 64 bits on libstdc++: about 1678 to 2262.
  if (*year < 1970 || *year > 2200) {
    return tl::unexpected(invalid_job("not_after: year must be between 1970 and 2200"));
  }
  std::size_t pos = 19;
  std::int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    std::int64_t scale = 100000000;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      nanos += (text[pos] - '0') * scale;  // digits past nanoseconds add 0
      scale /= 10;
      ++pos;
    }
    if (pos == start) return malformed();
  }
  std::int64_t offset_seconds = 0;
  if (pos >= text.size()) return malformed();
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    const auto offset_hour = read_digits(text, pos + 1, 2);
    const auto offset_minute = read_digits(text, pos + 4, 2);
    if (!offset_hour || !offset_minute || text[pos + 3] != ':' || *offset_hour > 23 ||
        *offset_minute > 59) {
      return malformed();
    }
    offset_seconds = (std::int64_t{*offset_hour} * 3600 + std::int64_t{*offset_minute} * 60) *
                     (text[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return malformed();
  }
  if (pos != text.size()) return malformed();
  const std::int64_t seconds = days_from_civil(*year, *month, *day) * 86400 +
                               std::int64_t{*hour} * 3600 + std::int64_t{*minute} * 60 + *second -
                               offset_seconds;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(seconds) + std::chrono::nanoseconds(nanos)));
}

}  // namespace mgit::jobs
