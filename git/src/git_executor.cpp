#include "mgit/git/git_executor.hpp"

#include <fmt/format.h>
#include <git2.h>

#include <optional>
#include <stdexcept>

#include "existing_target.hpp"
#include "mgit/observability/log.hpp"
#include "mgit/security/redaction.hpp"
#include "repository_sync.hpp"
#include "target_directory.hpp"

namespace mgit::git {
namespace {

namespace fs = std::filesystem;
using jobs::ErrorCode;
using jobs::ExecutionReport;
using jobs::Job;
using jobs::JobError;
using observability::LogLevel;

/// Which failures a redelivery must get again rather than retry: the deterministic ones.
bool worth_recording(const JobError& error) {
  return !error.retryable() && error.code != ErrorCode::kInternal &&
         error.code != ErrorCode::kDiskFull;
}

}  // namespace

class GitExecutor::Libgit2Runtime {
 public:
  explicit Libgit2Runtime(std::size_t max_pack_objects) {
    // Reference-counted by libgit2, so several executors (and tests) may coexist.
    if (git_libgit2_init() < 0) throw std::runtime_error("libgit2 initialization failed");
    if (max_pack_objects == 0) return;
    // A process-wide option: the previous value comes back on destruction so an executor
    // with a limit (a test's) does not leave it behind for the others.
    if (git_libgit2_opts(GIT_OPT_GET_PACK_MAX_OBJECTS, &previous_max_pack_objects_) < 0 ||
        git_libgit2_opts(GIT_OPT_SET_PACK_MAX_OBJECTS, max_pack_objects) < 0) {
      git_libgit2_shutdown();
      throw std::runtime_error("cannot set libgit2's maximum of objects per pack");
    }
    restore_max_pack_objects_ = true;
  }
  ~Libgit2Runtime() {
    if (restore_max_pack_objects_) {
      git_libgit2_opts(GIT_OPT_SET_PACK_MAX_OBJECTS, previous_max_pack_objects_);
    }
    git_libgit2_shutdown();
  }
  Libgit2Runtime(const Libgit2Runtime&) = delete;
  Libgit2Runtime& operator=(const Libgit2Runtime&) = delete;

