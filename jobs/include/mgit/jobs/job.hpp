#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mgit::jobs {

enum class Operation { kClone, kFetch, kSync, kMirror };

std::string_view to_string(Operation operation);
std::optional<Operation> parse_operation(std::string_view text);

struct JobOptions {
  bool prune = true;
  bool bare = false;
  int depth = 0;
  std::optional<int> timeout_seconds;  ///< unset: the daemon's `job_timeout_seconds`
  bool submodules = false;
  /// `options.ref_backup`: false turns the force-push safety net's backups off for this job
  /// (the daemon's `ref_backup` can only turn them off, not on).
  bool ref_backup = true;
};

/// A validated `mgit.sync-job/v1`. Every field has passed validation; `repository_key`
/// and `target` are derived and normalized.
struct Job {
  std::string job_id;
  std::string correlation_id;
  Operation operation = Operation::kSync;
  std::string repository_url;
  std::string credential;      ///< name in the credential store, empty for none
  std::string repository_key;  ///< normalized URL, the Kafka key
  std::string ref;             ///< empty: the remote's default branch
  std::string target;          ///< relative to the workspace root, `/`-separated
  JobOptions options;
  std::optional<std::chrono::system_clock::time_point> not_after;
  std::string requested_by;
  /// Other jobs this job's execution also answers (burst coalescing): set by the scheduler
  /// when it dispatches the job, never read from a job message. The executor records them
  /// on the target in the same write as this job, so a redelivery of any of them replays.
  std::vector<std::string> coalesced_job_ids;
};

}  // namespace mgit::jobs
