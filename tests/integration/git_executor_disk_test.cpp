// GitExecutor and the disk: free space and size limits, corrupt targets, and what a process
// killed mid-clone or mid-fetch leaves behind. Runs against the real smart-HTTP server of
// scripts/git-server (MGITD_TEST_GIT_URL, MGITD_TEST_GIT_DIR); expected commits and sizes
// come from the server's repositories via git itself.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mgit/git/git_executor.hpp"
#include "mgit/git/target_store.hpp"
#include "support/git_executor_fixture.hpp"
#include "support/test_environment.hpp"

namespace {
// Fault injection for `statvfs`: when set (>= 0), every call reports this many bytes free for
// unprivileged writers. The definition below takes precedence over libc's for this
// executable; unset, it forwards.
std::atomic<std::int64_t> g_free_bytes{-1};
}  // namespace

extern "C" int statvfs(const char* __restrict path, struct statvfs* __restrict info) noexcept {
  using Statvfs = int (*)(const char*, struct statvfs*);
  static const auto real = reinterpret_cast<Statvfs>(::dlsym(RTLD_NEXT, "statvfs"));
  const int rc = real(path, info);
  if (const std::int64_t free = g_free_bytes.load(); rc == 0 && free >= 0) {
    // In bytes, so the percentage of free space stays what it was.
    info->f_blocks *= info->f_frsize;
    info->f_frsize = 1;
    info->f_bavail = static_cast<fsblkcnt_t>(free);
    info->f_bfree = info->f_bavail;
  }
  return rc;
}

namespace mgit::git {
namespace {

class FakeFreeBytes {
 public:
  explicit FakeFreeBytes(std::int64_t bytes) { g_free_bytes = bytes; }
  ~FakeFreeBytes() { g_free_bytes = -1; }
  FakeFreeBytes(const FakeFreeBytes&) = delete;
  FakeFreeBytes& operator=(const FakeFreeBytes&) = delete;
};

namespace fs = std::filesystem;
using jobs::ErrorCode;
using jobs::Operation;
using mgit::test_support::shell_quote;

std::string run(const std::string& command) { return mgit::test_support::run_trimmed(command); }

/// Kills its own process once a transfer has received more than `after_bytes`: a worker
/// SIGKILLed by its supervisor in the middle of a fetch.
class KillOnProgress final : public execution::ProgressSink {
 public:
  explicit KillOnProgress(std::uint64_t after_bytes) : after_bytes_(after_bytes) {}
  void report(const execution::Progress& progress) override {
    if (progress.received_bytes > after_bytes_) ::kill(::getpid(), SIGKILL);
  }

 private:
  std::uint64_t after_bytes_;
};

/// Files of `dir` whose name starts with `prefix`.
std::vector<std::string> files_starting_with(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) names.push_back(name);
  }
  return names;
}

class GitExecutorDiskTest : public mgit::test_support::GitExecutorFixture {
 protected:
  /// Runs `job` in a child process that SIGKILLs itself once the fetch has received more
  /// than `after_bytes`; fails the test unless the child died that way.
  void execute_killed_mid_transfer(const jobs::Job& job, std::uint64_t after_bytes) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      KillOnProgress kill(after_bytes);
      execution::ExecutionControl control;
      control.progress = &kill;
      const auto report = make_executor()->execute(job, {}, control);
      ::_exit(report ? 0 : 1);  // not killed: the test fails below
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the job was not killed mid-transfer, status " << status;
  }

  /// Commits a file of `bytes` random (incompressible) bytes to the server repository's main.
  void add_random_file(const std::string& repo, const std::string& name, std::size_t bytes) {
    const std::string index = (root_ / "server-index").string();
    const std::string git = "GIT_INDEX_FILE=" + shell_quote(index) + " " + server_git(repo);
    run(git + " read-tree main && blob=$(head -c " + std::to_string(bytes) + " /dev/urandom | " +
        git + " hash-object -w --stdin) && " + git +
        " update-index --add --cacheinfo \"100644,$blob," + name + "\" && tree=$(" + git +
        " write-tree) && commit=$(" + git +
        " -c user.name=t -c user.email=t@example.com commit-tree \"$tree\" -p main -m " + name +
        ") && " + git + " update-ref refs/heads/main \"$commit\" && rm -f " + shell_quote(index));
  }

  /// Sum of the blob sizes in the server's `rev` tree, as git itself counts them.
  std::uint64_t tree_bytes(const std::string& repo, const std::string& rev) {
    return std::stoull(run(server_git(repo) + " ls-tree -r -l " + shell_quote(rev) +
                           " | awk '{ s += $4 } END { print s + 0 }'"));
  }

  /// Names of the files in `.mgitd/targets` (records, locks, markers).
  std::vector<std::string> state_files() {
    std::vector<std::string> names;
    const fs::path dir = TargetStore(workspace_).directory();
    if (!fs::exists(dir)) return names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }
};

