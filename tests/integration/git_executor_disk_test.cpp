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
#include <ostream>
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
  EXPECT_FALSE(report->recloned);
  EXPECT_TRUE(files_starting_with(pack_dir, "pack_git2_").empty());
  EXPECT_TRUE(fs::exists(workspace_ / "t/big.bin"));
}

TEST_F(GitExecutorDiskTest, CloneKilledHalfWayIsClonedAgainCleanly) {
  const std::string repo = create_repo("killed-clone", 1);
  add_random_file(repo, "big.bin", 2 * 1024 * 1024);

  execute_killed_mid_transfer(make_job(Operation::kClone, repo, "deep/nested/t"), 64 * 1024);
  // What the kill left: a partial repository and the creation marker.
  ASSERT_TRUE(fs::exists(workspace_ / "deep/nested/t/.git"));
  EXPECT_EQ(files_starting_with(TargetStore(workspace_).directory(), "").size(), 2u)
      << "the target's lock file and creation marker";

  // A clone (not `conflict`: the target never came into existence) starts from scratch.
  const auto report = execute(make_job(Operation::kClone, repo, "deep/nested/t"));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->head_oid, rev_parse(repo, "main"));
  EXPECT_FALSE(report->recloned);
  const std::string worktree = shell_quote((workspace_ / "deep/nested/t").string());
  EXPECT_EQ(run("git -C " + worktree + " status --porcelain"), "");
  run("git -C " + worktree + " fsck --no-progress 2>&1");
  // The marker is gone, the record and lock file of a real target stay.
  const auto state = state_files();
  EXPECT_EQ(state.size(), 2u);
  for (const std::string& name : state) EXPECT_EQ(name.find(".creating"), std::string::npos);
}

TEST_F(GitExecutorDiskTest, LeftoversOfAnInterruptedCloneAreRemovedFirst) {
  const std::string repo = create_repo("marker", 1);
  // As a kill leaves it: `a/b` created by the clone (two directories), a partial repository,
  // the marker saying how many directories the clone made.
  fs::create_directories(workspace_ / "a/b/.git/objects/pack");
  std::ofstream(workspace_ / "a/b/.git/HEAD") << "ref: refs/heads/main\n";
  std::ofstream(workspace_ / "a/b/.git/objects/pack/pack_git2_0f1e2d3c4b5a6978") << "partial";
  std::ofstream(workspace_ / "a/b/README.md") << "half";
  const TargetStore store(workspace_);
  ASSERT_TRUE(store.mark_creating("a/b", 2));

  // A fetch finds the target missing, and nothing of it is left: not the directories the
  // clone made, not the marker, not the files of a target that does not exist.
  const auto fetch = execute(make_job(Operation::kFetch, repo, "a/b"));
  ASSERT_FALSE(fetch);
  EXPECT_EQ(fetch.error().code, ErrorCode::kNotFound) << fetch.error().message;
  EXPECT_FALSE(fs::exists(workspace_ / "a"));
  EXPECT_TRUE(state_files().empty());

  // Only what the clone made goes: a parent that existed before stays, and a sync clones.
  fs::create_directories(workspace_ / "a/b/.git");
  std::ofstream(workspace_ / "a/b/.git/HEAD") << "ref: refs/heads/main\n";
  std::ofstream(workspace_ / "a/sibling") << "not the clone's";
  ASSERT_TRUE(store.mark_creating("a/b", 1));
  const auto sync = execute(make_job(Operation::kSync, repo, "a/b"));
  ASSERT_TRUE(sync) << sync.error().message;
  EXPECT_EQ(sync->head_oid, rev_parse(repo, "main"));
  EXPECT_TRUE(fs::exists(workspace_ / "a/sibling"));
  EXPECT_FALSE(store.creating("a/b")->has_value());
}

