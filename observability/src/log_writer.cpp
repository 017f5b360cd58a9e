#include "log_writer.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <utility>

namespace mgit::observability::detail {
namespace {

// How long the flusher lets lines gather after the first one: long enough that a busy loop's
// lines share a write, short enough that a tailing operator sees no lag.
constexpr auto kGatherWindow = std::chrono::milliseconds(5);
// Beyond this a writer flushes itself rather than grow the buffer.
constexpr std::size_t kMaxPendingBytes = std::size_t{256} * 1024;

void write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    const auto written = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report it: stdout is the log
    }
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
}

}  // namespace

std::vector<std::string_view> atomic_write_pieces(std::string_view lines) {
  std::vector<std::string_view> pieces;
  while (!lines.empty()) {
    std::size_t end = 0;
    while (end < lines.size()) {
      const auto newline = lines.find('\n', end);
      const auto next = newline == std::string_view::npos ? lines.size() : newline + 1;
      if (end > 0 && next > PIPE_BUF) break;
      end = next;
    }
    pieces.push_back(lines.substr(0, end));
    lines.remove_prefix(end);
  }
  return pieces;
}

LogWriter::~LogWriter() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  flush();
}

void LogWriter::set_buffered(bool buffered) {
  {
    const std::lock_guard lock(mutex_);
    buffered_ = buffered;
    if (buffered && !flusher_.joinable()) flusher_ = std::thread([this] { run_flusher(); });
  }
  if (!buffered) flush();
}

void LogWriter::write(std::string_view line, bool urgent) {
  bool wake = false;
  bool now = urgent;
  {
    const std::lock_guard lock(mutex_);
    wake = pending_.empty();
    pending_.append(line);
    pending_.push_back('\n');
    if (!buffered_ || pending_.size() >= kMaxPendingBytes) now = true;
  }
  if (now) {
    flush();
  } else if (wake) {
    wake_.notify_one();
  }
}

void LogWriter::flush() {
  const std::lock_guard writing(write_mutex_);
  std::string taken;
  {
    const std::lock_guard lock(mutex_);
    taken.swap(pending_);
  }
  for (const auto piece : atomic_write_pieces(taken)) write_all(piece);
}

void LogWriter::run_flusher() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (stopping_) break;
    // Let the lines of this burst gather; a stop or an urgent line ends the wait early
    // (flush() takes what is there either way).
    wake_.wait_for(lock, kGatherWindow, [this] { return stopping_; });
    lock.unlock();
    flush();
    lock.lock();
  }
}

}  // namespace mgit::observability::detail
