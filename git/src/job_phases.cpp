#include "job_phases.hpp"

#include "mgit/observability/log.hpp"

namespace mgit::git {
namespace {

thread_local JobPhases* current_phases = nullptr;

}  // namespace

JobPhases::JobPhases(const observability::JobContext& ctx, std::string_view target)
    : ctx_(ctx), target_(target), start_(Clock::now()), last_(start_), previous_(current_phases) {
  current_phases = this;
}

JobPhases::~JobPhases() {
  current_phases = previous_;
  using observability::LogLevel;
  if (!observability::log_enabled(LogLevel::kDebug)) return;
  const auto end = Clock::now();
  const auto us = [&](Phase phase) { return us_[static_cast<std::size_t>(phase)]; };
  observability::log(
      LogLevel::kDebug, ctx_, "git job phases",
      {{"target", target_},
       {"lock_us", us(Phase::kLock)},
       {"load_record_us", us(Phase::kLoadRecord)},
       {"prepare_us", us(Phase::kPrepare)},
       {"open_us", us(Phase::kOpen)},
       {"connect_us", us(Phase::kConnect)},
       {"fetch_us", us(Phase::kFetch)},
       {"finish_us", us(Phase::kFinish)},
       {"save_record_us", us(Phase::kSaveRecord)},
       // What no mark covered: the replay answer, forgetting a missing target, the log.
       {"total_us",
        static_cast<std::int64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(end - start_).count())}});
}

void JobPhases::mark(Phase phase) {
  JobPhases* self = current_phases;
  if (self == nullptr) return;
  const auto now = Clock::now();
  self->us_[static_cast<std::size_t>(phase)] +=
      std::chrono::duration_cast<std::chrono::microseconds>(now - self->last_).count();
  self->last_ = now;
}

}  // namespace mgit::git
