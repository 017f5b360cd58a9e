#include "worker_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

namespace mgit::isolation {
namespace {

std::string errno_text(const char* what, int error) {
  return std::string(what) + ": " + std::strerror(error);
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

/// RAII for the two posix_spawn attribute objects.
struct SpawnAttributes {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attributes{};
  SpawnAttributes() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnAttributes() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
};

}  // namespace

tl::expected<std::unique_ptr<WorkerProcess>, std::string> WorkerProcess::spawn(
    const SpawnSpec& spec) {
  int pair[2];
  // Close-on-exec on both ends: the child's end is dup2'ed to fd 3 (which clears the flag on
  // the copy), and no other worker inherits either.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return tl::make_unexpected(errno_text("socketpair", errno));
  }
  basics::FileDescriptor ours(pair[0]);
  basics::FileDescriptor theirs(pair[1]);

  SpawnAttributes spawn;
  posix_spawn_file_actions_addopen(&spawn.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&spawn.actions, theirs.get(), kWorkerSocketFd);
  posix_spawn_file_actions_addclosefrom_np(&spawn.actions, kWorkerSocketFd + 1);
  const std::string directory = spec.working_directory.string();
  if (!directory.empty()) posix_spawn_file_actions_addchdir_np(&spawn.actions, directory.c_str());

  sigset_t all;
  sigfillset(&all);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&spawn.attributes, &all);
  posix_spawnattr_setsigmask(&spawn.attributes, &none);
  posix_spawnattr_setpgroup(&spawn.attributes, 0);
  posix_spawnattr_setflags(&spawn.attributes,
                           POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);

  const std::string program = spec.executable.string();
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& argument : spec.arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& entry : spec.environment) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, program.c_str(), &spawn.actions, &spawn.attributes,
                               argv.data(), envp.data());
  if (rc != 0) return tl::make_unexpected(errno_text("posix_spawn", rc));
  return std::unique_ptr<WorkerProcess>(new WorkerProcess(pid, std::move(ours)));
}

WorkerProcess::~WorkerProcess() {
  if (pid_ > 0) kill();
}

void WorkerProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  socket_.reset();
}

std::string WorkerProcess::reap() {
  if (pid_ <= 0) return "already reaped";
  int status = 0;
  // The socket closed, so the worker is exiting or gone; a worker that closed its end and
  // lingers is killed rather than waited for.
  for (int tries = 0; tries < 100; ++tries) {
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      socket_.reset();
      return describe_status(status);
    }
    if (done < 0 && errno != EINTR) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill();
  return "closed its socket and was killed";
}

void WorkerProcess::retire(std::chrono::milliseconds wait) {
  if (pid_ <= 0) return;
  socket_.reset();
  const auto until = std::chrono::steady_clock::now() + wait;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_ || (done < 0 && errno != EINTR)) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill();
}

}  // namespace mgit::isolation
