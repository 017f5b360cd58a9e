#include "rate_limit.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <ctime>

#include "mgit/basics/ascii.hpp"

namespace mgit::discovery {

namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

constexpr seconds kSlack{1};
constexpr seconds kSecondaryDefault{60};
/// Below this a reset value is a delta (seconds), above it a Unix time (2001-09-09).
constexpr std::int64_t kEpochThreshold = 1'000'000'000;
/// Longer than any real reset; a larger value is nonsense (and would overflow).
constexpr std::int64_t kMaxSeconds = std::int64_t{10} * 365 * 24 * 3600 + kEpochThreshold * 3;

std::optional<std::int64_t> parse_count(std::optional<std::string_view> text) {
  if (!text) return std::nullopt;
  std::string_view value = *text;
  while (!value.empty() && basics::is_ascii_space(value.front())) value.remove_prefix(1);
  while (!value.empty() && basics::is_ascii_space(value.back())) value.remove_suffix(1);
  if (value.empty() || value.size() > 12) return std::nullopt;
  std::int64_t result = 0;
  for (const char c : value) {
    if (!basics::is_ascii_digit(c)) return std::nullopt;
    result = result * 10 + (c - '0');
  }
  if (result > kMaxSeconds) return std::nullopt;
  return result;
}

std::optional<std::string_view> first_of(const ApiResponse& response, std::string_view a,
                                         std::string_view b) {
  if (auto value = response.header(a)) return value;
  return response.header(b);
}

/// The reset time of X-RateLimit-Reset / RateLimit-Reset.
std::optional<system_clock::time_point> reset_time(const ApiResponse& response,
                                                   system_clock::time_point now) {
  const auto value = parse_count(first_of(response, "x-ratelimit-reset", "ratelimit-reset"));
  if (!value) return std::nullopt;
  if (*value < kEpochThreshold) return now + seconds(*value);
  return system_clock::time_point(seconds(*value));
}

bool remaining_zero(const ApiResponse& response) {
  const auto value =
      parse_count(first_of(response, "x-ratelimit-remaining", "ratelimit-remaining"));
  return value && *value == 0;
}

std::optional<std::chrono::milliseconds> retry_after(const ApiResponse& response,
                                                     system_clock::time_point now) {
  const auto header = response.header("retry-after");
  if (!header) return std::nullopt;
  if (const auto delay = parse_count(header)) return seconds(*delay);
  if (const auto date = parse_http_date(*header)) {
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(*date - now),
                    std::chrono::milliseconds(0));
  }
  return std::nullopt;
}

bool secondary_limit_message(const ApiResponse& response) {
  // GitHub: 403 {"message": "You have exceeded a secondary rate limit…"}.
  return response.status == 403 && response.body.find("secondary rate limit") != std::string::npos;
}

int month_index(std::string_view name) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (kMonths[i] == name) return static_cast<int>(i);
  }
  return -1;
}

bool digits(std::string_view text, std::size_t count, int& value) {
  if (text.size() != count) return false;
  value = 0;
  for (const char c : text) {
    if (!basics::is_ascii_digit(c)) return false;
    value = value * 10 + (c - '0');
  }
  return true;
}

std::string fmt_reason(int status, std::string_view what) {
  return fmt::format("HTTP {}, {}", status, what);
}

}  // namespace

std::optional<system_clock::time_point> parse_http_date(std::string_view text) {
  // "Wed, 21 Oct 2015 07:28:00 GMT": fixed positions.
  if (text.size() != 29 || text.substr(3, 2) != ", " || text.substr(25) != " GMT") {
    return std::nullopt;
  }
  std::tm tm{};
  int day = 0;
  int year = 0;
  if (!digits(text.substr(5, 2), 2, day) || text[7] != ' ' ||
      !digits(text.substr(12, 4), 4, year) || text[16] != ' ' || text[19] != ':' ||
      text[22] != ':' || !digits(text.substr(17, 2), 2, tm.tm_hour) ||
      !digits(text.substr(20, 2), 2, tm.tm_min) || !digits(text.substr(23, 2), 2, tm.tm_sec)) {
    return std::nullopt;
  }
  tm.tm_mon = month_index(text.substr(8, 3));
  if (tm.tm_mon < 0 || text[11] != ' ' || day < 1 || day > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  // system_clock counts nanoseconds here (about 1678..2262): a date outside is nonsense and
  // would overflow the conversion below.
  if (year < 1970 || year > 2200) return std::nullopt;
  tm.tm_mday = day;
  tm.tm_year = year - 1900;
  const std::time_t seconds_since_epoch = timegm(&tm);
  if (seconds_since_epoch == static_cast<std::time_t>(-1)) return std::nullopt;
  return system_clock::from_time_t(seconds_since_epoch);
}

std::optional<RateLimitWait> rate_limit_wait(const ApiResponse& response,
                                             system_clock::time_point now) {
  const bool limited =
      response.status == 429 ||
      (response.status == 403 && (remaining_zero(response) || response.header("retry-after") ||
                                  secondary_limit_message(response)));
  if (!limited) return std::nullopt;
  RateLimitWait result;
  if (const auto delay = retry_after(response, now)) {
    // At least a second: `Retry-After: 0` (or a date already past) must not turn the retries
    // into a burst against an API that just said it is overloaded.
    result.wait = std::max(*delay, std::chrono::milliseconds(1000));
    result.reason = fmt_reason(response.status, "Retry-After");
  } else if (const auto reset = reset_time(response, now)) {
    result.wait = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(*reset - now),
                           std::chrono::milliseconds(0)) +
                  kSlack;
    result.reason = fmt_reason(response.status, "rate limit reset");
  } else {
    result.wait = kSecondaryDefault;
    result.reason = fmt_reason(response.status, "no reset given");
  }
  return result;
}

std::optional<system_clock::time_point> exhausted_until(const ApiResponse& response,
                                                        system_clock::time_point now) {
  if (!remaining_zero(response)) return std::nullopt;
  const auto reset = reset_time(response, now);
  if (!reset) return std::nullopt;
  return *reset + kSlack;
}

}  // namespace mgit::discovery