 private:
  std::size_t previous_max_pack_objects_ = 0;
  bool restore_max_pack_objects_ = false;
};

GitExecutor::GitExecutor(GitExecutorSettings settings)
    : settings_(std::move(settings)),
      runtime_(std::make_unique<Libgit2Runtime>(settings_.max_pack_objects)),
      store_(settings_.workspace) {}

GitExecutor::~GitExecutor() = default;

tl::expected<ExecutionReport, JobError> GitExecutor::execute(
    const Job& job, const observability::JobContext& ctx,
    const execution::ExecutionControl& control) {
  if (control.should_stop()) return tl::make_unexpected(control.stop_error("during queueing"));
  if (auto ok = check_target_name(job.target); !ok) return tl::make_unexpected(ok.error());
  const fs::path path = settings_.workspace / job.target;

  auto lock = store_.lock(job.target, control);
  if (!lock) return tl::make_unexpected(lock.error());
  auto loaded = store_.load(job.target);
  if (!loaded) return tl::make_unexpected(loaded.error());
  TargetRecord record = loaded->value_or(TargetRecord{job.target, {}, {}});

  if (const ServedJob* served = record.find(job.job_id)) {
    observability::log(LogLevel::kInfo, ctx, "job already served by this target, replaying",
                       {{"target", job.target}});
    if (served->error) return tl::make_unexpected(*served->error);
    ExecutionReport report;
    report.head_ref = served->head_ref;
    report.head_oid = served->head_oid;
    report.replayed = true;
    return report;
  }

  bool lock_held = false;
  auto outcome = [&]() -> tl::expected<ExecutionReport, JobError> {
    auto exists = target_exists(settings_.workspace, job.target);
    if (!exists) return tl::make_unexpected(exists.error());
    if (record.repository_key.empty() && *exists) {
      // The record was lost (e.g. set aside as corrupt): the repository itself still says
      // where it came from, so the binding is rebuilt from it rather than given to any job.
      auto repo = open_target(path, job.target);
      if (!repo) return tl::make_unexpected(repo.error());
      auto key = origin_key(repo->get(), job.target);
      if (!key) return tl::make_unexpected(key.error());
      observability::log(LogLevel::kWarn, ctx, "target has no binding, adopting its origin",
                         {{"target", job.target}, {"repository_key", *key}});
      record.repository_key = std::move(*key);
    }
    if (!record.repository_key.empty() && record.repository_key != job.repository_key) {
      return tl::make_unexpected(JobError{
          ErrorCode::kConflict,
          fmt::format("target '{}' is bound to repository {}", job.target, record.repository_key)});
    }
    std::optional<security::Credential> credential;
    security::Redactor redactor;
    if (!job.credential.empty()) {
      if (settings_.credentials == nullptr) {
        return tl::make_unexpected(JobError{ErrorCode::kAuthFailed, "no credential store"});
      }
      auto loaded_credential = settings_.credentials->load(job.credential);
      if (!loaded_credential) {
        return tl::make_unexpected(
            JobError{ErrorCode::kAuthFailed, loaded_credential.error().message});
      }
      credential = std::move(*loaded_credential);
      for (auto& secret : credential->secrets()) redactor.add(std::move(secret));
    }
    RepositorySync run(job, path, control, credential ? &*credential : nullptr, redactor, ctx,
                       SyncLimits{settings_.max_received_bytes, settings_.max_checkout_bytes});
    const auto create = [&](Layout layout) -> tl::expected<ExecutionReport, JobError> {
      if (auto ok = check_free_disk(settings_.workspace, settings_.min_free_disk_percent); !ok) {
        return tl::make_unexpected(ok.error());
      }
      CreatedDirectories directories;
      if (auto ok = directories.create(settings_.workspace, job.target); !ok) {
        return tl::make_unexpected(ok.error());
      }
      auto report = run.create(layout);
      if (report) directories.keep();
      return report;
    };
    // A fetch writes a pack too: one into a full disk fails half-way (and leaves a
    // temporary pack) instead of being refused cleanly.
    const auto update = [&](Layout layout,
                            bool checkout_ref) -> tl::expected<ExecutionReport, JobError> {
      if (auto ok = check_free_disk(settings_.workspace, settings_.min_free_disk_percent); !ok) {
        return tl::make_unexpected(ok.error());
      }
      return run.update(layout, checkout_ref);
    };
    const Layout requested = job.options.bare ? Layout::kBare : Layout::kWorkTree;
    const auto operate = [&]() -> tl::expected<ExecutionReport, JobError> {
      switch (job.operation) {
        case jobs::Operation::kClone:
          if (*exists) {
            return tl::make_unexpected(JobError{
                ErrorCode::kConflict, fmt::format("target '{}' already exists", job.target)});
          }
          return create(requested);
        case jobs::Operation::kFetch:
          if (!*exists) {
            return tl::make_unexpected(JobError{
                ErrorCode::kNotFound, fmt::format("target '{}' does not exist", job.target)});
          }
          return update(requested, false);
        case jobs::Operation::kSync:
          return *exists ? update(requested, true) : create(requested);
        case jobs::Operation::kMirror:
          return *exists ? update(Layout::kMirror, true) : create(Layout::kMirror);
      }
      return tl::make_unexpected(JobError{ErrorCode::kInternal, "unknown operation"});
    };
    auto result = operate();
    lock_held = run.lock_held();
    return result;
  }();

  // Record what a redelivery of this job id must get back.
  if (!control.cancel_requested() &&
      (outcome || (!lock_held && worth_recording(outcome.error())))) {
    ServedJob served{job.job_id, std::nullopt, {}, {}};
    if (outcome) {
      served.head_ref = outcome->head_ref;
      served.head_oid = outcome->head_oid;
      if (record.repository_key.empty()) record.repository_key = job.repository_key;
    } else {
      served.error = outcome.error();
    }
    record.add(std::move(served));
    if (auto saved = store_.save(record); !saved) {
      // The git work is done and stays done; only a redelivery loses its replay.
      observability::log(LogLevel::kError, ctx, "cannot record the job on its target",
                         {{"target", job.target}, {"error", saved.error().message}});
    }
  }
  return outcome;
}

}  // namespace mgit::git
