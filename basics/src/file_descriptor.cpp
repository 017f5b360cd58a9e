#include "mgit/basics/file_descriptor.hpp"

#include <unistd.h>

namespace mgit::basics {

void FileDescriptor::reset(int fd) {
  // close() is not retried on EINTR: on Linux the descriptor is released either way, and a
  // retry could close a descriptor another thread has just been given.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace mgit::basics
