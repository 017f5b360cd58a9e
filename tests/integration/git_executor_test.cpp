// GitExecutor against the real smart-HTTP server of scripts/git-server
// (MGITD_TEST_GIT_URL, MGITD_TEST_GIT_DIR). Expected commits come from the server's repos via
// `git rev-parse`, never from the code under test.
#include "mgit/git/git_executor.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "mgit/git/target_store.hpp"
#include "mgit/security/credentials.hpp"
#include "support/git_executor_fixture.hpp"
#include "support/test_environment.hpp"

namespace mgit::git {
namespace {

namespace fs = std::filesystem;
using execution::ExecutionControl;
using jobs::ErrorCode;
using jobs::ExecutionReport;
using jobs::Job;
using jobs::JobError;
using jobs::Operation;
using jobs::RefUpdate;

using mgit::test_support::find_update;
using mgit::test_support::shell_quote;

/// stdout of a shell command without trailing newlines; throws (failing the test) on a
/// non-zero exit.
std::string run(const std::string& command) { return mgit::test_support::run_trimmed(command); }

using GitExecutorTest = mgit::test_support::GitExecutorFixture;

TEST_F(GitExecutorTest, CloneChecksOutTheDefaultBranch) {
  const std::string repo = create_repo("app", 3);
  const auto report = execute(make_job(Operation::kClone, repo, "org/app"));
  ASSERT_TRUE(report) << report.error().message;
  const std::string main = rev_parse(repo, "main");
  EXPECT_EQ(report->head_ref, "refs/heads/main");
  EXPECT_EQ(report->head_oid, main);
  EXPECT_FALSE(report->replayed);
  EXPECT_GT(report->received_objects, 0u);
  EXPECT_GT(report->received_bytes, 0u);
  const RefUpdate* update = find_update(*report, "refs/remotes/origin/main");
  ASSERT_NE(update, nullptr);
  EXPECT_EQ(update->old_oid, "");
  EXPECT_EQ(update->new_oid, main);
  // The work tree is really checked out at that commit.
  EXPECT_TRUE(fs::exists(workspace_ / "org/app/README.md"));
  EXPECT_EQ(run("git -C " + shell_quote((workspace_ / "org/app").string()) + " rev-parse HEAD"),
            main);
  EXPECT_EQ(run("git -C " + shell_quote((workspace_ / "org/app").string()) + " status --porcelain"),
            "");
}

TEST_F(GitExecutorTest, BareCloneHasBranchesAsLocalRefs) {
  const std::string repo = create_repo("bare", 2);
  Job job = make_job(Operation::kClone, repo, "bare");
  job.options.bare = true;
  const auto report = execute(job);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->head_ref, "refs/heads/main");
  EXPECT_EQ(report->head_oid, rev_parse(repo, "main"));
  EXPECT_NE(find_update(*report, "refs/heads/main"), nullptr);
  EXPECT_EQ(run("git --git-dir=" + shell_quote((workspace_ / "bare").string()) +
                " rev-parse --is-bare-repository"),
            "true");
}

TEST_F(GitExecutorTest, RedeliveredCloneIsReplayedNotAConflict) {
  const std::string repo = create_repo("redeliver");
  const Job job = make_job(Operation::kClone, repo, "r");
  const auto first = execute(job);
  ASSERT_TRUE(first) << first.error().message;

  const auto again = make_executor()->execute(job, {}, {});  // e.g. another replica
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->head_ref, first->head_ref);
  EXPECT_EQ(again->head_oid, first->head_oid);

  // A different job id cloning into the same place is a conflict, and stays one when
  // redelivered.
  const Job other = make_job(Operation::kClone, repo, "r");
  const auto conflict = execute(other);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
  const auto conflict_again = execute(other);
  ASSERT_FALSE(conflict_again);
  EXPECT_EQ(conflict_again.error().code, ErrorCode::kConflict);
}

TEST_F(GitExecutorTest, FetchOfMissingTargetIsNotFound) {
  const std::string repo = create_repo("nofetch");
  const auto report = execute(make_job(Operation::kFetch, repo, "missing/target"));
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kNotFound);
  EXPECT_NE(report.error().message.find("does not exist"), std::string::npos);
  EXPECT_FALSE(fs::exists(workspace_ / "missing"));
}