TEST_F(GitExecutorDiskTest, AThousandFailingTargetsLeaveNoFilesBehind) {
  const std::string missing_repo = prefix_ + "-never-created";  // the server answers 404
  fs::create_directories(root_ / "elsewhere");
  fs::create_symlink(root_ / "elsewhere", workspace_ / "link");
  int not_found = 0;
  int invalid = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string target = "gone/t" + std::to_string(i);
    jobs::Job job;
    if (i % 50 == 0) {
      job = make_job(Operation::kClone, missing_repo, target);  // creates, then removes again
    } else if (i % 50 == 1) {
      job = make_job(Operation::kSync, missing_repo, "link/t" + std::to_string(i));
    } else {
      job = make_job(Operation::kFetch, missing_repo, target);
    }
    const auto report = execute(job);
    ASSERT_FALSE(report) << job.target;
    not_found += report.error().code == ErrorCode::kNotFound ? 1 : 0;
    invalid += report.error().code == ErrorCode::kInvalidJob ? 1 : 0;
  }
  EXPECT_EQ(not_found, 980);
  EXPECT_EQ(invalid, 20);
  EXPECT_TRUE(state_files().empty())
      << state_files().size() << " files, e.g. " << state_files().front();
  EXPECT_FALSE(fs::exists(workspace_ / "gone"));

  // A target that exists keeps its record: a redelivered clone is still replayed.
  const std::string repo = create_repo("kept", 1);
  const jobs::Job clone = make_job(Operation::kClone, repo, "kept");
  ASSERT_TRUE(execute(clone));
  EXPECT_EQ(state_files().size(), 2u);
  const auto again = execute(clone);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->replayed);
}

/// The directories in `.mgitd/quarantine`.
std::vector<fs::path> quarantined(const fs::path& workspace) {
  std::vector<fs::path> found;
  const fs::path dir = workspace / ".mgitd/quarantine";
  if (!fs::exists(dir)) return found;
  for (const auto& entry : fs::directory_iterator(dir)) found.push_back(entry.path());
  return found;
}

/// Ways a target's repository gets corrupt, each applied to a synced work tree `t`.
struct Corruption {
  const char* name;
  const char* shell;  ///< run in the target's git dir
};

void PrintTo(const Corruption& corruption, std::ostream* out) { *out << corruption.name; }

class GitExecutorCorruptTargetTest : public GitExecutorDiskTest,
                                     public ::testing::WithParamInterface<Corruption> {};

TEST_P(GitExecutorCorruptTargetTest, IsMovedAsideAndClonedAgain) {
  const std::string repo = create_repo("corrupt", 2);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "org/t")));
  const fs::path git_dir = workspace_ / "org/t/.git";
  run("cd " + shell_quote(git_dir.string()) + " && " + GetParam().shell);
  add_commits(repo, 1);

  for (const Operation operation : {Operation::kSync, Operation::kFetch}) {
    const auto report = execute(make_job(operation, repo, "org/t"));
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(report->recloned);
    EXPECT_EQ(report->head_oid, rev_parse(repo, "main"));
    const std::string worktree = shell_quote((workspace_ / "org/t").string());
    EXPECT_EQ(run("git -C " + worktree + " rev-parse HEAD"), rev_parse(repo, "main"));
    run("git -C " + worktree + " fsck --no-progress 2>&1");
    // Corrupt it again for the fetch.
    run("cd " + shell_quote(git_dir.string()) + " && " + GetParam().shell);
  }
  // Both corrupt copies are kept for inspection under their target's name.
  const auto aside = quarantined(workspace_);
  ASSERT_EQ(aside.size(), 2u);
  for (const fs::path& dir : aside) {
    EXPECT_EQ(dir.filename().string().rfind("org+t-", 0), 0u) << dir;
    EXPECT_TRUE(fs::exists(dir / ".git")) << dir;
  }
  // A sound target is not re-cloned.
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "org/t")));  // heals the last one
  const auto sound = execute(make_job(Operation::kSync, repo, "org/t"));
  ASSERT_TRUE(sound) << sound.error().message;
  EXPECT_FALSE(sound->recloned);
  EXPECT_EQ(quarantined(workspace_).size(), 3u);
}

