#pragma once

#include <filesystem>
#include <optional>
#include <tl/expected.hpp>

#include "existing_target.hpp"
#include "mgit/execution/executor.hpp"
#include "mgit/git/git_executor.hpp"
#include "mgit/git/target_store.hpp"
#include "mgit/jobs/error.hpp"
#include "mgit/jobs/job.hpp"
#include "mgit/jobs/result.hpp"
#include "mgit/observability/job_context.hpp"
#include "mgit/security/credentials.hpp"
#include "mgit/security/redaction.hpp"
#include "repository_sync.hpp"

namespace mgit::git {

/// One job's work on its target, once the executor holds the target's lock and has found no
/// replay in its record: removes what an interrupted creation left, checks (or adopts) the
/// binding, loads the credential, then creates, updates or — when the target is corrupt —
/// moves it aside and clones it again. Runs on the calling worker thread; every argument
/// outlives the object. Single use.
class TargetOperation {
 public:
  TargetOperation(const GitExecutorSettings& settings, const TargetStore& store,
                  const jobs::Job& job, const observability::JobContext& ctx,
                  const execution::ExecutionControl& control, TargetRecord& record);
  TargetOperation(const TargetOperation&) = delete;
  TargetOperation& operator=(const TargetOperation&) = delete;

  /// Adopting an origin sets `record.repository_key`; the caller records the outcome.
  tl::expected<jobs::ExecutionReport, jobs::JobError> run();
  /// Whether the failure came from a git lock file held by someone else.
  [[nodiscard]] bool lock_held() const { return sync_ && sync_->lock_held(); }

 private:
  tl::expected<void, jobs::JobError> remove_interrupted_creation();
  tl::expected<void, jobs::JobError> check_binding(bool exists);
  tl::expected<void, jobs::JobError> load_credential();
  tl::expected<jobs::ExecutionReport, jobs::JobError> operate(bool exists);
  tl::expected<jobs::ExecutionReport, jobs::JobError> create(Layout layout);
  tl::expected<jobs::ExecutionReport, jobs::JobError> update(Layout requested, bool checkout_ref);
  tl::expected<jobs::ExecutionReport, jobs::JobError> reclone(InspectedTarget corrupt,
                                                              Layout requested);

  const GitExecutorSettings& settings_;
  const TargetStore& store_;
  const jobs::Job& job_;
  const observability::JobContext& ctx_;
  const execution::ExecutionControl& control_;
  TargetRecord& record_;
  std::filesystem::path path_;
  std::optional<security::Credential> credential_;
  security::Redactor redactor_;
  std::optional<RepositorySync> sync_;  ///< once the credential is loaded
};

}  // namespace mgit::git
