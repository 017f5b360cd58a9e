#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "mgit/observability/job_context.hpp"

namespace mgit::git {

/// Where one job's executor time goes (docs/performance.md, "Per-job budget"): the time
/// since the previous mark is charged to the phase named at each mark.
enum class Phase {
  kLock,        ///< the target's lock (flock)
  kLoadRecord,  ///< reading and parsing the target record
  kPrepare,     ///< creation marker, path, binding, admission, credential
  kOpen,        ///< free disk, open and check the repository, stale locks, remote config
  kConnect,     ///< TLS, `info/refs`, default branch
  kFetch,       ///< negotiation and pack (nothing when nothing is new), ref updates
  kFinish,      ///< checkout or HEAD, the report, closing the repository and connection
  kSaveRecord,  ///< writing the target record
  kCount,
};

/// One job's phase clock, installed for the executing thread while it lives, so the code
/// that does the work marks its phases without being handed the clock. Logs one debug line
/// (`git job phases`, µs per phase) when destroyed.
class JobPhases {
 public:
  JobPhases(const observability::JobContext& ctx, std::string_view target);
  ~JobPhases();
  JobPhases(const JobPhases&) = delete;
  JobPhases& operator=(const JobPhases&) = delete;

  /// Charges the time since the previous mark to `phase` on this thread's clock, if any.
  static void mark(Phase phase);

 private:
  using Clock = std::chrono::steady_clock;
  const observability::JobContext& ctx_;
  std::string_view target_;
  Clock::time_point start_;
  Clock::time_point last_;
  std::array<std::int64_t, static_cast<std::size_t>(Phase::kCount)> us_{};
  JobPhases* previous_;
};

}  // namespace mgit::git
