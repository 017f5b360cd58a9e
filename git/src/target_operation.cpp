#include "target_operation.hpp"

#include <fmt/format.h>

#include <utility>

#include "corrupt_target.hpp"
#include "job_phases.hpp"
#include "mgit/observability/log.hpp"
#include "network_access.hpp"
#include "preemptive_auth.hpp"
#include "target_directory.hpp"

namespace mgit::git {
namespace {

using jobs::ErrorCode;
using jobs::ExecutionReport;
using jobs::JobError;
using observability::LogLevel;

}  // namespace

TargetOperation::TargetOperation(const GitExecutorSettings& settings, const TargetStore& store,
                                 const jobs::Job& job, const observability::JobContext& ctx,
                                 const execution::ExecutionControl& control, TargetRecord& record)
    : settings_(settings),
      store_(store),
      job_(job),
      ctx_(ctx),
      control_(control),
      record_(record),
      path_(settings.workspace / job.target) {}

tl::expected<ExecutionReport, JobError> TargetOperation::run() {
  if (auto ok = remove_interrupted_creation(); !ok) return tl::make_unexpected(ok.error());
  auto exists = target_exists(settings_.workspace, job_.target);
  if (!exists) return tl::make_unexpected(exists.error());
  if (auto ok = check_binding(*exists); !ok) return tl::make_unexpected(ok.error());
  // Before anything is created or a credential read: a denied job leaves no trace.
  auto policy = admit_job(job_, settings_);
  if (!policy) return tl::make_unexpected(policy.error());
  if (auto ok = load_credential(); !ok) return tl::make_unexpected(ok.error());
  sync_.emplace(
      job_, path_, control_, credential_ ? &*credential_ : nullptr, redactor_, ctx_,
      SyncLimits{settings_.max_received_bytes, settings_.max_checkout_bytes},
      SyncNetwork{std::move(*policy), job_endpoint(job_.repository_url), settings_.git_proxy},
      settings_.ref_backup);
  JobPhases::mark(Phase::kPrepare);
  return operate(*exists);
}

/// A creation killed half-way (a worker SIGKILLed mid-clone) left its marker: whatever it
/// made goes, so the job finds the target missing instead of a partial repository that
/// every later job would refuse as `conflict`.
tl::expected<void, JobError> TargetOperation::remove_interrupted_creation() {
  auto marked = store_.creating(job_.target);
  if (!marked) return tl::make_unexpected(marked.error());
  if (!marked->has_value()) return {};
  // The same checks as for any job: never follow a symlink planted since.
  if (auto exists = target_exists(settings_.workspace, job_.target); !exists) {
    return tl::make_unexpected(exists.error());
  }
  CreatedDirectories leftovers;
  leftovers.adopt(settings_.workspace, job_.target, **marked);
  if (!leftovers.undo()) {
    return tl::make_unexpected(JobError{
        ErrorCode::kInternal,
        fmt::format("cannot remove what an interrupted clone left in target '{}'", job_.target)});
  }
  if (auto ok = store_.clear_creating(job_.target); !ok) return ok;
  observability::log(LogLevel::kWarn, ctx_, "removed what an interrupted clone left in the target",
                     {{"target", job_.target}});
  return {};
}

tl::expected<void, JobError> TargetOperation::check_binding(bool exists) {
  if (record_.repository_key.empty() && exists) {
    // The record was lost (e.g. set aside as corrupt): the repository itself still says
    // where it came from, so the binding is rebuilt from it rather than given to any job.
    auto repo = open_target(path_, job_.target);
    if (!repo) return tl::make_unexpected(repo.error());
    auto key = origin_key(repo->get(), job_.target);
    if (!key) return tl::make_unexpected(key.error());
    observability::log(LogLevel::kWarn, ctx_, "target has no binding, adopting its origin",
                       {{"target", job_.target}, {"repository_key", *key}});
    record_.repository_key = std::move(*key);
  }
  if (!record_.repository_key.empty() && record_.repository_key != job_.repository_key) {
    return tl::make_unexpected(JobError{
        ErrorCode::kConflict,
        fmt::format("target '{}' is bound to repository {}", job_.target, record_.repository_key)});
  }
  return {};
}

tl::expected<void, JobError> TargetOperation::load_credential() {
  if (job_.credential.empty()) return {};
  if (settings_.credentials == nullptr) {
    return tl::make_unexpected(JobError{ErrorCode::kAuthFailed, "no credential store"});
  }
  auto loaded = settings_.credentials->load(job_.credential);
  if (!loaded) return tl::make_unexpected(JobError{ErrorCode::kAuthFailed, loaded.error().message});
  for (auto& secret : loaded->secrets()) redactor_.add(std::move(secret));
  // The base64 of user:password goes out as a header (preemptive_auth.hpp): as secret.
  if (loaded->has_userpass()) redactor_.add(basic_auth_token(*loaded).reveal());
  // Checked again when libgit2 connects; refused here first so a job for a foreign host
  // (or with a file lacking `hosts=`) never reaches the network with the credential.
  if (auto refusal = security::credential_refusal(*loaded, job_.repository_url)) {
    return tl::make_unexpected(JobError{ErrorCode::kPolicyDenied, redactor_.redact(*refusal)});
  }
  credential_ = std::move(*loaded);
  return {};
}

tl::expected<ExecutionReport, JobError> TargetOperation::operate(bool exists) {
  const Layout requested = job_.options.bare ? Layout::kBare : Layout::kWorkTree;
  switch (job_.operation) {
    case jobs::Operation::kClone:
      if (exists) {
        return tl::make_unexpected(
            JobError{ErrorCode::kConflict, fmt::format("target '{}' already exists", job_.target)});
      }
      return create(requested);
    case jobs::Operation::kFetch:
      if (!exists) {
        return tl::make_unexpected(
            JobError{ErrorCode::kNotFound, fmt::format("target '{}' does not exist", job_.target)});
      }
      return update(requested, false);
    case jobs::Operation::kSync:
      return exists ? update(requested, true) : create(requested);
    case jobs::Operation::kMirror:
      return exists ? update(Layout::kMirror, true) : create(Layout::kMirror);
  }
  return tl::make_unexpected(JobError{ErrorCode::kInternal, "unknown operation"});
}

tl::expected<ExecutionReport, JobError> TargetOperation::create(Layout layout) {
  if (auto ok = check_free_disk(settings_.workspace, settings_.min_free_disk_percent); !ok) {
    return tl::make_unexpected(ok.error());
  }
  CreatedDirectories directories;
  if (auto ok = directories.create(settings_.workspace, job_.target); !ok) {
    return tl::make_unexpected(ok.error());
  }
  // Before libgit2 writes anything: a kill from here on leaves the marker, and the next job
  // for the target removes what this one made.
  if (auto ok = store_.mark_creating(job_.target, directories.created()); !ok) {
    return tl::make_unexpected(ok.error());
  }
  auto report = sync_->create(layout);
  JobPhases::mark(Phase::kFinish);  // with the repository and the connection closed
  if (report) {
    directories.keep();
  } else if (!directories.undo()) {
    return report;  // the marker stays: the next job removes what is left
  }
  if (auto cleared = store_.clear_creating(job_.target); !cleared) {
    // A marker left behind costs the next job a fresh clone, nothing worse.
    observability::log(LogLevel::kError, ctx_, "cannot remove the target's creation marker",
                       {{"target", job_.target}, {"error", cleared.error().message}});
  }
  return report;
}

tl::expected<ExecutionReport, JobError> TargetOperation::update(Layout requested,
                                                                bool checkout_ref) {
  // A fetch writes a pack too: one into a full disk fails half-way (and leaves a
  // temporary pack) instead of being refused cleanly.
  if (auto ok = check_free_disk(settings_.workspace, settings_.min_free_disk_percent); !ok) {
    return tl::make_unexpected(ok.error());
  }
  auto inspected = inspect_target(path_, job_.target);
  if (!inspected) return tl::make_unexpected(inspected.error());
  if (!inspected->corruption.empty()) return reclone(std::move(*inspected), requested);
  auto report = sync_->update(std::move(inspected->repo), requested, checkout_ref);
  JobPhases::mark(Phase::kFinish);  // with the repository and the connection closed
  return report;
}

/// The target is bound to the job's repository, so mgitd made it: a corrupt one is moved
/// aside (kept for inspection) and cloned again with the layout it had, instead of failing
/// every job until someone intervenes.
tl::expected<ExecutionReport, JobError> TargetOperation::reclone(InspectedTarget corrupt,
                                                                 Layout requested) {
  const Layout layout =
      corrupt.repo ? layout_of(corrupt.repo.get()) : layout_of_unreadable(path_, requested);
  if (requested == Layout::kMirror && layout != Layout::kMirror) {
    return tl::make_unexpected(JobError{
        ErrorCode::kConflict, fmt::format("target '{}' exists and is not a mirror", job_.target)});
  }
  corrupt.repo.reset();  // closes its files before the directory moves
  auto moved = quarantine_target(settings_.workspace, job_.target);
  if (!moved) return tl::make_unexpected(moved.error());
  observability::log(LogLevel::kWarn, ctx_, "target is corrupt; moved aside and cloned again",
                     {{"target", job_.target},
                      {"corruption", redactor_.redact(corrupt.corruption)},
                      {"moved_to", *moved}});
  auto report = create(layout);
  if (report) report->recloned = true;
  return report;
}

}  // namespace mgit::git
