#include "sandbox.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/landlock.h>
#include <linux/openat2.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "mgit/basics/file_descriptor.hpp"

namespace mgit::isolation {
namespace {

// Rights newer than bookworm's kernel headers (ABI 2); the kernel reports which it knows.
constexpr std::uint64_t kAccessTruncate = 1ULL << 14;          // ABI 3
constexpr std::uint64_t kAccessIoctlDev = 1ULL << 15;          // ABI 5
constexpr std::uint64_t kScopeAbstractUnixSocket = 1ULL << 0;  // ABI 6
constexpr std::uint64_t kScopeSignal = 1ULL << 1;              // ABI 6

constexpr std::uint64_t kReadOnly = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
constexpr std::uint64_t kAbi1All =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
    LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
    LANDLOCK_ACCESS_FS_MAKE_SYM;

// What git needs to run: shared libraries, CA certificates, name resolution.
constexpr std::array kSystemReadPaths = {"/usr",
                                         "/lib",
                                         "/lib64",
                                         "/etc/ssl",
                                         "/etc/pki",
                                         "/etc/ca-certificates",
                                         "/etc/resolv.conf",
                                         "/etc/hosts",
                                         "/etc/nsswitch.conf",
                                         "/etc/host.conf",
                                         "/etc/gai.conf",
                                         "/etc/services",
                                         "/etc/localtime",
                                         "/etc/gitconfig",
                                         "/proc/self",
                                         "/dev/null",
                                         "/dev/urandom"};

int landlock_abi() {
  const long abi =
      ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

bool allow(int ruleset, const char* path, std::uint64_t access) {
  basics::FileDescriptor fd(::open(path, O_PATH | O_CLOEXEC));
  if (!fd) return errno == ENOENT;  // an absent system path needs no rule
  landlock_path_beneath_attr rule{};
  rule.parent_fd = fd.get();
  rule.allowed_access = access;
  struct stat info {};
  // Directory-only rights on a file are refused by the kernel: keep the file ones.
  if (::fstat(fd.get(), &info) == 0 && !S_ISDIR(info.st_mode)) {
    rule.allowed_access &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                           LANDLOCK_ACCESS_FS_READ_FILE | kAccessTruncate | kAccessIoctlDev;
  }
  return ::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) == 0;
}

bool beneath(std::string_view path, std::string_view directory) {
  if (directory.empty() || path.substr(0, directory.size()) != directory) return false;
  return path.size() == directory.size() || directory.back() == '/' ||
         path[directory.size()] == '/';
}

bool allow_without_symlinks(int ruleset, const char* path, std::uint64_t access) {
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS;
  basics::FileDescriptor fd(
      static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how)));
  if (!fd) return false;
  landlock_path_beneath_attr rule{};
  rule.parent_fd = fd.get();
  rule.allowed_access = access;
  return ::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) == 0;
}

std::string apply_landlock(const WorkerSetup& setup) {
  const int abi = landlock_abi();
  if (abi <= 0) return "landlock unavailable";
  std::uint64_t handled = kAbi1All;
  if (abi >= 2) handled |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) handled |= kAccessTruncate;
  if (abi >= 5) handled |= kAccessIoctlDev;
  // The ABI 6 layout (bookworm's header knows only the first field); an older kernel accepts
  // the longer struct as long as the fields it does not know are zero.
  struct {
    std::uint64_t handled_access_fs;
    std::uint64_t handled_access_net;
    std::uint64_t scoped;
  } attributes{handled, 0, 0};
  // ABI 6: no signal to a process outside the sandbox (a worker taken over by a hostile pack
  // cannot kill its daemon) and no abstract unix socket outside it.
  if (abi >= 6) attributes.scoped = kScopeAbstractUnixSocket | kScopeSignal;
  basics::FileDescriptor ruleset(
      static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attributes, sizeof attributes, 0)));
  if (!ruleset)
    return fmt::format("landlock abi {} refused a ruleset: {}", abi, std::strerror(errno));
  // No FIFOs, sockets or devices: git never makes one, and a FIFO in `.mgitd/` is how a
  // worker taken over by a hostile pack could hang the daemon opening its own files there.
  const std::uint64_t read_write =
      handled &
      ~(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SOCK |
        LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK);
  bool ok = allow(ruleset.get(), setup.workspace.c_str(), read_write);
  // A HOME beneath the workspace is covered by the workspace's rule, and must not get a rule
  // of its own: any worker may write there, and a HOME replaced by a symlink to `/` would
  // hand the next worker the whole file system. Elsewhere it gets a rule only when no
  // component of its path is a symlink.
  if (const char* home = std::getenv("HOME");
      home != nullptr && *home != '\0' && !beneath(home, setup.workspace)) {
    ok = allow_without_symlinks(ruleset.get(), home, read_write) && ok;
  }
#ifdef MGITD_PROFILE_DIR
  // Coverage builds write their counters next to the objects when a worker exits.
  ok = allow(ruleset.get(), MGITD_PROFILE_DIR, read_write) && ok;
#endif
  for (const char* path : kSystemReadPaths) ok = allow(ruleset.get(), path, kReadOnly) && ok;
  // libgit2 reads the operator's CA file when the executor starts, after this ruleset: a file
  // only, never its directory (which may hold the CA's key or other secrets).
  if (!setup.ca_file.empty()) {
    ok = allow(ruleset.get(), setup.ca_file.c_str(), LANDLOCK_ACCESS_FS_READ_FILE) && ok;
  }
  if (!ok) return fmt::format("landlock abi {} not applied: a rule was refused", abi);
  if (::syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0) {
    return fmt::format("landlock abi {} not applied: {}", abi, std::strerror(errno));
  }
  return fmt::format("landlock abi {} enforced{}", abi, abi >= 6 ? ", signals scoped" : "");
}

bool set_limit(int resource, std::uint64_t bytes) {
  const rlimit limit{static_cast<rlim_t>(bytes), static_cast<rlim_t>(bytes)};
  return ::setrlimit(resource, &limit) == 0;
}

bool under_sanitizer() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

}  // namespace

void harden_process() {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  ::prctl(PR_SET_DUMPABLE, 0);
  ::signal(SIGXFSZ, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  set_limit(RLIMIT_CORE, 0);
  // If memory runs out, the kernel kills a worker (its job answers `internal`) before it
  // kills the daemon, whose death would cost every running job.
  if (const int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC); fd >= 0) {
    (void)!::write(fd, "1000", 4);
    ::close(fd);
  }
}

std::string apply_sandbox(const WorkerSetup& setup) {
  std::string applied;
  if (setup.file_size_limit_bytes > 0) {
    applied += set_limit(RLIMIT_FSIZE, setup.file_size_limit_bytes) ? "rlimit fsize; "
                                                                    : "rlimit fsize refused; ";
  }
  // RLIMIT_DATA, not RLIMIT_AS: libgit2 maps pack windows of up to 1 GiB, which count against
  // the address space but not against data. Sanitizers reserve terabytes of shadow memory.
  if (setup.memory_limit_bytes > 0 && !under_sanitizer()) {
    applied += set_limit(RLIMIT_DATA, setup.memory_limit_bytes) ? "rlimit data; "
                                                                : "rlimit data refused; ";
  }
  applied += setup.landlock ? apply_landlock(setup) : "landlock off";
  return applied;
}

}  // namespace mgit::isolation
