#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "mgit/basics/file_descriptor.hpp"
#include "mgit/isolation/worker.hpp"

namespace mgit::isolation {

/// How to start a worker: the program, its arguments (argv[1..]) and its whole environment.
struct SpawnSpec {
  std::filesystem::path executable;
  std::vector<std::string> arguments;
  std::vector<std::string> environment;  ///< `NAME=value`, nothing else is inherited
  std::filesystem::path working_directory;
};

/// One worker process and the supervisor's end of its socket pair. Started with
/// `posix_spawn` (no fork of the threaded daemon): stdin from /dev/null, stdout and stderr
/// shared, the socket as descriptor 3 and no other descriptor (librdkafka's sockets and
/// Asio's accepted ones are not all close-on-exec), every signal at its default and none
/// blocked, and in a process group of its own so a Ctrl-C to the daemon's group does not
/// kill a worker mid-write. The destructor kills and reaps a worker still running.
class WorkerProcess {
 public:
  static tl::expected<std::unique_ptr<WorkerProcess>, std::string> spawn(const SpawnSpec& spec);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] int socket() const { return socket_.get(); }
  int jobs_served = 0;

  /// SIGKILLs the worker and reaps it.
  void kill();
  /// Reaps a worker whose socket closed and says how it ended ("exit status 3", "signal 9").
  std::string reap();
  /// Closes the socket, which asks the worker to exit (it reads EOF between jobs), and
  /// reaps it, killing it if it has not exited by `wait`.
  void retire(std::chrono::milliseconds wait);

 private:
  WorkerProcess(pid_t pid, basics::FileDescriptor socket) : pid_(pid), socket_(std::move(socket)) {}

  pid_t pid_ = -1;
  basics::FileDescriptor socket_;
};

}  // namespace mgit::isolation