INSTANTIATE_TEST_SUITE_P(
    Corruptions, GitExecutorCorruptTargetTest,
    ::testing::Values(
        // A ref naming an object that does not exist (a stray write, a lost object).
        Corruption{"ref_to_missing_object",
                   "echo 0123456789abcdef0123456789abcdef01234567 > refs/remotes/origin/main"},
        // Every pack gone: all refs name missing objects.
        Corruption{"packs_removed", "rm -f objects/pack/*.pack"},
        // A pack cut short: its index still lists the objects, the pack no longer matches it.
        Corruption{"pack_truncated",
                   "for p in objects/pack/*.pack; do truncate -s 100 \"$p\"; done"},
        // libgit2 cannot open it at all.
        // Ref files that cannot be parsed (a write cut short, a stray editor).
        Corruption{"loose_ref_garbage", "echo garbage > refs/remotes/origin/main"},
        Corruption{"packed_refs_garbage", "git pack-refs --all && echo zzzz >> packed-refs"},
        Corruption{"head_garbage", "echo garbage > HEAD"},
        // libgit2 cannot open it at all.
        Corruption{"head_removed", "rm HEAD"}, Corruption{"objects_removed", "rm -rf objects"},
        Corruption{"config_garbage", "printf '[core\\n\\tbare = = =\\n' > config"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(GitExecutorDiskTest, CorruptMirrorIsClonedAgainAsAMirror) {
  const std::string repo = create_repo("corrupt-mirror", 1);
  run(server_git(repo) + " branch other main");
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  const fs::path git_dir = workspace_ / "m";
  // Unreadable refs and an unreadable HEAD: only the config still says it is a mirror.
  run("rm -f " + shell_quote((git_dir / "HEAD").string()));

  // Even a fetch job (which asks for a work tree) gets the mirror back.
  const auto report = execute(make_job(Operation::kFetch, repo, "m"));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->recloned);
  const std::string mirror = "git --git-dir=" + shell_quote(git_dir.string());
  EXPECT_EQ(run(mirror + " config remote.origin.mirror"), "true");
  EXPECT_EQ(run(mirror + " rev-parse refs/heads/other"), rev_parse(repo, "main"));
  EXPECT_EQ(run(mirror + " rev-parse --is-bare-repository"), "true");
}

TEST_F(GitExecutorDiskTest, OnlyATargetBoundToTheJobsRepositoryIsReCloned) {
  const std::string repo = create_repo("bound", 1);
  const std::string other = create_repo("other", 1);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "t")));
  run("rm -rf " + shell_quote((workspace_ / "t/.git/objects").string()));

  // Bound to another repository: still `conflict`, and the target stays where it is.
  const auto foreign = execute(make_job(Operation::kSync, other, "t"));
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, ErrorCode::kConflict);
  EXPECT_NE(foreign.error().message.find("is bound to repository"), std::string::npos);
  EXPECT_TRUE(quarantined(workspace_).empty());
  // `clone` never touches an existing target.
  const auto clone = execute(make_job(Operation::kClone, repo, "t"));
  ASSERT_FALSE(clone);
  EXPECT_EQ(clone.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(quarantined(workspace_).empty());

  // A directory mgitd did not create (no binding, no repository) is not taken for corrupt.
  fs::create_directories(workspace_ / "plain");
  std::ofstream(workspace_ / "plain/file") << "someone's data";
  const auto plain = execute(make_job(Operation::kSync, repo, "plain"));
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(fs::exists(workspace_ / "plain/file"));
  EXPECT_TRUE(quarantined(workspace_).empty());

  // A repository laid out as mgitd never makes them stays `conflict` too.
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "w")));
  const fs::path anywhere = root_ / "anywhere";
  fs::create_directories(anywhere);
  run("git config -f " + shell_quote((workspace_ / "w/.git/config").string()) + " core.worktree " +
      shell_quote(anywhere.string()));
  run("rm -rf " + shell_quote((workspace_ / "w/.git/objects/pack").string()));
  const auto redirected = execute(make_job(Operation::kSync, repo, "w"));
  ASSERT_FALSE(redirected);
  EXPECT_EQ(redirected.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(quarantined(workspace_).empty());
}

}  // namespace
}  // namespace mgit::git
