#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mgit/jobs/error.hpp"
#include "mgit/jobs/job.hpp"

namespace mgit::jobs {

enum class Status { kSucceeded, kFailed, kRejected, kExpired };

std::string_view to_string(Status status);

struct RefUpdate {
  std::string ref;
  std::string old_oid;  ///< empty for a created ref
  std::string new_oid;  ///< empty for a deleted (pruned) ref
  /// The old tip is no longer reachable from the ref: a non-fast-forward move or a deletion.
  bool forced = false;
  /// Where the old tip was kept (`refs/mgitd/backup/<ref>/<stamp>`); empty when not backed up.
  std::string backup_ref{};
};

/// What an execution did to its target.
struct ExecutionReport {
  std::string head_ref;
  std::string head_oid;
  std::vector<RefUpdate> refs_updated;
  std::uint64_t received_objects = 0;
  std::uint64_t received_bytes = 0;
  bool replayed = false;  ///< answered from the target's record of jobs it already served
  /// The target was corrupt: it was moved aside and cloned again by this job.
  bool recloned = false;
};

/// Where the job came from; plain values so `jobs` knows nothing about Kafka.
struct ResultSource {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

/// Everything a `mgit.sync-result/v1` event says.
struct JobResult {
  std::string job_id;
  std::string correlation_id;
  std::string trace_id;
  Status status = Status::kFailed;
  std::optional<JobError> error;
  std::optional<Operation> operation;  ///< unset when the job was rejected before it was known
  std::string repository_url;          ///< as given; userinfo is stripped when serialized
  std::string target;
  ExecutionReport report;
  std::int64_t queue_ms = 0;
  std::int64_t duration_ms = 0;
  int attempts = 0;
  std::string worker;
  ResultSource source;
  /// The job whose execution answered this one (burst coalescing); empty when it ran itself.
  std::string served_by;
  std::chrono::system_clock::time_point finished_at;
};

}  // namespace mgit::jobs