TEST_F(GitExecutorDiskTest, LowFreeDiskRefusesFetches) {
  const std::string repo = create_repo("fetch", 1);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "t")));
  const std::string before = rev_parse(repo, "main");
  add_commits(repo, 1);

  // No file system has more than 100% free.
  auto low_disk = settings();
  low_disk.min_free_disk_percent = 101;
  auto executor = make_executor(low_disk);
  for (const Operation operation : {Operation::kFetch, Operation::kSync}) {
    const auto report = executor->execute(make_job(operation, repo, "t"), {}, {});
    ASSERT_FALSE(report);
    EXPECT_EQ(report.error().code, ErrorCode::kDiskFull);
    EXPECT_NE(report.error().message.find("below min_free_disk_percent 101"), std::string::npos)
        << report.error().message;
  }
  // Nothing was fetched.
  EXPECT_EQ(run("git -C " + shell_quote((workspace_ / "t").string()) +
                " rev-parse refs/remotes/origin/main"),
            before);
}

TEST_F(GitExecutorDiskTest, FetchOverMaxReceivedBytesIsDiskFull) {
  const std::string repo = create_repo("received", 1);
  constexpr std::size_t kFileBytes = 2 * 1024 * 1024;
  add_random_file(repo, "big.bin", kFileBytes);

  auto limited = settings();
  limited.max_received_bytes = kFileBytes / 2;
  auto executor = make_executor(limited);
  const auto clone = executor->execute(make_job(Operation::kClone, repo, "big"), {}, {});
  ASSERT_FALSE(clone);
  EXPECT_EQ(clone.error().code, ErrorCode::kDiskFull);
  EXPECT_NE(clone.error().message.find("fetch exceeded the limit of " +
                                       std::to_string(kFileBytes / 2) + " received bytes"),
            std::string::npos)
      << clone.error().message;
  EXPECT_FALSE(fs::exists(workspace_ / "big"));

  // An existing target's fetch is held to the same limit; one under it goes through.
  ASSERT_TRUE(execute(make_job(Operation::kSync, create_repo("small", 1), "small")));
  const std::string small = prefix_ + "-small";
  add_random_file(small, "big.bin", kFileBytes);
  const auto fetch = executor->execute(make_job(Operation::kFetch, small, "small"), {}, {});
  ASSERT_FALSE(fetch);
  EXPECT_EQ(fetch.error().code, ErrorCode::kDiskFull);
  EXPECT_TRUE(files_starting_with(workspace_ / "small/.git/objects/pack", "pack_git2_").empty());

  limited.max_received_bytes = 2 * kFileBytes;
  const auto allowed =
      make_executor(limited)->execute(make_job(Operation::kFetch, small, "small"), {}, {});
  ASSERT_TRUE(allowed) << allowed.error().message;
  EXPECT_GT(allowed->received_bytes, kFileBytes);
}

TEST_F(GitExecutorDiskTest, PackOverMaxPackObjectsIsDiskFull) {
  // Three commits are at least nine objects (commit, tree, blob each).
  const std::string repo = create_repo("objects", 3);
  const auto objects = std::stoull(run(server_git(repo) + " rev-list --objects main | wc -l"));
  ASSERT_GE(objects, 3u);

  auto limited = settings();
  limited.max_pack_objects = objects - 1;
  {
    auto executor = make_executor(limited);
    const auto report = executor->execute(make_job(Operation::kClone, repo, "o"), {}, {});
    ASSERT_FALSE(report);
    EXPECT_EQ(report.error().code, ErrorCode::kDiskFull);
    EXPECT_NE(report.error().message.find("max_pack_objects"), std::string::npos)
        << report.error().message;
    EXPECT_FALSE(fs::exists(workspace_ / "o"));
  }
  // The option is restored with the executor that set it.
  const auto report = execute(make_job(Operation::kClone, repo, "o"));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->received_objects, objects);
}

