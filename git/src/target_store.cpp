#include "mgit/git/target_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

#include "mgit/basics/ascii.hpp"
#include "mgit/basics/file_descriptor.hpp"
#include "mgit/observability/log.hpp"
#include "target_record_json.hpp"

namespace mgit::git {
namespace {

constexpr auto kLockPoll = std::chrono::milliseconds(20);

jobs::JobError internal(std::string message) {
  return jobs::JobError{jobs::ErrorCode::kInternal, std::move(message)};
}

std::string sha256_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  return basics::lower_hex(digest, length);
}

/// Where a record file lives, relative to the workspace: messages reach job results, which
/// must not reveal the daemon's filesystem layout.
std::string relative_name(const std::filesystem::path& file) {
  return ".mgitd/targets/" + file.filename().string();
}

/// The file's bytes, nothing when it does not exist, or the errno of the failure.
tl::expected<std::optional<std::string>, int> read_whole_file(const std::filesystem::path& path) {
  const basics::FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>();
    return tl::make_unexpected(errno);
  }
  std::string content;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tl::make_unexpected(errno);
    if (n == 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
  }
  return std::optional<std::string>(std::move(content));
}

tl::expected<void, jobs::JobError> sync_directory(const std::filesystem::path& directory) {
  const basics::FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return tl::make_unexpected(internal("cannot open target record directory"));
  if (::fsync(fd.get()) != 0)
    return tl::make_unexpected(internal("cannot sync target record directory"));
  return {};
}

tl::expected<void, jobs::JobError> create_state_directory(const std::filesystem::path& directory) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) {
    return tl::make_unexpected(
        internal(fmt::format("cannot create .mgitd/targets: {}", ec.message())));
  }
  return {};
}

/// Opens `path` with `flags`; when its directory is missing, creates it and tries again (the
/// directory exists for every job but a workspace's first, so it is not checked first).
tl::expected<basics::FileDescriptor, jobs::JobError> open_in_state_directory(
    const std::filesystem::path& path, int flags) {
  basics::FileDescriptor fd(::open(path.c_str(), flags, 0640));
  if (!fd && errno == ENOENT) {
    if (auto ok = create_state_directory(path.parent_path()); !ok) {
      return tl::make_unexpected(ok.error());
    }
    fd = basics::FileDescriptor(::open(path.c_str(), flags, 0640));
  }
  return fd;
}

/// Swaps `temp` and an existing `path` atomically. ext4 (`auto_da_alloc`) writes a file's
/// data out when it is renamed over another, so a plain rename waits for the disk even
/// without fsync (0.1 ms idle, over 1 ms under load; an exchange: 10 µs). False when `path`
/// does not exist yet or the file system cannot exchange: the caller renames instead.
bool exchanged(const std::filesystem::path& temp, const std::filesystem::path& path) {
  return ::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, path.c_str(), RENAME_EXCHANGE) == 0;
}

/// Replaces `path` with `content` atomically: temp file, rename; with `durable`, the temp
/// file is fsync'd before the rename and the directory after it, else an existing `path` is
/// exchanged with the temp file rather than renamed over.
tl::expected<void, jobs::JobError> write_atomically(const std::filesystem::path& path,
                                                    std::string_view content, bool durable) {
  std::filesystem::path temp = path;
  temp += fmt::format(".tmp.{}.{}", ::getpid(), std::random_device{}());
  auto opened = open_in_state_directory(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC);
  if (!opened) return tl::make_unexpected(opened.error());
  basics::FileDescriptor fd = std::move(*opened);
  if (!fd) {
    return tl::make_unexpected(
        internal(fmt::format("cannot create {}: {}", relative_name(temp), std::strerror(errno))));
  }
  // Each failing call's errno is taken right after it: close() and unlink() may change it.
  int err = 0;
  std::size_t written = 0;
  while (err == 0 && written < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
    } else if (n == 0) {
      err = EIO;  // write(2) returns 0 for a non-empty buffer only on a broken device
    } else {
      written += static_cast<std::size_t>(n);
    }
  }
  if (err == 0 && durable && ::fsync(fd.get()) != 0) err = errno;
  // Closed here, not by the owner, because a failing close() can report a lost write.
  if (::close(fd.release()) != 0 && err == 0) err = errno;
  if (err == 0 && !durable && exchanged(temp, path)) {
    ::unlink(temp.c_str());  // now the old record; one left behind by a crash is harmless
    return {};
  }
  if (err == 0 && ::rename(temp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(temp.c_str());
    if (err == ENOSPC || err == EDQUOT || err == EFBIG) {
      return tl::make_unexpected(jobs::JobError{
          jobs::ErrorCode::kDiskFull, fmt::format("no space to write {}", relative_name(path))});
    }
    return tl::make_unexpected(
        internal(fmt::format("cannot write {}: {}", relative_name(path), std::strerror(err))));
  }
  if (!durable) return {};
  return sync_directory(path.parent_path());
}

