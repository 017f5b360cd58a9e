#pragma once

#include <sys/types.h>

#include <ctime>
#include <map>
#include <string>
#include <tl/expected.hpp>
#include <vector>

namespace mgit::webhooks {

/// The secrets of each route's `secret_file`: its non-empty lines (at most two: the current
/// secret and, while rotating, the next one). A file is read again when its inode, size or
/// modification time changes, so a rotated Kubernetes Secret (an atomic symlink swap) is
/// accepted without a restart. One thread only (the webhook listener's).
class SecretFiles {
 public:
  /// The accepted secrets, or why there are none (the message names the file, never its
  /// contents). An unreadable file keeps no stale secret: its route authenticates nothing.
  tl::expected<std::vector<std::string>, std::string> secrets(const std::string& path);

 private:
  struct Entry {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec modified{};
    std::vector<std::string> secrets;
  };
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace mgit::webhooks
