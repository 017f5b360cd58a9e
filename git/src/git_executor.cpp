#include "mgit/git/git_executor.hpp"

#include <fmt/format.h>
#include <git2.h>

#include <optional>
#include <stdexcept>

#include "job_phases.hpp"
#include "mgit/observability/log.hpp"
#include "policy_stream.hpp"
#include "target_directory.hpp"
#include "target_operation.hpp"

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

/// Whether the target neither exists nor has a creation marker; the caller holds its lock.
bool nothing_on_disk(const fs::path& workspace, const TargetStore& store, std::string_view target) {
  auto exists = target_exists(workspace, target);
  // A refused path (a symlinked or non-directory component, a repository above it) was never
  // created by mgitd; an I/O error proves nothing either way.
  if (!exists) return exists.error().code != ErrorCode::kInternal;
  if (*exists) return false;
  auto marked = store.creating(target);
  return marked && !marked->has_value();
}

/// What the record write must survive (docs/git-executor.md, "What is durable"): a new
/// binding and a clone's entry survive a machine crash; an entry of a sync, fetch or mirror
/// of a bound target only a process crash: lost, it makes a redelivery run again, which for
/// these operations answers what the job would have answered had it come a moment later.
TargetStore::Durability record_durability(const Job& job, const TargetRecord& record,
                                          const std::string& bound_on_disk) {
  const bool new_binding = record.repository_key != bound_on_disk;
  // A redelivered clone that finds no entry meets its own target: `conflict`.
  const bool clone = job.operation == jobs::Operation::kClone;
  return new_binding || clone ? TargetStore::Durability::kCrashSafe
                              : TargetStore::Durability::kProcessSafe;
}

// Debian's libgit2 (mbedTLS) trusts this bundle by default; its directory holds the same CAs
// one per file.
constexpr const char* kSystemCaDirectory = "/etc/ssl/certs";

}  // namespace

class GitExecutor::Libgit2Runtime {
 public:
  Libgit2Runtime(std::size_t max_pack_objects, const fs::path& ca_file) {
    // Reference-counted by libgit2, so several executors (and tests) may coexist.
    if (git_libgit2_init() < 0) throw std::runtime_error("libgit2 initialization failed");
    // No system, XDG or global git config: a ~/.gitconfig or /etc/gitconfig (one a hostile
    // job's worker could have written into the shared HOME, say) must not change how later
    // jobs fetch. Every setting mgitd relies on is in the target's own config.
    for (const auto level : {GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL,
                             GIT_CONFIG_LEVEL_PROGRAMDATA}) {
      if (git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "") < 0) {
        git_libgit2_shutdown();
        throw std::runtime_error("cannot clear libgit2's config search path");
      }
    }
    // Every connection libgit2 makes goes through the policy stream; registering again (a
    // second executor, a test's) changes nothing.
    if (auto registered = register_policy_stream(); !registered) {
      git_libgit2_shutdown();
      throw std::runtime_error(registered.error());
    }
    if (!ca_file.empty()) trust_ca_file(ca_file);
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
  // mbedTLS ignores SSL_CERT_FILE, and libgit2's option replaces its CA chain rather than adding
  // to it: the system's directory is loaded beside the file so public remotes stay trusted.
  // Process-wide and never restored (libgit2 cannot report the previous locations); libgit2
  // reloads its default when its last user shuts it down.
  static void trust_ca_file(const fs::path& ca_file) {
    std::error_code ignored;
    const bool system_directory = fs::is_directory(kSystemCaDirectory, ignored);
    if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, ca_file.c_str(),
                         system_directory ? kSystemCaDirectory : nullptr) < 0) {
      const git_error* error = git_error_last();
      const std::string reason = error != nullptr ? error->message : "unknown error";
      git_libgit2_shutdown();
      throw std::runtime_error(
          fmt::format("cannot load git_ca_file {}: {}", ca_file.string(), reason));
    }
  }

  std::size_t previous_max_pack_objects_ = 0;
  bool restore_max_pack_objects_ = false;
};