/// Unlinks `path`; one that is already gone counts as removed.
tl::expected<void, jobs::JobError> remove_state_file(const std::filesystem::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return tl::make_unexpected(
        internal(fmt::format("cannot remove {}: {}", relative_name(path), std::strerror(errno))));
  }
  return {};
}

/// Whether `fd` is still the file at `path`: a lock file unlinked (by `forget`) while a
/// waiter was blocked on it locks nothing anybody else will ever look at.
tl::expected<bool, int> is_file_at(int fd, const std::filesystem::path& path) {
  struct stat held {};
  struct stat current {};
  if (::fstat(fd, &held) != 0) return tl::make_unexpected(errno);
  if (::stat(path.c_str(), &current) != 0) {
    if (errno == ENOENT) return false;
    return tl::make_unexpected(errno);
  }
  return held.st_ino == current.st_ino && held.st_dev == current.st_dev;
}

}  // namespace

const ServedJob* TargetRecord::find(std::string_view job_id,
                                    std::string_view repository_key) const {
  for (const ServedJob& job : served) {
    if (job.job_id != job_id) continue;
    if (job.repository_key == repository_key) return &job;
    if (job.repository_key.empty() && !job.error && repository_key == this->repository_key) {
      return &job;
    }
  }
  return nullptr;
}

void TargetRecord::add(ServedJob job) {
  std::erase_if(served, [&](const ServedJob& s) {
    return s.job_id == job.job_id && s.repository_key == job.repository_key;
  });
  served.push_back(std::move(job));
  if (served.size() > TargetStore::kMaxServed) {
    served.erase(served.begin(), served.begin() + static_cast<std::ptrdiff_t>(
                                                      served.size() - TargetStore::kMaxServed));
  }
}

TargetStore::TargetStore(const std::filesystem::path& workspace)
    : directory_(workspace / ".mgitd" / "targets") {}

std::filesystem::path TargetStore::file_stem(std::string_view target) const {
  return directory_ / sha256_hex(target);
}