TEST_F(GitExecutorTest, FetchMovesRemoteTrackingRefsButNotTheWorkTree) {
  const std::string repo = create_repo("fetch", 2);
  ASSERT_TRUE(execute(make_job(Operation::kClone, repo, "f")));
  const std::string before = rev_parse(repo, "main");
  add_commits(repo, 2);
  const std::string after = rev_parse(repo, "main");
  ASSERT_NE(before, after);

  const auto report = execute(make_job(Operation::kFetch, repo, "f"));
  ASSERT_TRUE(report) << report.error().message;
  const RefUpdate* update = find_update(*report, "refs/remotes/origin/main");
  ASSERT_NE(update, nullptr);
  EXPECT_EQ(update->old_oid, before);
  EXPECT_EQ(update->new_oid, after);
  EXPECT_EQ(report->head_ref, "refs/heads/main");
  EXPECT_EQ(report->head_oid, before);
  EXPECT_GT(report->received_objects, 0u);
}

TEST_F(GitExecutorTest, FetchPrunesDeletedBranchesOnlyWhenAsked) {
  const std::string repo = create_repo("prune");
  run(server_git(repo) + " branch gone main");
  run(server_git(repo) + " branch kept main");
  ASSERT_TRUE(execute(make_job(Operation::kClone, repo, "p")));
  run(server_git(repo) + " branch -D gone kept");

  Job keep = make_job(Operation::kFetch, repo, "p");
  keep.options.prune = false;
  const auto unpruned = execute(keep);
  ASSERT_TRUE(unpruned) << unpruned.error().message;
  EXPECT_TRUE(unpruned->refs_updated.empty());

  const auto pruned = execute(make_job(Operation::kFetch, repo, "p"));
  ASSERT_TRUE(pruned) << pruned.error().message;
  const RefUpdate* gone = find_update(*pruned, "refs/remotes/origin/gone");
  ASSERT_NE(gone, nullptr);
  EXPECT_EQ(gone->old_oid, rev_parse(repo, "main"));
  EXPECT_EQ(gone->new_oid, "");
  EXPECT_NE(find_update(*pruned, "refs/remotes/origin/kept"), nullptr);
  EXPECT_EQ(pruned->refs_updated.size(), 2u);
}

TEST_F(GitExecutorTest, SyncClonesThenFollowsNewCommits) {
  const std::string repo = create_repo("sync", 1);
  const auto first = execute(make_job(Operation::kSync, repo, "s/app"));
  ASSERT_TRUE(first) << first.error().message;
  const std::string before = rev_parse(repo, "main");
  EXPECT_EQ(first->head_oid, before);

  add_commits(repo, 3);
  const std::string after = rev_parse(repo, "main");
  const auto second = execute(make_job(Operation::kSync, repo, "s/app"));
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->head_ref, "refs/heads/main");
  EXPECT_EQ(second->head_oid, after);
  const RefUpdate* update = find_update(*second, "refs/remotes/origin/main");
  ASSERT_NE(update, nullptr);
  EXPECT_EQ(update->old_oid, before);
  EXPECT_EQ(update->new_oid, after);
  const std::string worktree = shell_quote((workspace_ / "s/app").string());
  EXPECT_EQ(run("git -C " + worktree + " rev-parse HEAD"), after);
  EXPECT_EQ(run("git -C " + worktree + " status --porcelain"), "");

  // Nothing new: still a success, nothing updated.
  const auto third = execute(make_job(Operation::kSync, repo, "s/app"));
  ASSERT_TRUE(third) << third.error().message;
  EXPECT_EQ(third->head_oid, after);
  EXPECT_TRUE(third->refs_updated.empty());
}

