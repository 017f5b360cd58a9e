#include "progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <tuple>
#include <vector>

#include "fleet_model.hpp"

namespace mgit::mgitctl {
namespace {

using std::chrono::steady_clock;
constexpr auto kRedrawEvery = std::chrono::milliseconds(200);  // ~5 redraws a second at most

double seconds_of(steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

std::string render_duration(steady_clock::duration duration) {
  const auto total =
      std::max<long long>(0, std::chrono::duration_cast<std::chrono::seconds>(duration).count());
  if (total < 60) return fmt::format("{}s", total);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  if (total < 48LL * 3600) return fmt::format("{}h{:02}m", total / 3600, total % 3600 / 60);
  return fmt::format("{}d{:02}h", total / 86400, total % 86400 / 3600);
}

std::string render_progress(const WaitTally& tally, steady_clock::duration elapsed) {
  const double seconds = seconds_of(elapsed);
  const unsigned percent =
      tally.total == 0 ? 100 : static_cast<unsigned>(tally.answered * 100 / tally.total);
  std::string line = fmt::format("answered {}/{} ({}%)  failures {}", tally.answered, tally.total,
                                 percent, tally.failures);
  // Rate and ETA only once there is something to divide: "0.0/s, ETA ∞" helps nobody.
  if (tally.answered > 0 && seconds > 0) {
    const double rate = static_cast<double>(tally.answered) / seconds;
    line += fmt::format("  {:.1f}/s", rate);
    if (tally.answered < tally.total) {
      const double eta = static_cast<double>(tally.total - tally.answered) / rate;
      line += "  ETA " + render_duration(std::chrono::duration_cast<steady_clock::duration>(
                             std::chrono::duration<double>(eta)));
    }
  } else {
    line += "  waiting for the first result";
  }
  line += "  elapsed " + render_duration(elapsed);
  return line;
}

std::string render_summary(const WaitTally& tally, steady_clock::duration elapsed) {
  std::size_t status_width = std::string_view("no result").size();
  std::size_t code_width = std::string_view("error").size();
  // Status and code come from result events: shown only once control characters are out.
  std::vector<std::tuple<std::string, std::string, std::size_t>> rows;
  for (const auto& [outcome, count] : tally.by_outcome) {
    rows.emplace_back(terminal_safe(outcome.first), terminal_safe(outcome.second), count);
    status_width = std::max(status_width, std::get<0>(rows.back()).size());
    code_width = std::max(code_width, std::get<1>(rows.back()).size());
  }
  std::string out = fmt::format("answered {}/{} in {}, failures {}\n", tally.answered, tally.total,
                                render_duration(elapsed), tally.failures);
  out +=
      fmt::format("{:<{}}  {:<{}}  {:>6}\n", "status", status_width, "error", code_width, "count");
  for (const auto& [status, code, count] : rows) {
    out += fmt::format("{:<{}}  {:<{}}  {:>6}\n", status, status_width, code, code_width, count);
  }
  if (tally.answered < tally.total) {
    out += fmt::format("{:<{}}  {:<{}}  {:>6}\n", "no result", status_width, "-", code_width,
                       tally.total - tally.answered);
  }
  return out;
}

ProgressLine::ProgressLine(std::FILE* stream) : stream_(stream), start_(steady_clock::now()) {
  const char* term = std::getenv("TERM");
  const bool dumb = term != nullptr && std::string_view(term) == "dumb";
  active_ = !dumb && isatty(fileno(stream)) == 1;
  shares_terminal_with_stdout_ = active_ && isatty(STDOUT_FILENO) == 1;
}

void ProgressLine::clear() {
  if (!drawn_) return;
  std::fputs("\r\033[K", stream_);  // carriage return, erase to end of line
  std::fflush(stream_);
  drawn_ = false;
}

void ProgressLine::tick(const WaitTally& tally) {
  if (!active_) return;
  const auto now = steady_clock::now();
  if (last_draw_ != steady_clock::time_point{} && now - last_draw_ < kRedrawEvery) return;
  const std::string line = render_progress(tally, now - start_);
  std::fputs(("\r" + line + "\033[K").c_str(), stream_);
  std::fflush(stream_);
  drawn_ = true;
  last_draw_ = now;
}

void ProgressLine::before_output() {
  if (shares_terminal_with_stdout_) clear();
}

void ProgressLine::finish(const WaitTally& tally) {
  if (!active_) return;
  clear();
  std::fputs(render_summary(tally, steady_clock::now() - start_).c_str(), stream_);
  std::fflush(stream_);
}

}  // namespace mgit::mgitctl