tl::expected<std::optional<TargetRecord>, jobs::JobError> TargetStore::load(
    std::string_view target) const {
  std::filesystem::path path = file_stem(target);
  path += ".json";
  auto content = read_whole_file(path);
  if (!content) {
    return tl::make_unexpected(internal(fmt::format(
        "cannot read target record {}: {}", relative_name(path), std::strerror(content.error()))));
  }
  if (!content->has_value()) return std::optional<TargetRecord>();
  if ((*content)->find_first_not_of('\0') == std::string::npos) {
    // Empty (or zeros): what ext4 leaves of a record swapped in without fsync in the half
    // minute before a power loss, the expected aftermath rather than damage worth keeping.
    // It is overwritten by this job's save.
    observability::log(observability::LogLevel::kWarn,
                       "target record empty (a write lost to a machine crash); starting it over",
                       {{"target", target}});
    return std::optional<TargetRecord>(TargetRecord{std::string(target), {}, {}});
  }
  if (auto record = parse_record(**content, target)) return record;

  // A corrupt record must not fail every later job on the target until someone intervenes:
  // it is kept for inspection and the target starts over. The executor re-derives the
  // binding from the repository itself; only the redelivery memory is lost.
  std::filesystem::path aside = path;
  aside += fmt::format(".corrupt-{}", std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  std::error_code ec;
  std::filesystem::rename(path, aside, ec);
  if (ec) {
    return tl::make_unexpected(
        internal(fmt::format("target record {} is corrupt and cannot be moved aside: {}",
                             relative_name(path), ec.message())));
  }
  const std::string moved_to = relative_name(aside);
  observability::log(observability::LogLevel::kError, "target record corrupt; moved aside",
                     {{"target", target}, {"moved_to", moved_to}});
  return std::optional<TargetRecord>(TargetRecord{std::string(target), {}, {}});
}

tl::expected<void, jobs::JobError> TargetStore::save(const TargetRecord& record,
                                                     Durability durability) const {
  std::filesystem::path path = file_stem(record.target);
  path += ".json";
  return write_atomically(path, serialize_record(record), durability == Durability::kCrashSafe);
}

tl::expected<TargetLock, jobs::JobError> TargetStore::lock(
    std::string_view target, const execution::ExecutionControl& control) const {
  std::filesystem::path path = file_stem(target);
  path += ".lock";
  // Waiting for a lock another replica holds is not a stall: the wait reports progress.
  execution::Progress waiting;
  while (true) {
    auto opened = open_in_state_directory(path, O_RDWR | O_CREAT | O_CLOEXEC);
    if (!opened) return tl::make_unexpected(opened.error());
    basics::FileDescriptor fd = std::move(*opened);
    if (!fd) {
      return tl::make_unexpected(internal(
          fmt::format("cannot open lock {}: {}", relative_name(path), std::strerror(errno))));
    }
    while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        return tl::make_unexpected(
            internal(fmt::format("cannot lock {}: {}", relative_name(path), std::strerror(errno))));
      }
      if (control.should_stop()) {
        return tl::make_unexpected(control.stop_error("while waiting for the target lock"));
      }
      ++waiting.waiting_polls;
      control.report(waiting);
      std::this_thread::sleep_for(kLockPoll);
    }
    auto current = is_file_at(fd.get(), path);
    if (!current) {
      return tl::make_unexpected(internal(fmt::format(
          "cannot check lock {}: {}", relative_name(path), std::strerror(current.error()))));
    }
    if (*current) return TargetLock(std::move(fd));
    // The holder removed the file before releasing it: take the lock on the one at the path
    // now (a new one, or one another waiter created first).
  }
}

tl::expected<void, jobs::JobError> TargetStore::forget(std::string_view target,
                                                       const TargetLock& /*held*/) const {
  const std::filesystem::path stem = file_stem(target);
  for (const char* suffix : {".json", ".creating", ".lock"}) {
    std::filesystem::path path = stem;
    path += suffix;
    // The lock file goes last: once it is gone, a waiter may lock a new one and start.
    if (auto ok = remove_state_file(path); !ok) return ok;
  }
  return {};
}

tl::expected<void, jobs::JobError> TargetStore::mark_creating(std::string_view target,
                                                              std::size_t created) const {
  std::filesystem::path path = file_stem(target);
  path += ".creating";
  return write_atomically(path, fmt::format("created_directories={}\n", created), true);
}

tl::expected<std::optional<std::size_t>, jobs::JobError> TargetStore::creating(
    std::string_view target) const {
  std::filesystem::path path = file_stem(target);
  path += ".creating";
  auto content = read_whole_file(path);
  if (!content) {
    return tl::make_unexpected(internal(fmt::format(
        "cannot read marker {}: {}", relative_name(path), std::strerror(content.error()))));
  }
  if (!content->has_value()) return std::optional<std::size_t>();
  // Written atomically, so anything else is a hand edit: creating nothing is the safe reading
  // (the target directory is emptied, no directory removed).
  std::size_t created = 0;
  const std::string_view text = **content;
  constexpr std::string_view kKey = "created_directories=";
  if (text.substr(0, kKey.size()) == kKey) {
    for (const char c : text.substr(kKey.size())) {
      if (c < '0' || c > '9' || created > 1000) break;
      created = created * 10 + static_cast<std::size_t>(c - '0');
    }
  }
  return std::optional<std::size_t>(created);
}

tl::expected<void, jobs::JobError> TargetStore::clear_creating(std::string_view target) const {
  std::filesystem::path path = file_stem(target);
  path += ".creating";
  if (auto ok = remove_state_file(path); !ok) return ok;
  // Durable: a marker back after a crash would have the finished target removed again.
  return sync_directory(directory_);
}

}  // namespace mgit::git