TEST_F(GitExecutorTest, SyncOfATagDetachesAtItsCommit) {
  const std::string repo = create_repo("tag", 3);
  run(server_git(repo) + " tag -a -m release v1 main~1");
  Job job = make_job(Operation::kSync, repo, "tagged");
  job.ref = "v1";
  const auto report = execute(job);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->head_ref, "refs/tags/v1");
  EXPECT_EQ(report->head_oid, rev_parse(repo, "v1^{commit}"));

  job = make_job(Operation::kSync, repo, "tagged");
  job.ref = "no-such-branch";
  const auto missing = execute(job);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(GitExecutorTest, MirrorCopiesAndPrunesEveryRef) {
  const std::string repo = create_repo("mirror", 2);
  // 3000 refs in all: main plus 1500 branches and 1499 tags, made in one update-ref call.
  run("main=$(" + server_git(repo) +
      " rev-parse main) && "
      "{ for i in $(seq 1 1500); do echo \"create refs/heads/b$i $main\"; done; "
      "for i in $(seq 1 1499); do echo \"create refs/tags/t$i $main\"; done; } | " +
      server_git(repo) + " update-ref --stdin");
  const std::size_t server_refs = std::stoul(run(server_git(repo) + " for-each-ref | wc -l"));
  ASSERT_EQ(server_refs, 3000u);

  const auto report = execute(make_job(Operation::kMirror, repo, "mirrors/m"));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->refs_updated.size(), 3000u);
  EXPECT_EQ(report->head_ref, "refs/heads/main");
  EXPECT_EQ(report->head_oid, rev_parse(repo, "main"));
  const std::string mirror = "git --git-dir=" + shell_quote((workspace_ / "mirrors/m").string());
  EXPECT_EQ(run(mirror + " for-each-ref | wc -l"), "3000");

  // Deleted and moved refs on the server are pruned and forced in the mirror.
  run(server_git(repo) + " update-ref -d refs/heads/b7");
  run(server_git(repo) + " update-ref refs/heads/b8 main~1");
  const auto again = execute(make_job(Operation::kMirror, repo, "mirrors/m"));
  ASSERT_TRUE(again) << again.error().message;
  const RefUpdate* pruned = find_update(*again, "refs/heads/b7");
  ASSERT_NE(pruned, nullptr);
  EXPECT_EQ(pruned->new_oid, "");
  const RefUpdate* moved = find_update(*again, "refs/heads/b8");
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(moved->new_oid, rev_parse(repo, "main~1"));
  EXPECT_EQ(again->refs_updated.size(), 2u);
}

TEST_F(GitExecutorTest, TargetBoundToAnotherRepositoryIsAConflict) {
  const std::string first = create_repo("bound-a");
  const std::string second = create_repo("bound-b");
  ASSERT_TRUE(execute(make_job(Operation::kSync, first, "shared")));
  const auto report = execute(make_job(Operation::kSync, second, "shared"));
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kConflict);
  EXPECT_NE(report.error().message.find("is bound to repository"), std::string::npos);
  EXPECT_NE(report.error().message.find(first), std::string::npos);
}

TEST_F(GitExecutorTest, WrongPasswordIsAuthFailedAndNeverEchoed) {
  const std::string repo = create_repo("auth");
  Job job = make_job(Operation::kClone, repo, "auth");
  job.credential = "wrong";
  const auto report = execute(job);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kAuthFailed) << report.error().message;
  EXPECT_EQ(report.error().message.find(kWrongPassword), std::string::npos);
  EXPECT_FALSE(fs::exists(workspace_ / "auth"));
}

TEST_F(GitExecutorTest, MissingOrUnknownCredentialIsAuthFailed) {
  const std::string repo = create_repo("nocred");
  Job job = make_job(Operation::kClone, repo, "nocred");
  job.credential.clear();
  const auto anonymous = execute(job);
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().code, ErrorCode::kAuthFailed) << anonymous.error().message;

  job = make_job(Operation::kClone, repo, "nocred");
  job.credential = "does-not-exist";
  const auto unknown = execute(job);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kAuthFailed);
  EXPECT_NE(unknown.error().message.find("'does-not-exist' not found"), std::string::npos);
}

TEST_F(GitExecutorTest, NonexistentRepositoryIsNotFoundAndLeavesNoTarget) {
  const Job job = make_job(Operation::kClone, prefix_ + "-never-created", "deep/nested/t");
  const auto report = execute(job);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kNotFound) << report.error().message;
  EXPECT_EQ(report.error().message.find(password_), std::string::npos);
  EXPECT_FALSE(fs::exists(workspace_ / "deep"));
}

TEST_F(GitExecutorTest, DeadlineAlreadyPassedIsATimeout) {
  const std::string repo = create_repo("late");
  ExecutionControl control;
  control.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  const auto report = execute(make_job(Operation::kClone, repo, "late"), control);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kTimeout);
  EXPECT_FALSE(fs::exists(workspace_ / "late"));

  std::atomic<bool> cancelled{true};
  ExecutionControl cancel;
  cancel.cancelled = &cancelled;
  const auto stopped = execute(make_job(Operation::kClone, repo, "late"), cancel);
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code, ErrorCode::kInternal);
}

