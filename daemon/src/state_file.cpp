#include "state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mgit::daemon {
namespace {

/// The directory holding `path`, opened without following a symlink in its place: a worker
/// may swap `.mgitd` itself for a link to anywhere. Everything below works relative to it.
tl::expected<basics::FileDescriptor, std::string> open_parent(const std::filesystem::path& path) {
  const auto parent = path.parent_path();
  basics::FileDescriptor dir(::open(parent.empty() ? "." : parent.c_str(),
                                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir)
    return tl::unexpected(std::string("cannot open its directory: ") + std::strerror(errno));
  return dir;
}

}  // namespace

tl::expected<basics::FileDescriptor, std::string> create_state_file(
    const std::filesystem::path& path) {
  const auto dir = open_parent(path);
  if (!dir) return tl::unexpected(dir.error());
  const auto name = path.filename();
  if (::unlinkat(dir->get(), name.c_str(), 0) != 0 && errno != ENOENT) {
    return tl::unexpected(std::string("cannot replace: ") + std::strerror(errno));
  }
  // O_NONBLOCK: should a FIFO appear between the unlink and here, O_EXCL refuses it anyway;
  // the flag only guarantees that no open can ever wait for a reader.
  basics::FileDescriptor fd(
      ::openat(dir->get(), name.c_str(),
               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600));
  if (!fd) return tl::unexpected(std::string("cannot create: ") + std::strerror(errno));
  return fd;
}

tl::expected<std::string, std::string> read_state_file(const std::filesystem::path& path,
                                                       std::size_t max_bytes) {
  const auto dir = open_parent(path);
  if (!dir) return tl::unexpected(errno == ENOENT ? std::string("absent") : dir.error());
  basics::FileDescriptor fd(::openat(dir->get(), path.filename().c_str(),
                                     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
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

tl::expected<void, std::string> replace_state_file(const std::filesystem::path& from,
                                                   const std::filesystem::path& to) {
  const auto dir = open_parent(to);
  if (!dir) return tl::unexpected(dir.error());
  if (::renameat(dir->get(), from.filename().c_str(), dir->get(), to.filename().c_str()) != 0) {
    return tl::unexpected(std::string("cannot rename: ") + std::strerror(errno));
  }
  return {};
}

void remove_state_file(const std::filesystem::path& path) {
  if (const auto dir = open_parent(path)) ::unlinkat(dir->get(), path.filename().c_str(), 0);
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
