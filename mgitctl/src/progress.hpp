#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <map>
#include <string>
#include <utility>

namespace mgit::mgitctl {

/// What `enqueue --wait` has seen so far.
struct WaitTally {
  std::size_t total = 0;     ///< results expected
  std::size_t answered = 0;  ///< distinct job ids answered
  std::size_t failures = 0;  ///< answers other than `succeeded`
  /// (status, error code or "-") -> count, for the closing table.
  std::map<std::pair<std::string, std::string>, std::size_t> by_outcome;
};

/// `answered 3/10 (30%)  failures 1  2.5/s  ETA 3s`: one line, no control characters.
std::string render_progress(const WaitTally& tally, std::chrono::steady_clock::duration elapsed);

/// The closing table: a heading line, then one row per (status, error code), then
/// `no result` for the ones still missing; every line ends with '\n'.
std::string render_summary(const WaitTally& tally, std::chrono::steady_clock::duration elapsed);

/// `12s`, `3m05s`, `2h07m`, `3d04h`.
std::string render_duration(std::chrono::steady_clock::duration duration);

/// The live progress line of `enqueue --wait`, drawn on stderr only when stderr is a terminal
/// (results stay on stdout, untouched). Redraws in place at most every 200 ms. Single-threaded.
class ProgressLine {
 public:
  /// Active when `stream`'s descriptor is a terminal and TERM is not "dumb".
  explicit ProgressLine(std::FILE* stream);
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  [[nodiscard]] bool active() const { return active_; }
  /// Redraws when at least 200 ms passed since the last draw (or nothing is drawn yet).
  void tick(const WaitTally& tally);
  /// Call before writing a result to stdout: when stdout shares the terminal, the line is
  /// wiped so the result does not land in the middle of it (the next tick redraws it).
  void before_output();
  /// Wipes the line and prints the summary table.
  void finish(const WaitTally& tally);

 private:
  void clear();

  std::FILE* stream_;
  bool active_ = false;
  bool shares_terminal_with_stdout_ = false;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace mgit::mgitctl