TEST_F(GitExecutorTest, SymlinkedParentIsRefused) {
  const std::string repo = create_repo("symlink");
  fs::create_directories(root_ / "elsewhere");
  fs::create_symlink(root_ / "elsewhere", workspace_ / "link");
  const auto report = execute(make_job(Operation::kClone, repo, "link/app"));
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kInvalidJob);
  EXPECT_TRUE(fs::is_empty(root_ / "elsewhere"));

  const auto reserved = execute(make_job(Operation::kClone, repo, ".mgitd/x"));
  ASSERT_FALSE(reserved);
  EXPECT_EQ(reserved.error().code, ErrorCode::kInvalidJob);
}

TEST_F(GitExecutorTest, LowFreeDiskRefusesClones) {
  const std::string repo = create_repo("disk");
  auto low_disk = settings();
  low_disk.min_free_disk_percent = 101;
  const auto report =
      make_executor(low_disk)->execute(make_job(Operation::kClone, repo, "d"), {}, {});
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kDiskFull);
  EXPECT_FALSE(fs::exists(workspace_ / "d"));
}

TEST_F(GitExecutorTest, TargetInsideAnotherTargetCannotCheckOutElsewhere) {
  // Repository X carries plain files that look like a repository at `sub/` whose work tree
  // is `anywhere`: once X is checked out at `evil`, a target `evil/sub` would be opened as
  // that repository and a forced checkout would write into `anywhere`.
  const std::string evil = create_repo("evil");
  const std::string other = create_repo("other");
  const fs::path anywhere = root_ / "anywhere";
  fs::create_directories(anywhere);
  const fs::path tree = root_ / "evil-tree";
  run("git clone -q " + shell_quote(server_dir_ + "/repos/" + evil + ".git") + " " +
      shell_quote(tree.string()) + " 2>&1");
  fs::create_directories(tree / "sub/objects");
  fs::create_directories(tree / "sub/refs");
  std::ofstream(tree / "sub/objects/.keep");
  std::ofstream(tree / "sub/refs/.keep");
  std::ofstream(tree / "sub/HEAD") << "ref: refs/heads/main\n";
  std::ofstream(tree / "sub/config") << "[core]\n\trepositoryformatversion = 0\n\tbare = false\n"
                                     << "\tworktree = " << anywhere.string() << "\n";
  const std::string git =
      "git -C " + shell_quote(tree.string()) + " -c user.name=t -c user.email=t@example.com ";
  run(git + "add -A && " + git + "commit -q -m plant && " + git + "push -q origin main 2>&1");

  ASSERT_TRUE(execute(make_job(Operation::kSync, evil, "evil")));
  ASSERT_TRUE(fs::exists(workspace_ / "evil/sub/HEAD"));  // the planted files are in place

  const auto nested = execute(make_job(Operation::kSync, other, "evil/sub"));
  ASSERT_FALSE(nested);
  EXPECT_EQ(nested.error().code, ErrorCode::kConflict) << nested.error().message;
  EXPECT_NE(nested.error().message.find("is inside another repository 'evil'"), std::string::npos)
      << nested.error().message;
  const auto deeper = execute(make_job(Operation::kSync, other, "evil/sub/x"));
  ASSERT_FALSE(deeper);
  EXPECT_EQ(deeper.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(fs::is_empty(anywhere));

  // A `.git` segment, in any case, addresses a repository's internals directly.
  for (const std::string target : {"evil/.git", "evil/.GIT", ".git/x", "a/.Git/b"}) {
    const auto report = execute(make_job(Operation::kSync, evil, target));
    ASSERT_FALSE(report) << target;
    EXPECT_EQ(report.error().code, ErrorCode::kInvalidJob) << target;
  }
  EXPECT_TRUE(fs::is_empty(anywhere));
}

TEST_F(GitExecutorTest, TargetWithRedirectedWorkTreeIsNotCheckedOut) {
  const std::string repo = create_repo("worktree", 1);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "t")));
  const fs::path anywhere = root_ / "anywhere";
  fs::create_directories(anywhere);
  run("git config -f " + shell_quote((workspace_ / "t/.git/config").string()) + " core.worktree " +
      shell_quote(anywhere.string()));
  add_commits(repo, 1);
  const auto report = execute(make_job(Operation::kSync, repo, "t"));
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kConflict);
  EXPECT_NE(report.error().message.find("is not a repository mgitd created"), std::string::npos)
      << report.error().message;
  EXPECT_TRUE(fs::is_empty(anywhere));
}

