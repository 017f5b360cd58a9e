#include "ref_backup_names.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <tuple>

#include "mgit/basics/ascii.hpp"

namespace mgit::git {
namespace {

using std::chrono::system_clock;

constexpr std::size_t kStampSize = 16;  // 20261206T114501Z

// Howard Hinnant's days_from_civil / civil_from_days: no timegm, no locale, no TZ.
std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yoe) + static_cast<int>(era) * 400 + (m <= 2 ? 1 : 0);
}

bool digits(std::string_view text, int& out) {
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<system_clock::time_point> parse_stamp(std::string_view s) {
  if (s.size() != kStampSize || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!digits(s.substr(0, 4), year) || !digits(s.substr(4, 2), month) ||
      !digits(s.substr(6, 2), day) || !digits(s.substr(9, 2), hour) ||
      !digits(s.substr(11, 2), minute) || !digits(s.substr(13, 2), second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return system_clock::time_point(std::chrono::seconds(days * 86400 + std::int64_t{hour} * 3600 +
                                                       std::int64_t{minute} * 60 + second));
}

}  // namespace

std::string backup_stamp(system_clock::time_point at) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
  const std::int64_t days = (seconds >= 0 ? seconds : seconds - 86399) / 86400;
  const std::int64_t of_day = seconds - days * 86400;
  int year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civil_from_days(days, year, month, day);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", year, month, day, of_day / 3600,
                     of_day / 60 % 60, of_day % 60);
}

std::string backup_ref_name(std::string_view ref, std::string_view stamp, int sequence) {
  return sequence > 0 ? fmt::format("{}{}/{}-{}", kBackupNamespace, ref, stamp, sequence)
                      : fmt::format("{}{}/{}", kBackupNamespace, ref, stamp);
}

std::optional<BackupName> parse_backup_ref(std::string_view name) {
  if (!basics::starts_with(name, kBackupNamespace)) return std::nullopt;
  const std::string_view rest = name.substr(kBackupNamespace.size());
  const auto slash = rest.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  const std::string_view ref = rest.substr(0, slash);
  std::string_view last = rest.substr(slash + 1);
  int sequence = 0;
  if (last.size() > kStampSize) {
    if (last[kStampSize] != '-' || !digits(last.substr(kStampSize + 1), sequence) ||
        sequence <= 0) {
      return std::nullopt;
    }
    last = last.substr(0, kStampSize);
  }
  const auto taken = parse_stamp(last);
  if (!taken || !basics::starts_with(ref, "refs/")) return std::nullopt;
  return BackupName{std::string(name), std::string(ref), *taken, sequence};
}

std::vector<std::string> expired_backups(const std::vector<BackupName>& backups,
                                         const BackupRetention& retention,
                                         system_clock::time_point now,
                                         const std::vector<std::string>& protect) {
  const auto is_protected = [&](const std::string& name) {
    return std::find(protect.begin(), protect.end(), name) != protect.end();
  };
  std::map<std::string, std::vector<const BackupName*>> by_ref;
  for (const BackupName& backup : backups) by_ref[backup.ref].push_back(&backup);
  std::vector<std::string> expired;
  for (auto& [ref, list] : by_ref) {
    // Newest first: protected ones, then by time and sequence.
    std::sort(list.begin(), list.end(), [&](const BackupName* a, const BackupName* b) {
      return std::make_tuple(!is_protected(a->name), b->taken, b->sequence) <
             std::make_tuple(!is_protected(b->name), a->taken, a->sequence);
    });
    for (std::size_t i = 0; i < list.size(); ++i) {
      const BackupName& backup = *list[i];
      if (is_protected(backup.name)) continue;
      const bool too_many = retention.keep > 0 && i >= static_cast<std::size_t>(retention.keep);
      const bool too_old = retention.max_age.count() > 0 && now - backup.taken > retention.max_age;
      if (too_many || too_old) expired.push_back(backup.name);
    }
  }
  return expired;
}

}  // namespace mgit::git
