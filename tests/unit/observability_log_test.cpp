#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "log_writer.hpp"
#include "mgit/observability/log.hpp"
#include "support/test_environment.hpp"

namespace mgit::observability {
namespace {

using namespace std::chrono_literals;

/// Points stdout (fd 1, where the log goes) at a file for the test's lifetime.
class CapturedStdout {
 public:
  explicit CapturedStdout(std::string path) : path_(std::move(path)) {
    saved_ = ::dup(STDOUT_FILENO);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, STDOUT_FILENO);
    ::close(fd);
  }
  ~CapturedStdout() {
    init_logging(LogLevel::kInfo, LogOutput::kDirect);  // writes out what is left, to the file
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
  }
  CapturedStdout(const CapturedStdout&) = delete;
  CapturedStdout& operator=(const CapturedStdout&) = delete;

  [[nodiscard]] std::string text() const {
    std::ifstream in(path_);
    std::stringstream all;
    all << in.rdbuf();
    return all.str();
  }

 private:
  std::string path_;
  int saved_ = -1;
};

TEST(Log, BufferedLinesAreWrittenInOrderAndAtOnceWithAWarning) {
  test_support::TempDir dir;
  CapturedStdout out((dir.path() / "log").string());
  init_logging(LogLevel::kInfo, LogOutput::kBuffered);
  log(LogLevel::kInfo, "first", {{"n", 1}});
  log(LogLevel::kInfo, "second", {{"n", 2}});
  log(LogLevel::kError, "broken", {{"n", 3}});
  // No waiting: an error line is written before log() returns, with every line before it.
  const auto written = out.text();
  const auto first = written.find(R"("msg":"first")");
  const auto second = written.find(R"("msg":"second")");
  const auto broken = written.find(R"("msg":"broken")");
  ASSERT_NE(first, std::string::npos) << written;
  ASSERT_NE(second, std::string::npos) << written;
  ASSERT_NE(broken, std::string::npos) << written;
  EXPECT_LT(first, second);
  EXPECT_LT(second, broken);

  log(LogLevel::kInfo, "later");
  // The flusher writes an info line a few ms later by itself.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (out.text().find(R"("msg":"later")") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_NE(out.text().find(R"("msg":"later")"), std::string::npos);
  EXPECT_EQ(out.text().back(), '\n');
}

TEST(Log, FlushWritesWhatIsBuffered) {
  test_support::TempDir dir;
  CapturedStdout out((dir.path() / "log").string());
  init_logging(LogLevel::kInfo, LogOutput::kBuffered);
  log(LogLevel::kInfo, "buffered");
  flush_logs();
  EXPECT_NE(out.text().find(R"("msg":"buffered")"), std::string::npos);
}

}  // namespace
}  // namespace mgit::observability

namespace mgit::observability::detail {
namespace {

TEST(LogWritePieces, BatchesAreCutAtWholeLinesOfAtMostPipeBuf) {
  const std::string line(99, 'x');  // 100 bytes with its newline
  std::string batch;
  for (int i = 0; i < 100; ++i) batch += line + "\n";  // 10,000 bytes
  const std::string huge(2 * PIPE_BUF, 'y');
  batch += huge + "\n" + line + "\n";
  const auto pieces = atomic_write_pieces(batch);
  std::string joined;
  for (const auto piece : pieces) {
    joined += piece;
    ASSERT_FALSE(piece.empty());
    EXPECT_EQ(piece.back(), '\n') << "whole lines only";
    if (piece.find('y') == std::string_view::npos) {
      EXPECT_LE(piece.size(), std::size_t{PIPE_BUF}) << "atomic on a pipe";
    } else {
      EXPECT_EQ(piece, huge + "\n") << "a line longer than PIPE_BUF goes alone";
    }
  }
  EXPECT_EQ(joined, batch);
  EXPECT_EQ(pieces.size(), 10000 / (PIPE_BUF / 100 * 100) + 1 + 1 + 1);
}

}  // namespace
}  // namespace mgit::observability::detail
