#include "state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mgit::daemon {

tl::expected<basics::FileDescriptor, std::string> create_state_file(
    const std::filesystem::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return tl::unexpected(std::string("cannot replace: ") + std::strerror(errno));
  }
  // O_NONBLOCK: should a FIFO appear between the unlink and here, O_EXCL refuses it anyway;
  // the flag only guarantees that no open can ever wait for a reader.
  basics::FileDescriptor fd(::open(
      path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600));
  if (!fd) return tl::unexpected(std::string("cannot create: ") + std::strerror(errno));
  return fd;
}

tl::expected<std::string, std::string> read_state_file(const std::filesystem::path& path,
                                                       std::size_t max_bytes) {
  basics::FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    return tl::unexpected(errno == ENOENT ? std::string("absent")
                                          : std::string("cannot open: ") + std::strerror(errno));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    return tl::unexpected(std::string("cannot stat: ") + std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) return tl::unexpected(std::string("not a regular file"));
  if (static_cast<std::size_t>(info.st_size) > max_bytes) {
    return tl::unexpected("larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::string content;
  char buffer[8192];
  for (;;) {
    const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return tl::unexpected(std::string("cannot read: ") + std::strerror(errno));
    if (got == 0) break;
    content.append(buffer, static_cast<std::size_t>(got));
    if (content.size() > max_bytes) {
      return tl::unexpected("larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  return content;
}

bool write_all(int fd, std::string_view content) {
  while (!content.empty()) {
    const ssize_t written = ::write(fd, content.data(), content.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    content.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

}  // namespace mgit::daemon