GitExecutor::GitExecutor(GitExecutorSettings settings)
    : settings_(std::move(settings)),
      runtime_(std::make_unique<Libgit2Runtime>(settings_.max_pack_objects, settings_.ca_file)),
      store_(settings_.workspace) {}

GitExecutor::~GitExecutor() = default;

tl::expected<ExecutionReport, JobError> GitExecutor::execute(
    const Job& job, const observability::JobContext& ctx,
    const execution::ExecutionControl& control) {
  if (control.should_stop()) return tl::make_unexpected(control.stop_error("during queueing"));
  if (auto ok = check_target_name(job.target); !ok) return tl::make_unexpected(ok.error());

  const JobPhases phases(ctx, job.target);
  auto lock = store_.lock(job.target, control);
  if (!lock) return tl::make_unexpected(lock.error());
  JobPhases::mark(Phase::kLock);
  auto loaded = store_.load(job.target);
  if (!loaded) return tl::make_unexpected(loaded.error());
  TargetRecord record = loaded->value_or(TargetRecord{job.target, {}, {}});
  JobPhases::mark(Phase::kLoadRecord);
  // The binding as it is on disk: a new one is written crash-safe (record_durability).
  const std::string bound_on_disk = record.repository_key;

  // A replay is for the job that was served: same id, same repository, and a target still
  // bound to it. A job id reused for another repository (a takeover attempt) runs instead,
  // and meets the binding check.
  const bool bound_here =
      record.repository_key.empty() || record.repository_key == job.repository_key;
  // A redelivered job with coalesced jobs runs again instead: its recorded state may be
  // older than what the jobs it now also answers asked for (sync, fetch and mirror are
  // idempotent; clones are never coalesced).
  if (const ServedJob* served = bound_here && job.coalesced_job_ids.empty()
                                    ? record.find(job.job_id, job.repository_key)
                                    : nullptr) {
    observability::log(LogLevel::kInfo, ctx, "job already served by this target, replaying",
                       {{"target", job.target}});
    if (served->error) return tl::make_unexpected(*served->error);
    ExecutionReport report;
    report.head_ref = served->head_ref;
    report.head_oid = served->head_oid;
    report.replayed = true;
    return report;
  }

  TargetOperation operation(settings_, store_, job, ctx, control, record);
  auto outcome = operation.run();

  if (record.repository_key.empty() && nothing_on_disk(settings_.workspace, store_, job.target)) {
    // Nothing was created and nothing is bound: a record and a lock file for every name a
    // failing job ever used would pile up forever. A redelivery runs again instead of being
    // replayed; with no target there is nothing it could collide with.
    if (auto forgotten = store_.forget(job.target, *lock); !forgotten) {
      observability::log(LogLevel::kWarn, ctx, "cannot remove the files of a missing target",
                         {{"target", job.target}, {"error", forgotten.error().message}});
    }
    return outcome;
  }

  // Record what a redelivery of this job id must get back.
  if (!control.cancel_requested() &&
      (outcome || (!operation.lock_held() && worth_recording(outcome.error())))) {
    ServedJob served{job.job_id, job.repository_key, std::nullopt, {}, {}};
    if (outcome) {
      served.head_ref = outcome->head_ref;
      served.head_oid = outcome->head_oid;
      if (record.repository_key.empty()) record.repository_key = job.repository_key;
    } else {
      served.error = outcome.error();
    }
    // Jobs coalesced into this execution get the same entry under their own ids, in the
    // same write: a redelivery of any of them is answered from the record.
    for (const auto& coalesced_id : job.coalesced_job_ids) {
      ServedJob also = served;
      also.job_id = coalesced_id;
      record.add(std::move(also));
    }
    record.add(std::move(served));
    if (auto saved = store_.save(record, record_durability(job, record, bound_on_disk)); !saved) {
      // The git work is done and stays done; only a redelivery loses its replay.
      observability::log(LogLevel::kError, ctx, "cannot record the job on its target",
                         {{"target", job.target}, {"error", saved.error().message}});
    }
  }
  JobPhases::mark(Phase::kSaveRecord);
  return outcome;
}

}  // namespace mgit::git
