#include "mgit/isolation/worker_pool.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "messages.hpp"
#include "mgit/observability/log.hpp"
#include "mgit/security/redaction.hpp"
#include "wire.hpp"
#include "worker_process.hpp"

namespace mgit::isolation {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using jobs::ErrorCode;
using jobs::JobError;
using observability::LogLevel;

// How often a supervising thread looks at cancellation while its worker is quiet.
constexpr auto kCancelCheck = std::chrono::milliseconds(100);
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr int kSpawnAttempts = 3;

/// Variables a worker may see; everything else (MGITD_KAFKA_SECRET_*, tokens of the
/// environment the daemon runs in) stays behind.
constexpr std::string_view kInheritedVariables[] = {
    "PATH",         "LANG",         "LC_ALL",
    "LC_CTYPE",     "TZ",           "SSL_CERT_FILE",
    "SSL_CERT_DIR", "ASAN_OPTIONS", "UBSAN_OPTIONS",
    "LSAN_OPTIONS", "GCOV_PREFIX",  "GCOV_PREFIX_STRIP"};

std::vector<std::string> worker_environment(const fs::path& home) {
  std::vector<std::string> environment{"HOME=" + home.string()};
  for (const auto name : kInheritedVariables) {
    if (const char* value = std::getenv(std::string(name).c_str()); value != nullptr) {
      environment.push_back(fmt::format("{}={}", name, value));
    }
  }
  return environment;
}

int millis_until(Clock::time_point when, Clock::time_point now) {
  if (when <= now) return 0;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(when - now);
  return static_cast<int>(std::min<std::chrono::milliseconds::rep>(left.count(), 60'000));
}

/// Waits for one frame from `fd` until `until`; nothing on timeout, EOF or a corrupt frame.
std::optional<Frame> read_frame_until(int fd, FrameBuffer& buffer, Clock::time_point until) {
  char chunk[65536];
  while (true) {
    if (auto frame = buffer.next()) return frame;
    if (buffer.corrupt()) return std::nullopt;
    pollfd entry{fd, POLLIN, 0};
    const int ready = ::poll(&entry, 1, millis_until(until, Clock::now()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return std::nullopt;
    buffer.append(chunk, static_cast<std::size_t>(got));
  }
}

/// An idle worker whose socket is readable or hung up has died (or misbehaves).
bool still_idle(int fd) {
  pollfd entry{fd, POLLIN, 0};
  return ::poll(&entry, 1, 0) == 0;
}

std::string seconds_text(std::chrono::milliseconds duration) {
  return fmt::format("{:g} s", static_cast<double>(duration.count()) / 1000.0);
}

}  // namespace

WorkerPool::WorkerPool(WorkerPoolSettings settings) : settings_(std::move(settings)) {
  settings_.setup.supervisor_pid = ::getpid();
  if (!settings_.home.empty()) {
    // Workers may write beneath the workspace: what an earlier run's worker left at this path
    // (a symlink to `/`, say) is replaced by a real directory before anything follows it.
    std::error_code ec;
    const auto status = fs::symlink_status(settings_.home, ec);
    if (!ec && status.type() != fs::file_type::directory) fs::remove(settings_.home);
    fs::create_directories(settings_.home);
    fs::permissions(settings_.home, fs::perms::owner_all, fs::perm_options::replace);
  }
}

WorkerPool::~WorkerPool() {
  std::vector<WorkerPtr> idle;
  {
    const std::lock_guard lock(mutex_);
    idle.swap(idle_);
  }
  // Closing every socket first lets them all exit in parallel.
  for (auto& worker : idle) ::shutdown(worker->socket(), SHUT_RDWR);
  for (auto& worker : idle) worker->retire(settings_.retire_wait);
}

void WorkerPool::replaced(std::string_view reason) const {
  if (settings_.on_worker_replaced) settings_.on_worker_replaced(reason);
}

tl::expected<WorkerPool::WorkerPtr, std::string> WorkerPool::spawn_worker() {
  const fs::path working_directory =
      settings_.setup.workspace.empty() ? fs::path("/") : fs::path(settings_.setup.workspace);
  auto worker =
      WorkerProcess::spawn(SpawnSpec{settings_.executable, settings_.arguments,
                                     worker_environment(settings_.home), working_directory});
  if (!worker) return tl::make_unexpected(worker.error());
  auto& process = **worker;
  if (!write_frame(process.socket(), encode_setup(settings_.setup))) {
    return tl::make_unexpected("worker " + process.reap() + " before its setup");
  }
  return std::move(*worker);
}

tl::expected<WorkerPool::WorkerPtr, std::string> WorkerPool::await_ready(
    WorkerPtr worker, Clock::time_point deadline) {
  auto& process = *worker;
  FrameBuffer buffer;
  auto ready = read_frame_until(process.socket(), buffer, deadline);
  if (!ready || ready->type != MessageType::kReady) {
    return tl::make_unexpected("worker did not start: " + process.reap());
  }
  const auto sandbox = decode_ready(ready->payload).value_or("unknown");
  bool first = false;
  {
    const std::lock_guard lock(mutex_);
    first = !std::exchange(sandbox_logged_, true);
  }
  observability::log(first ? LogLevel::kInfo : LogLevel::kDebug, "git worker started",
                     {{"pid", static_cast<std::int64_t>(process.pid())}, {"sandbox", sandbox}});
  return worker;
}

tl::expected<WorkerPool::WorkerPtr, std::string> WorkerPool::start_worker() {
  auto worker = spawn_worker();
  if (!worker) return worker;
  return await_ready(std::move(*worker), Clock::now() + kHandshakeTimeout);
}

void WorkerPool::start_workers(std::size_t count) {
  // Spawned from this thread, not from helper threads: a worker's parent-death signal
  // (sandbox.cpp) follows the thread that spawned it, and a helper thread that ends would
  // take its workers with it. They initialise in parallel all the same, each in its process;
  // waiting for them one after the other costs the slowest one.
  const auto started_at = Clock::now();
  std::vector<WorkerPtr> spawned;
  std::size_t idle = 0;
  const auto not_started = [](const std::string& error) {
    observability::log(LogLevel::kWarn, "git worker not started ahead; the first job starts one",
                       {{"error", error}});
  };
  for (std::size_t i = 0; i < count; ++i) {
    auto worker = spawn_worker();
    if (worker) {
      spawned.push_back(std::move(*worker));
    } else {
      not_started(worker.error());
    }
  }
  // One handshake timeout for all of them: startup (before the health endpoints listen) must
  // not grow with the number of workers that hang.
  const auto deadline = started_at + kHandshakeTimeout;
  for (auto& worker : spawned) {
    auto ready = await_ready(std::move(worker), deadline);
    if (!ready) {
      not_started(ready.error());
      continue;
    }
    const std::lock_guard lock(mutex_);
    idle_.push_back(std::move(*ready));
    ++idle;
  }
  observability::log(
      LogLevel::kInfo, "git workers started ahead",
      {{"workers", idle},
       {"ms", static_cast<std::int64_t>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at)
                      .count())}});
}

tl::expected<WorkerPool::WorkerPtr, JobError> WorkerPool::acquire(
    const observability::JobContext& ctx, const execution::ExecutionControl& control) {
  {
    const std::lock_guard lock(mutex_);
    while (!idle_.empty()) {
      auto worker = std::move(idle_.back());
      idle_.pop_back();
      if (still_idle(worker->socket())) return worker;
      observability::log(
          LogLevel::kWarn, "idle git worker died",
          {{"pid", static_cast<std::int64_t>(worker->pid())}, {"how", worker->reap()}});
      replaced("crash");
      ++spawn_failures_;  // the lock is held: died() would take it again
    }
  }
  std::string problem;
  for (int attempt = 0; attempt < kSpawnAttempts; ++attempt) {
    int failures = 0;
    {
      const std::lock_guard lock(mutex_);
      failures = spawn_failures_;
    }
    if (failures > 0) {
      // Backs off while spawning keeps failing (a full process table, a broken binary).
      const auto delay = std::min<std::chrono::milliseconds>(
          std::chrono::milliseconds(100) * (1 << std::min(failures, 7)), std::chrono::seconds(10));
      const auto until = Clock::now() + delay;
      while (Clock::now() < until) {
        if (control.should_stop())
          return tl::make_unexpected(control.stop_error("starting a worker"));
        std::this_thread::sleep_for(std::min<Clock::duration>(kCancelCheck, until - Clock::now()));
      }
    }
    auto worker = start_worker();
    const std::lock_guard lock(mutex_);
    if (worker) {
      spawn_failures_ = 0;
      return std::move(*worker);
    }
    ++spawn_failures_;
    problem = worker.error();
  }
  observability::log(LogLevel::kError, ctx, "cannot start a git worker", {{"error", problem}});
  replaced("spawn_failure");
  return tl::make_unexpected(
      JobError{ErrorCode::kInternal, "cannot start a git worker: " + problem});
}

void WorkerPool::died() {
  const std::lock_guard lock(mutex_);
  ++spawn_failures_;
}

void WorkerPool::release(WorkerPtr worker) {
  {
    const std::lock_guard lock(mutex_);
    spawn_failures_ = 0;
  }
  if (++worker->jobs_served >= settings_.max_jobs_per_worker) {
    worker->retire(settings_.retire_wait);
    replaced("recycle");
    return;
  }
  const std::lock_guard lock(mutex_);
  idle_.push_back(std::move(worker));
}

tl::expected<jobs::ExecutionReport, JobError> WorkerPool::execute(
    const jobs::Job& job, const observability::JobContext& ctx,
    const execution::ExecutionControl& control) {
  if (control.should_stop()) return tl::make_unexpected(control.stop_error("during queueing"));
  RunRequest request{job, ctx, control.deadline, std::nullopt, std::nullopt};
  if (!job.credential.empty()) {
    if (settings_.credentials == nullptr) {
      return tl::make_unexpected(JobError{ErrorCode::kAuthFailed, "no credential store"});
    }
    auto credential = settings_.credentials->load(job.credential);
    if (credential) {
      // Defence in depth: a credential not meant for the job's host never enters a worker,
      // whatever the worker would make of it.
      if (auto refusal = security::credential_refusal(*credential, job.repository_url)) {
        security::Redactor redactor;
        for (auto& secret : credential->secrets()) redactor.add(std::move(secret));
        observability::log(LogLevel::kWarn, ctx, "credential refused for the job's host",
                           {{"credential", job.credential}, {"target", job.target}});
        return tl::make_unexpected(JobError{ErrorCode::kPolicyDenied, redactor.redact(*refusal)});
      }
      request.credential = std::move(*credential);
    } else {
      request.credential_error = std::move(credential.error());
    }
  }
  auto acquired = acquire(ctx, control);
  if (!acquired) return tl::make_unexpected(acquired.error());
  WorkerPtr worker = std::move(*acquired);
  const int fd = worker->socket();
  std::string run_frame = encode_run(request);
  const bool sent = write_frame(fd, run_frame);
  // The frame and the request hold the credential: the worker has it now, the supervisor
  // keeps no copy.
  ::explicit_bzero(run_frame.data(), run_frame.size());
  request.credential.reset();
  if (!sent) {
    const auto how = worker->reap();
    replaced("crash");
    died();
    return tl::make_unexpected(
        JobError{ErrorCode::kInternal, fmt::format("git worker exited ({}) before the job", how)});
  }

  const auto kill_for = [&](std::string_view reason, JobError error) {
    observability::log(LogLevel::kWarn, ctx, "git worker stopped",
                       {{"pid", static_cast<std::int64_t>(worker->pid())},
                        {"reason", reason},
                        {"target", job.target}});
    worker->kill();
    replaced(reason);
    return tl::make_unexpected(std::move(error));
  };
  FrameBuffer buffer;
  execution::Progress seen;
  auto last_progress = Clock::now();
  char chunk[65536];
  while (true) {
    // What the worker sent is read before the clocks are judged: an answer that arrived at
    // the deadline is the job's answer (the worker has already recorded it on the target).
    const auto before = Clock::now();
    const auto wake = std::min(
        {control.deadline, last_progress + settings_.stall_timeout, before + kCancelCheck});
    pollfd entry{fd, POLLIN, 0};
    const int ready = ::poll(&entry, 1, millis_until(wake, before));
    if (ready < 0 && errno != EINTR) {
      return kill_for("protocol", JobError{ErrorCode::kInternal, "cannot watch the git worker"});
    }
    if (ready > 0) {
      const ssize_t got = ::read(fd, chunk, sizeof chunk);
      if (got == 0 || (got < 0 && errno != EINTR)) {
        const auto how = worker->reap();
        observability::log(LogLevel::kError, ctx, "git worker died during a job",
                           {{"how", how}, {"target", job.target}});
        replaced("crash");
        died();
        return tl::make_unexpected(
            JobError{ErrorCode::kInternal, fmt::format("worker exited, {}", how)});
      }
      if (got > 0) buffer.append(chunk, static_cast<std::size_t>(got));
      // The worker parses what the remote sends: a frame it should not send ends it.
      bool malformed = false;
      while (auto frame = buffer.next()) {
        if (frame->type == MessageType::kProgress) {
          const auto progress = decode_progress(frame->payload);
          if (!progress) {
            malformed = true;
            break;
          }
          if (*progress != seen) {
            seen = *progress;
            last_progress = Clock::now();
          }
          continue;
        }
        auto outcome =
            frame->type == MessageType::kDone ? decode_done(frame->payload) : std::nullopt;
        // Nothing may follow the answer: bytes left over would be read as the next job's.
        if (!outcome || !buffer.empty()) {
          malformed = true;
          break;
        }
        release(std::move(worker));
        return std::move(*outcome);
      }
      if (malformed || buffer.corrupt()) {
        return kill_for("protocol",
                        JobError{ErrorCode::kInternal, "git worker sent a malformed message"});
      }
    }
    const auto now = Clock::now();
    if (control.cancel_requested()) {
      // Shutdown, or the job's partition was revoked or lost: no answer from here.
      return kill_for("cancel", control.stop_error("while its worker ran"));
    }
    if (now >= control.deadline) {
      return kill_for("deadline",
                      JobError{ErrorCode::kTimeout,
                               "deadline passed while the job ran; its worker was stopped"});
    }
    if (now - last_progress >= settings_.stall_timeout) {
      return kill_for("stall", JobError{ErrorCode::kTimeout,
                                        fmt::format("no progress for {}; its worker was stopped",
                                                    seconds_text(settings_.stall_timeout))});
    }
  }
}

}  // namespace mgit::isolation