TEST_F(GitExecutorDiskTest, CheckoutOverMaxCheckoutBytesIsDiskFull) {
  const std::string repo = create_repo("checkout", 2);
  add_random_file(repo, "data.bin", 64 * 1024);
  const std::uint64_t total = tree_bytes(repo, "main");
  ASSERT_GT(total, 64u * 1024);

  auto limited = settings();
  limited.max_checkout_bytes = total - 1;
  const auto refused =
      make_executor(limited)->execute(make_job(Operation::kSync, repo, "c"), {}, {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDiskFull);
  EXPECT_NE(refused.error().message.find("more than max_checkout_bytes (" +
                                         std::to_string(total - 1) + " bytes)"),
            std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(fs::exists(workspace_ / "c"));

  // Exactly at the limit is allowed.
  limited.max_checkout_bytes = total;
  auto executor = make_executor(limited);
  const auto allowed = executor->execute(make_job(Operation::kSync, repo, "c"), {}, {});
  ASSERT_TRUE(allowed) << allowed.error().message;
  EXPECT_EQ(allowed->head_oid, rev_parse(repo, "main"));

  // A sync that would grow the work tree past the limit fetches but leaves it as it was.
  const std::string before = allowed->head_oid;
  add_random_file(repo, "more.bin", 1024);
  const auto grown = executor->execute(make_job(Operation::kSync, repo, "c"), {}, {});
  ASSERT_FALSE(grown);
  EXPECT_EQ(grown.error().code, ErrorCode::kDiskFull);
  const std::string worktree = shell_quote((workspace_ / "c").string());
  EXPECT_EQ(run("git -C " + worktree + " rev-parse HEAD"), before);
  EXPECT_FALSE(fs::exists(workspace_ / "c/more.bin"));
  EXPECT_EQ(run("git -C " + worktree + " rev-parse refs/remotes/origin/main"),
            rev_parse(repo, "main"));
}

TEST_F(GitExecutorDiskTest, CheckoutLargerThanTheFreeSpaceIsDiskFull) {
  const std::string repo = create_repo("free", 1);
  add_random_file(repo, "data.bin", 64 * 1024);
  const std::uint64_t total = tree_bytes(repo, "main");
  {
    const FakeFreeBytes free(static_cast<std::int64_t>(total) - 1);
    const auto refused = execute(make_job(Operation::kSync, repo, "f"));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kDiskFull);
    EXPECT_NE(
        refused.error().message.find("more than the " + std::to_string(total - 1) + " bytes free"),
        std::string::npos)
        << refused.error().message;
    EXPECT_FALSE(fs::exists(workspace_ / "f"));
  }
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "f")));

  // An update writes only what changed: a tree far larger than the free space still syncs.
  add_random_file(repo, "small.bin", 1000);
  const std::uint64_t written = 1000;
  {
    const FakeFreeBytes free(static_cast<std::int64_t>(written));
    const auto synced = execute(make_job(Operation::kSync, repo, "f"));
    ASSERT_TRUE(synced) << synced.error().message;
    EXPECT_EQ(synced->head_oid, rev_parse(repo, "main"));
  }
  add_random_file(repo, "next.bin", 1000);
  {
    const FakeFreeBytes free(static_cast<std::int64_t>(written) - 1);
    const auto refused = execute(make_job(Operation::kSync, repo, "f"));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kDiskFull);
  }
}

TEST_F(GitExecutorDiskTest, LeftoversOfAKillInTheGitDirAreSwept) {
  const std::string repo = create_repo("sweep", 1);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "t")));
  const fs::path git_dir = workspace_ / "t/.git";
  const std::vector<std::string> leftovers = {
      "index.lock",
      "HEAD.lock",
      "config.lock",
      "packed-refs.lock",
      "refs/heads/main.lock",
      "refs/remotes/origin/main.lock",
      "logs/HEAD.lock",
      "logs/refs/heads/main.lock",
      "objects/tmp_object_git2_0f1e2d3c4b5a6978",
      "objects/pack/pack_git2_0f1e2d3c4b5a6978",
      "objects/pack/pack_git2_0f1e2d3c4bidx.lock",
      "objects/pack/pack-0123456789abcdef0123456789abcdef01234567.idx",  // its .pack is missing
  };
  for (const std::string& name : leftovers) {
    fs::create_directories((git_dir / name).parent_path());
    std::ofstream(git_dir / name) << "left by a killed process";
  }
  // Look-alikes outside what libgit2 writes stay: a work tree file, an object directory entry.
  std::ofstream(workspace_ / "t/notes.lock") << "mine";
  const std::vector<std::string> packs_before =
      files_starting_with(git_dir / "objects/pack", "pack-");

  add_commits(repo, 1);
  const auto report = execute(make_job(Operation::kSync, repo, "t"));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->head_oid, rev_parse(repo, "main"));
  for (const std::string& name : leftovers) EXPECT_FALSE(fs::exists(git_dir / name)) << name;
  EXPECT_TRUE(fs::exists(workspace_ / "t/notes.lock"));
  // The real packs are intact (one more from this fetch) and the repository is whole.
  for (const std::string& pack : packs_before) {
    if (pack.find("0123456789abcdef") == std::string::npos) {
      EXPECT_TRUE(fs::exists(git_dir / "objects/pack" / pack)) << pack;
    }
  }
  run("git -C " + shell_quote((workspace_ / "t").string()) + " fsck --no-progress 2>&1");
}

TEST_F(GitExecutorDiskTest, FetchKilledHalfWayLeavesNothingInTheWay) {
  const std::string repo = create_repo("killed-fetch", 1);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "t")));
  const std::string before = rev_parse(repo, "main");
  add_random_file(repo, "big.bin", 2 * 1024 * 1024);

  execute_killed_mid_transfer(make_job(Operation::kSync, repo, "t"), 64 * 1024);
  const fs::path pack_dir = workspace_ / "t/.git/objects/pack";
  // What the kill left: libgit2's temporary pack, the target's lock file, no new commit.
  EXPECT_FALSE(files_starting_with(pack_dir, "pack_git2_").empty());
  EXPECT_EQ(run("git -C " + shell_quote((workspace_ / "t").string()) + " rev-parse HEAD"), before);

  const auto report = execute(make_job(Operation::kSync, repo, "t"));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->head_oid, rev_parse(repo, "main"));
  EXPECT_TRUE(files_starting_with(pack_dir, "pack_git2_").empty());
  EXPECT_TRUE(fs::exists(workspace_ / "t/big.bin"));
}

}  // namespace
}  // namespace mgit::git
