#include <unistd.h>

#include <chrono>
#include <utility>

#include "messages.hpp"
#include "mgit/isolation/worker.hpp"
#include "mgit/observability/log.hpp"
#include "sandbox.hpp"
#include "wire.hpp"

namespace mgit::isolation {
namespace {

using Clock = std::chrono::steady_clock;

/// Passes progress to the supervisor at most four times a second: libgit2 reports every
/// few kilobytes, and the supervisor only needs to see that something moves.
class ThrottledProgress final : public execution::ProgressSink {
 public:
  explicit ThrottledProgress(int fd) : fd_(fd) {}
  void report(const execution::Progress& progress) override {
    const auto now = Clock::now();
    if (now - last_sent_ < std::chrono::milliseconds(250) || progress == sent_) return;
    last_sent_ = now;
    sent_ = progress;
    write_frame(fd_, encode_progress(progress));
  }

 private:
  int fd_;
  Clock::time_point last_sent_{};
  execution::Progress sent_{};
};

/// Answers only the credential the supervisor sent with the current job.
class JobCredential final : public security::CredentialSource {
 public:
  void set(const RunRequest& request) {
    credential_ = request.credential;
    error_ = request.credential_error;
  }
  [[nodiscard]] tl::expected<security::Credential, security::CredentialError> load(
      std::string_view name) const override {
    if (error_) return tl::make_unexpected(*error_);
    if (credential_ && credential_->name == name) return *credential_;
    return tl::make_unexpected(security::CredentialError{security::CredentialErrorCode::kNotFound,
                                                         "credential not sent to the worker"});
  }

 private:
  std::optional<security::Credential> credential_;
  std::optional<security::CredentialError> error_;
};

}  // namespace

int run_worker(int fd, const WorkerExecutorFactory& make_executor) {
  harden_process();
  FrameBuffer buffer;
  auto first = read_frame(fd, buffer);
  if (!first || first->type != MessageType::kSetup) return 2;
  auto setup = decode_setup(first->payload);
  if (!setup) return 2;
  // A supervisor that died before the parent-death signal was set left us to init.
  if (::getppid() != static_cast<pid_t>(setup->supervisor_pid)) return 3;
  observability::init_logging(
      observability::parse_log_level(setup->log_level).value_or(observability::LogLevel::kInfo));
  const std::string sandbox = apply_sandbox(*setup);
  JobCredential credentials;
  auto executor = make_executor(*setup, credentials);
  if (!write_frame(fd, encode_ready(sandbox))) return 4;

  ThrottledProgress progress(fd);
  while (true) {
    auto frame = read_frame(fd, buffer);
    if (!frame) return 0;  // the supervisor closed its end: retire
    if (frame->type != MessageType::kRun) return 2;
    auto request = decode_run(frame->payload);
    if (!request) return 2;
    credentials.set(*request);
    const execution::ExecutionControl control{request->deadline, nullptr, &progress};
    Outcome outcome = executor->execute(request->job, request->ctx, control);
    credentials.set(RunRequest{});  // the credential lives no longer than its job
    if (!write_frame(fd, encode_done(outcome))) return 4;
  }
}

}  // namespace mgit::isolation
