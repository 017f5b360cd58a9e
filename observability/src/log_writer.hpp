#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace mgit::observability::detail {

/// Where a batch of lines is cut into writes: whole lines, each piece at most PIPE_BUF bytes
/// unless one line alone is longer. The git workers write their own lines to the same stdout,
/// a pipe in a container, and only a write of up to PIPE_BUF bytes is atomic there: a larger
/// batch could get a worker's line spliced into one of its lines.
std::vector<std::string_view> atomic_write_pieces(std::string_view lines);

/// Writes complete log lines to stdout. Unbuffered, every line is one write(2). Buffered,
/// lines are collected and written together by a flusher thread a few ms after the first of
/// them, so a busy event loop pays an append instead of a system call per line. Either way
/// a warn or error line, and everything before it, is written before log() returns, and what
/// is buffered is written at exit: a crash can lose at most the last few ms of info lines.
class LogWriter {
 public:
  LogWriter() = default;
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;
  ~LogWriter();

  void set_buffered(bool buffered);
  /// `line` without its newline. `urgent` writes it, and all lines before it, now.
  void write(std::string_view line, bool urgent);
  /// Writes out everything buffered.
  void flush();

 private:
  void run_flusher();

  std::mutex write_mutex_;  ///< held while writing: keeps lines in the order they were taken
  std::mutex mutex_;        ///< guards the fields below
  std::condition_variable wake_;
  std::string pending_;
  bool buffered_ = false;
  bool stopping_ = false;
  std::thread flusher_;
};

}  // namespace mgit::observability::detail
