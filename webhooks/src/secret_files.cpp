#include "mgit/webhooks/secret_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgit/basics/ascii.hpp"
#include "mgit/basics/file_descriptor.hpp"

namespace mgit::webhooks {
namespace {

constexpr off_t kMaxSecretFileBytes = 4096;
constexpr std::size_t kMaxSecrets = 2;
// A guessable secret lets anyone trigger jobs: refused, like a credential without hosts.
constexpr std::size_t kMinSecretLength = 16;

bool same_file(const struct stat& now, dev_t device, ino_t inode, off_t size,
               const timespec& modified) {
  return now.st_dev == device && now.st_ino == inode && now.st_size == size &&
         now.st_mtim.tv_sec == modified.tv_sec && now.st_mtim.tv_nsec == modified.tv_nsec;
}

}  // namespace

tl::expected<std::vector<std::string>, std::string> SecretFiles::secrets(const std::string& path) {
  // stat follows the symlinks Kubernetes mounts a Secret through: a swap changes the inode.
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) {
    entries_.erase(path);
    return tl::make_unexpected("webhook secret file " + path + " cannot be read");
  }
  if (auto found = entries_.find(path); found != entries_.end()) {
    const auto& entry = found->second;
    if (same_file(status, entry.device, entry.inode, entry.size, entry.modified)) {
      return entry.secrets;
    }
  }
  entries_.erase(path);
  if (!S_ISREG(status.st_mode) || status.st_size > kMaxSecretFileBytes) {
    return tl::make_unexpected("webhook secret file " + path +
                               " is not a regular file of at most 4 KiB");
  }
  basics::FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return tl::make_unexpected("webhook secret file " + path + " cannot be read");
  std::string text(static_cast<std::size_t>(kMaxSecretFileBytes) + 1, '\0');
  std::size_t used = 0;
  while (used < text.size()) {
    const auto got = ::read(fd.get(), text.data() + used, text.size() - used);
    if (got < 0) return tl::make_unexpected("webhook secret file " + path + " cannot be read");
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
  }
  text.resize(used);
  Entry entry{status.st_dev, status.st_ino, status.st_size, status.st_mtim, {}};
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = text.find('\n', start);
    const auto line = basics::trim(std::string_view(text).substr(
        start, end == std::string::npos ? std::string::npos : end - start));
    if (!line.empty()) entry.secrets.emplace_back(line);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (entry.secrets.empty() || entry.secrets.size() > kMaxSecrets) {
    return tl::make_unexpected("webhook secret file " + path +
                               " must hold one secret, or two while rotating (one per line)");
  }
  for (const auto& secret : entry.secrets) {
    if (secret.size() < kMinSecretLength) {
      return tl::make_unexpected("webhook secret file " + path +
                                 " holds a secret shorter than 16 characters");
    }
  }
  auto secrets = entry.secrets;
  entries_[path] = std::move(entry);
  return secrets;
}

}  // namespace mgit::webhooks
