// A worker process for the WorkerPool unit tests: it runs the real isolation::run_worker
// (sandbox, protocol) around an executor whose behaviour the job's target names, so every
// way a worker can behave is reachable without libgit2 or a git server.
#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "mgit/isolation/worker.hpp"

namespace {

using mgit::jobs::ErrorCode;
using mgit::jobs::JobError;
using Outcome = tl::expected<mgit::jobs::ExecutionReport, JobError>;

Outcome say(std::string text) { return tl::make_unexpected(JobError{ErrorCode::kNotFound, text}); }

int open_descriptors() {
  int count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (dir != nullptr && ::readdir(dir) != nullptr) ++count;
  if (dir != nullptr) ::closedir(dir);
  return count - 3;  // ".", ".." and the directory's own descriptor
}

std::string oom_score_adj() {
  char text[16] = {};
  const int fd = ::open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
  const ssize_t got = fd >= 0 ? ::read(fd, text, sizeof text - 1) : -1;
  if (fd >= 0) ::close(fd);
  std::string value(text, got > 0 ? static_cast<std::size_t>(got) : 0);
  while (!value.empty() && value.back() == '\n') value.pop_back();
  return value;
}

class ScriptedExecutor final : public mgit::execution::Executor {
 public:
  explicit ScriptedExecutor(const mgit::security::CredentialSource& credentials)
      : credentials_(credentials) {}

  Outcome execute(const mgit::jobs::Job& job, const mgit::observability::JobContext&,
                  const mgit::execution::ExecutionControl& control) override {
    const std::string& what = job.target;
    const std::string& argument = job.repository_url;
    if (what == "ok") {
      mgit::jobs::ExecutionReport report;
      report.head_ref = "refs/heads/main";
      report.head_oid = job.job_id;  // echoed, so the test sees its own job came back
      report.refs_updated.push_back({"refs/heads/main", "", job.job_id});
      report.received_bytes = 42;
      return report;
    }
    if (what == "stall") {
      while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (what == "progress") {
      mgit::execution::Progress progress;
      for (int i = 0; i < 30; ++i) {
        progress.received_bytes += 1000;
        control.report(progress);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      return mgit::jobs::ExecutionReport{};
    }
    if (what == "crash") std::abort();
    if (what == "garbage") {
      const char frame[] = "\xff\xff\xff\x7f\x04";
      (void)!::write(mgit::isolation::kWorkerSocketFd, frame, sizeof frame - 1);
      while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (what == "credential") {
      auto credential = credentials_.load(job.credential);
      if (!credential) return say("no credential: " + credential.error().message);
      return say("user=" + credential->username +
                 " key=" + (credential->ssh_private_key_pem.empty() ? "no" : "yes") +
                 " hosts=" + std::to_string(credential->hosts.size()));
    }
    if (what == "environment") {
      std::string names;
      for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string text = *entry;
        names += text.substr(0, text.find('=')) + " ";
      }
      return say(names);
    }
    if (what == "descriptors") return say(std::to_string(open_descriptors()));
    if (what == "read") {
      const int fd = ::open(argument.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) ::close(fd);
      return say(fd >= 0 ? "read allowed" : "read denied");
    }
    if (what == "write") {
      const int fd = ::open(argument.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      if (fd >= 0) ::close(fd);
      return say(fd >= 0 ? "write allowed" : "write denied");
    }
    if (what == "signal") {
      return say(::kill(::getppid(), 0) == 0 ? "may signal its parent"
                                             : "may not signal its parent");
    }
    if (what == "process") {
      rlimit fsize{};
      ::getrlimit(RLIMIT_FSIZE, &fsize);
      return say("fsize=" + std::to_string(fsize.rlim_cur) +
                 " dumpable=" + std::to_string(::prctl(PR_GET_DUMPABLE)) +
                 " no_new_privs=" + std::to_string(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)) +
                 " own_group=" + (::getpgrp() == ::getpid() ? "yes" : "no") +
                 " oom_score_adj=" + oom_score_adj());
    }
    return say("unknown script " + what);
  }

 private:
  const mgit::security::CredentialSource& credentials_;
};

}  // namespace

int main() {
  return mgit::isolation::run_worker(
      mgit::isolation::kWorkerSocketFd,
      [](const mgit::isolation::WorkerSetup&, const mgit::security::CredentialSource& credentials)
          -> std::unique_ptr<mgit::execution::Executor> {
        return std::make_unique<ScriptedExecutor>(credentials);
      });
}
