#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mgit::test_support {

/// A real mgitd child process with stdout+stderr captured to a file.
class DaemonProcess {
 public:
  DaemonProcess(std::string binary, std::vector<std::string> args, std::filesystem::path log_path);
  ~DaemonProcess();  ///< SIGKILLs a process still running
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();

  void signal(int signal_number);
  /// Waits for exit; returns the exit code (128+signal when killed), nothing on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  const std::filesystem::path& log_path() const { return log_path_; }
  std::string log_text() const;
  /// Waits until a log line contains `needle`.
  bool wait_for_log(const std::string& needle, std::chrono::milliseconds timeout) const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::filesystem::path log_path_;
};

/// Polls `condition` every 50 ms until it holds or the timeout passes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace mgit::test_support
