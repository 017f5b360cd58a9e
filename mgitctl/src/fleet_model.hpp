#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mgit::mgitctl {

using SystemTime = std::chrono::system_clock::time_point;

/// `2026-11-23T09:41:07.512Z`, `2026-11-23T10:41:07+01:00` (RFC 3339, `T` or space); nothing
/// when it is not one.
std::optional<SystemTime> parse_rfc3339(std::string_view text);

/// `90s`, `30m`, `24h`, `7d`, `1h30m`: a positive duration; nothing when malformed.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

/// The newest result seen for one repository and target, and its last success.
struct FleetEntry {
  std::string repository_key;  ///< the record key (the daemon keys results by repository)
  std::string repository_url;  ///< redacted
  std::string target;
  std::string last_status;
  std::string last_job_id;
  std::string last_finished_at;  ///< as the result spells it
  std::optional<SystemTime> last_time;
  std::string last_success_at;
  std::optional<SystemTime> last_success_time;
  std::string head_ref;  ///< of the newest result that reported a head
  std::string head_oid;
  std::string error_code;     ///< of the newest result; empty when it has none
  std::string error_message;  ///< redacted
  std::size_t results = 0;
  // Filled by rows().
  bool failing = false;
  bool stale = false;
};

/// Folds result events into one entry per (repository key, target). Not thread-safe.
class Fleet {
 public:
  /// One record of the results topic: its key, value and broker timestamp (ms since the epoch,
  /// used when the result has no readable `finished_at`). Returns false for a value that is
  /// not a result object (skipped).
  bool add(std::optional<std::string_view> key, std::string_view value, std::int64_t timestamp_ms);

  /// Failing first, then stale, then the rest; by target and key within each. A repository is
  /// failing when its newest result is not `succeeded`, stale when `stale_after` is set and its
  /// last success is older than that (or it never succeeded).
  [[nodiscard]] std::vector<FleetEntry> rows(SystemTime now,
                                             std::optional<std::chrono::seconds> stale_after) const;

 private:
  std::map<std::pair<std::string, std::string>, FleetEntry> entries_;
};

/// Aligned columns for a terminal: STATE TARGET REPOSITORY STATUS LAST-SUCCESS HEAD ERROR.
std::string render_fleet_table(const std::vector<FleetEntry>& rows, SystemTime now);

/// Text as a terminal may be shown it: results carry text a remote (or whoever can write the
/// results topic) chose, libgit2 quoting a server's ERR packet, so control characters (C0,
/// DEL, and C1 in UTF-8: escape sequences that could retitle the window, rewrite the
/// clipboard or hide lines) become '?'.
std::string terminal_safe(std::string_view text);

/// One JSON document: {"repositories":[…],"total":N,"failing":N,"stale":N}.
std::string render_fleet_json(const std::vector<FleetEntry>& rows);

}  // namespace mgit::mgitctl
