#include "mgit/audit/file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mgit::audit {

tl::expected<std::unique_ptr<FileSink>, std::string> FileSink::open(
    const std::filesystem::path& path) {
  basics::FileDescriptor fd(
      ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    return tl::unexpected("cannot open audit_file " + path.string() + ": " + std::strerror(errno));
  }
  return std::unique_ptr<FileSink>(new FileSink(std::move(fd)));
}

void FileSink::deliver(std::string line, std::function<void(bool delivered)> done) {
  line += '\n';
  // One write per line: with O_APPEND a whole line lands at the end even if another process
  // appends too. A short write (disk full mid-line) leaves a partial line; it is refused and
  // written again whole, so a reader skips lines that do not parse.
  const auto written = ::write(fd_.get(), line.data(), line.size());
  done(written == static_cast<ssize_t>(line.size()));
}

}  // namespace mgit::audit