TEST_F(GitExecutorTest, FailedCloneLeavesASiblingCreatedMeanwhile) {
  // A fake server: once the executor has created `p/new` and connects, a "concurrent job"
  // creates `p/other`, then the connection is dropped so the clone fails.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const fs::path sibling = workspace_ / "p/other";
  std::atomic<bool> created{false};
  std::thread server([&] {
    const int connection = ::accept(listener, nullptr, nullptr);
    if (connection < 0) return;
    std::error_code ec;
    fs::create_directories(sibling, ec);
    std::ofstream(sibling / "keep") << "x";
    created = !ec;
    ::close(connection);
  });
  Job job = make_job(Operation::kClone, "x", "p/new");
  job.repository_url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/x.git";
  job.repository_key = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/x";
  job.credential.clear();
  const auto report = execute(job);
  ::shutdown(listener, SHUT_RDWR);
  server.join();
  ::close(listener);
  ASSERT_FALSE(report);
  ASSERT_TRUE(created);
  EXPECT_FALSE(fs::exists(workspace_ / "p/new"));
  EXPECT_TRUE(fs::exists(sibling / "keep"));
}

TEST_F(GitExecutorTest, StaleGitLockFilesAreRemoved) {
  const std::string repo = create_repo("locks", 1);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "t")));
  const fs::path git_dir = workspace_ / "t/.git";
  for (const auto* name : {"index.lock", "HEAD.lock", "config.lock", "refs/heads/main.lock",
                           "refs/remotes/origin/main.lock"}) {
    std::ofstream(git_dir / name) << "stale";
  }
  add_commits(repo, 1);
  const auto report = execute(make_job(Operation::kSync, repo, "t"));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->head_oid, rev_parse(repo, "main"));
  for (const auto* name : {"index.lock", "HEAD.lock", "config.lock", "refs/heads/main.lock",
                           "refs/remotes/origin/main.lock"}) {
    EXPECT_FALSE(fs::exists(git_dir / name)) << name;
  }
}

TEST_F(GitExecutorTest, TargetWithoutRecordIsBoundToItsOrigin) {
  const std::string repo = create_repo("adopt", 1);
  const std::string stranger = create_repo("stranger", 1);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "t")));
  // The record is lost (a corrupt one is set aside by TargetStore::load the same way).
  std::size_t removed = 0;
  for (const auto& entry : fs::directory_iterator(TargetStore(workspace_).directory())) {
    if (entry.path().extension() == ".json") removed += fs::remove(entry.path()) ? 1 : 0;
  }
  ASSERT_EQ(removed, 1u);

  const auto foreign = execute(make_job(Operation::kSync, stranger, "t"));
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, ErrorCode::kConflict);
  EXPECT_NE(foreign.error().message.find("is bound to repository " + url_ + "/" + repo),
            std::string::npos)
      << foreign.error().message;

  add_commits(repo, 1);
  const auto same = execute(make_job(Operation::kSync, repo, "t"));
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_EQ(same->head_oid, rev_parse(repo, "main"));
  const auto still_foreign = execute(make_job(Operation::kSync, stranger, "t"));
  ASSERT_FALSE(still_foreign);
  EXPECT_EQ(still_foreign.error().code, ErrorCode::kConflict);
}

TEST_F(GitExecutorTest, CredentialIsOnlySentToItsHosts) {
  const std::string repo = create_repo("hosts", 1);
  std::ofstream(root_ / "credentials" / "elsewhere")
      << "username=mgit\npassword=" << password_ << "\nhosts=git.example.com\n";
  std::ofstream(root_ / "credentials" / "local")
      << "username=mgit\npassword=" << password_ << "\nhosts=git.example.com, 127.0.0.1\n";
  Job job = make_job(Operation::kClone, repo, "elsewhere");
  job.credential = "elsewhere";
  const auto refused = execute(job);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAuthFailed);
  EXPECT_NE(
      refused.error().message.find("credential 'elsewhere' is not allowed for host '127.0.0.1:"),
      std::string::npos)
      << refused.error().message;
  EXPECT_EQ(refused.error().message.find(password_), std::string::npos);
  EXPECT_FALSE(fs::exists(workspace_ / "elsewhere"));

  job = make_job(Operation::kClone, repo, "local");
  job.credential = "local";
  const auto allowed = execute(job);
  ASSERT_TRUE(allowed) << allowed.error().message;
  EXPECT_EQ(allowed->head_oid, rev_parse(repo, "main"));
}

}  // namespace
}  // namespace mgit::git
