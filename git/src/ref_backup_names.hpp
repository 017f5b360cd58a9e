#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mgit::git {

/// Where backups live: `refs/mgitd/backup/<ref>/<stamp>`, e.g.
/// `refs/mgitd/backup/refs/heads/main/20261206T114501Z`; a second backup of the same ref in
/// the same second gets `-1`, `-2`, … after the stamp.
inline constexpr std::string_view kBackupNamespace = "refs/mgitd/backup/";

/// `20261206T114501Z` (UTC, seconds).
std::string backup_stamp(std::chrono::system_clock::time_point at);

/// The backup name for `ref` at `stamp`, with `-<sequence>` when sequence > 0.
std::string backup_ref_name(std::string_view ref, std::string_view stamp, int sequence = 0);

/// A backup ref's parts; parsed from the name alone, so retention needs no reflog.
struct BackupName {
  std::string name;  ///< the full backup ref
  std::string ref;   ///< the ref it backs up
  std::chrono::system_clock::time_point taken;
  int sequence = 0;
};
/// nullopt for anything under the namespace that is not `<ref>/<stamp>[-n]`.
std::optional<BackupName> parse_backup_ref(std::string_view name);

/// Retention per backed-up ref: keep at most `keep` backups (the newest), none older than
/// `max_age`; 0 switches a limit off.
struct BackupRetention {
  int keep = 0;
  std::chrono::hours max_age{0};
};

/// The backups (full names) `retention` removes at `now`, among `backups` (any refs, any
/// order). Names in `protect` (the backups this job just made) are never chosen and count
/// as the newest of their ref.
std::vector<std::string> expired_backups(const std::vector<BackupName>& backups,
                                         const BackupRetention& retention,
                                         std::chrono::system_clock::time_point now,
                                         const std::vector<std::string>& protect);

}  // namespace mgit::git
