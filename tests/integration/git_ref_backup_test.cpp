// The force-push safety net against the real smart-HTTP server of scripts/git-server:
// forced updates and deletions keep the old tip under refs/mgitd/backup/, retention, the
// switches, and a mirror that still equals the remote apart from refs/mgitd/. Expected
// commits come from the server's repositories (`git rev-parse` there), never from the code
// under test.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "mgit/git/git_executor.hpp"
#include "support/git_executor_fixture.hpp"
#include "support/test_environment.hpp"

namespace mgit::git {
namespace {

namespace fs = std::filesystem;
using jobs::Job;
using jobs::Operation;
using jobs::RefUpdate;
using mgit::test_support::find_update;
using mgit::test_support::shell_quote;

std::string run(const std::string& command) { return mgit::test_support::run_trimmed(command); }

class RefBackupTest : public mgit::test_support::GitExecutorFixture {
 protected:
  [[nodiscard]] std::string target_git(const std::string& target) const {
    return "git --git-dir=" + shell_quote((workspace_ / target).string());
  }

  /// What a force-push does to the server's repository: `branch` now points at a new commit
  /// on top of its parent, so its old tip is no longer reachable from it.
  void rewrite(const std::string& repo, const std::string& branch) {
    const std::string git = server_git(repo);
    const std::string commit = run(git + " commit-tree " + branch + "~1^{tree} -p " + branch +
                                   "~1 -m rewritten-" + std::to_string(++rewrites_));
    run(git + " update-ref refs/heads/" + branch + " " + commit);
  }

  /// The target's refs under refs/mgitd/backup/ for `ref`, oldest first by name.
  std::vector<std::string> backups(const std::string& target, const std::string& ref) {
    const std::string out = run(target_git(target) +
                                " for-each-ref --sort=refname --format='%(refname)' "
                                "refs/mgitd/backup/" +
                                ref + "/");
    std::vector<std::string> names;
    std::size_t start = 0;
    while (start < out.size()) {
      const auto end = out.find('\n', start);
      names.push_back(out.substr(start, end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return names;
  }

  /// `git for-each-ref` of a repository, `refs/mgitd/` left out.
  static std::string refs_outside_mgitd(const std::string& git) {
    return run(git +
               " for-each-ref --format='%(objectname) %(refname)' | grep -v ' refs/mgitd/' "
               "|| true");
  }

  int rewrites_ = 0;
};

TEST_F(RefBackupTest, ForcePushKeepsTheOldTipUnderABackupRef) {
  const std::string repo = create_repo("force", 2);
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  const std::string old_tip = rev_parse(repo, "main");

  // A real force-push with the git CLI: main rewritten in a clone and pushed over.
  const fs::path work = root_ / "pusher";
  const std::string bare = run(server_git(repo) + " rev-parse --absolute-git-dir");
  run("git clone -q " + shell_quote(bare) + " " + shell_quote(work.string()));
  const std::string in_work = "git -C " + shell_quote(work.string());
  run(in_work + " reset -q --hard HEAD~1 && " + in_work +
      " -c user.name=t -c user.email=t@example.com commit -q --allow-empty -m amended && " +
      in_work + " push -q --force origin HEAD:main");
  const std::string new_tip = rev_parse(repo, "main");
  ASSERT_NE(new_tip, old_tip);

  const auto report = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(report) << report.error().message;
  const RefUpdate* main = find_update(*report, "refs/heads/main");
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->old_oid, old_tip);
  EXPECT_EQ(main->new_oid, new_tip);
  EXPECT_TRUE(main->forced);
  ASSERT_EQ(main->backup_ref.rfind("refs/mgitd/backup/refs/heads/main/", 0), 0u)
      << main->backup_ref;
  for (const RefUpdate& update : report->refs_updated) {
    EXPECT_NE(update.ref.rfind("refs/mgitd/", 0), 0u) << update.ref;
  }

  const std::string mirror = target_git("m");
  EXPECT_EQ(run(mirror + " rev-parse " + main->backup_ref), old_tip);
  // The old commit survives a gc that drops everything unreachable.
  run(mirror + " gc -q --prune=now");
  EXPECT_EQ(run(mirror + " cat-file -t " + old_tip), "commit");
  EXPECT_EQ(run(mirror + " rev-list --objects " + old_tip + " | wc -l"),
            run(server_git(repo) + " rev-list --objects " + old_tip + " | wc -l"));
  EXPECT_EQ(run(mirror + " rev-parse refs/heads/main"), new_tip);
}

TEST_F(RefBackupTest, AJobKilledAfterItsBackupsBeforeTheRefsMovedIsNotBackedUpTwice) {
  const std::string repo = create_repo("killed", 2);
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  const std::string old_tip = rev_parse(repo, "main");
  rewrite(repo, "main");
  // What a worker killed between writing its backups and moving the refs leaves behind.
  const std::string left = "refs/mgitd/backup/refs/heads/main/20250101T000000Z";
  run(target_git("m") + " update-ref " + left + " " + old_tip);

  const auto report = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(report) << report.error().message;
  const RefUpdate* main = find_update(*report, "refs/heads/main");
  ASSERT_NE(main, nullptr);
  EXPECT_TRUE(main->forced);
  EXPECT_EQ(main->backup_ref, left);
  EXPECT_EQ(backups("m", "refs/heads/main"), std::vector<std::string>{left});
}

TEST_F(RefBackupTest, AFastForwardIsNotForcedAndMakesNoBackup) {
  const std::string repo = create_repo("ff", 1);
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  add_commits(repo, 2);
  const auto report = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(report) << report.error().message;
  const RefUpdate* main = find_update(*report, "refs/heads/main");
  ASSERT_NE(main, nullptr);
  EXPECT_FALSE(main->forced);
  EXPECT_EQ(main->backup_ref, "");
  EXPECT_EQ(run(target_git("m") + " for-each-ref refs/mgitd/"), "");
}

TEST_F(RefBackupTest, ABranchRenamedUpstreamIntoItsOwnFolderIsMirrored) {
  // `a` becomes `a/b`: the new ref's path needs the old ref's file gone first, so the prune
  // runs before the update (after the backup), or every job of the target would fail.
  const std::string repo = create_repo("rename", 2);
  run(server_git(repo) + " branch topic main~1");
  const std::string topic = rev_parse(repo, "topic");
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  run(server_git(repo) + " branch -D topic");
  run(server_git(repo) + " branch topic/part main");

  const auto report = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(report) << report.error().message;
  const std::string mirror = target_git("m");
  EXPECT_EQ(run(mirror + " rev-parse refs/heads/topic/part"), rev_parse(repo, "main"));
  const RefUpdate* deleted = find_update(*report, "refs/heads/topic");
  ASSERT_NE(deleted, nullptr);
  ASSERT_FALSE(deleted->backup_ref.empty());
  EXPECT_EQ(run(mirror + " rev-parse " + deleted->backup_ref), topic);
}

TEST_F(RefBackupTest, ABranchNamedLikeAnotherRefsBackupIsStillBackedUp) {
  // `x` deleted leaves refs/mgitd/backup/refs/heads/x/<stamp>. A branch `x/<that stamp>`
  // deleted in turn needs a backup beneath that file: it gets a name that cannot collide,
  // instead of failing every later job of the target.
  const std::string repo = create_repo("collide", 2);
  run(server_git(repo) + " branch x main~1");
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  run(server_git(repo) + " branch -D x");
  const auto first = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(first) << first.error().message;
  const RefUpdate* x = find_update(*first, "refs/heads/x");
  ASSERT_NE(x, nullptr);
  const std::string stamp = x->backup_ref.substr(x->backup_ref.rfind('/') + 1);
  run(server_git(repo) + " branch x/" + stamp + " main");
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  run(server_git(repo) + " branch -D x/" + stamp);

  const auto second = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(second) << second.error().message;
  const RefUpdate* collided = find_update(*second, "refs/heads/x/" + stamp);
  ASSERT_NE(collided, nullptr);
  ASSERT_FALSE(collided->backup_ref.empty());
  const std::string mirror = target_git("m");
  EXPECT_EQ(run(mirror + " rev-parse " + collided->backup_ref), rev_parse(repo, "main"));
  EXPECT_EQ(run(mirror + " rev-parse " + x->backup_ref), run(mirror + " rev-parse main~1"));
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m"))) << "the target is not stuck";
}

TEST_F(RefBackupTest, ADeletedBranchIsListedAndBackedUp) {
  const std::string repo = create_repo("delete", 2);
  run(server_git(repo) + " branch feature main~1");
  const std::string feature = rev_parse(repo, "feature");
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  run(server_git(repo) + " branch -D feature");

  const auto report = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(report) << report.error().message;
  const RefUpdate* deleted = find_update(*report, "refs/heads/feature");
  ASSERT_NE(deleted, nullptr);
  EXPECT_EQ(deleted->old_oid, feature);
  EXPECT_EQ(deleted->new_oid, "");
  EXPECT_TRUE(deleted->forced);
  const std::string mirror = target_git("m");
  EXPECT_EQ(run(mirror + " for-each-ref refs/heads/feature"), "");
  ASSERT_FALSE(deleted->backup_ref.empty());
  EXPECT_EQ(run(mirror + " rev-parse " + deleted->backup_ref), feature);
  // Kept by later jobs: the remote does not advertise refs/mgitd/, and the prune never
  // looks there.
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  EXPECT_EQ(backups("m", "refs/heads/feature"), std::vector<std::string>{deleted->backup_ref});
}

TEST_F(RefBackupTest, RetentionKeepsTheNewestAndDropsTheOld) {
  GitExecutorSettings limited = settings();
  limited.ref_backup.keep = 2;
  limited.ref_backup.max_age_days = 30;
  executor_ = make_executor(limited);
  const std::string repo = create_repo("retention", 2);
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  // An old backup, as a job years ago would have left it.
  const std::string ancient = "refs/mgitd/backup/refs/heads/gone/20200101T000000Z";
  run(target_git("m") + " update-ref " + ancient + " " + rev_parse(repo, "main"));

  std::vector<std::string> made;
  std::vector<std::string> tips;
  for (int i = 0; i < 3; ++i) {
    tips.push_back(rev_parse(repo, "main"));
    rewrite(repo, "main");
    const auto report = execute(make_job(Operation::kMirror, repo, "m"));
    ASSERT_TRUE(report) << report.error().message;
    const RefUpdate* main = find_update(*report, "refs/heads/main");
    ASSERT_NE(main, nullptr);
    ASSERT_FALSE(main->backup_ref.empty());
    made.push_back(main->backup_ref);
  }
  // Three backups made (several may share a second: then they carry -1, -2); the oldest went.
  EXPECT_EQ(backups("m", "refs/heads/main"), (std::vector<std::string>{made[1], made[2]}));
  EXPECT_EQ(run(target_git("m") + " rev-parse " + made[1]), tips[1]);
  EXPECT_EQ(run(target_git("m") + " rev-parse " + made[2]), tips[2]);
  EXPECT_EQ(run(target_git("m") + " for-each-ref " + ancient), "");
}

TEST_F(RefBackupTest, TheRemoteCannotWriteOrDeleteMgitdRefs) {
  const std::string repo = create_repo("hostile", 2);
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  const std::string old_tip = rev_parse(repo, "main");
  rewrite(repo, "main");
  const auto forced = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(forced) << forced.error().message;
  const std::string backup = find_update(*forced, "refs/heads/main")->backup_ref;
  ASSERT_FALSE(backup.empty());

  // The remote now advertises our backup's very name at another commit, and more under
  // refs/mgitd/.
  const std::string other = rev_parse(repo, "main");
  run(server_git(repo) + " update-ref " + backup + " " + other);
  run(server_git(repo) + " update-ref refs/mgitd/planted " + other);
  const auto report = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(report) << report.error().message;
  for (const RefUpdate& update : report->refs_updated) {
    EXPECT_NE(update.ref.rfind("refs/mgitd/", 0), 0u) << update.ref;
  }
  const std::string mirror = target_git("m");
  EXPECT_EQ(run(mirror + " rev-parse " + backup), old_tip);
  EXPECT_EQ(run(mirror + " for-each-ref refs/mgitd/planted"), "");

  // And when the remote stops advertising them, nothing of ours is pruned.
  run(server_git(repo) + " update-ref -d " + backup);
  run(server_git(repo) + " update-ref -d refs/mgitd/planted");
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  EXPECT_EQ(run(mirror + " rev-parse " + backup), old_tip);
}

TEST_F(RefBackupTest, BackupsOffByTheSettingOrTheJobOption) {
  const std::string repo = create_repo("off", 3);
  GitExecutorSettings off = settings();
  off.ref_backup.enabled = false;
  executor_ = make_executor(off);
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  rewrite(repo, "main");
  const auto by_setting = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(by_setting) << by_setting.error().message;
  EXPECT_TRUE(find_update(*by_setting, "refs/heads/main")->forced);
  EXPECT_EQ(find_update(*by_setting, "refs/heads/main")->backup_ref, "");

  executor_ = make_executor();
  rewrite(repo, "main");
  Job job = make_job(Operation::kMirror, repo, "m");
  job.options.ref_backup = false;
  const auto by_option = execute(job);
  ASSERT_TRUE(by_option) << by_option.error().message;
  EXPECT_TRUE(find_update(*by_option, "refs/heads/main")->forced);
  EXPECT_EQ(find_update(*by_option, "refs/heads/main")->backup_ref, "");
  EXPECT_EQ(run(target_git("m") + " for-each-ref refs/mgitd/"), "");
}

TEST_F(RefBackupTest, PullRefsAreMirroredButNotBackedUp) {
  const std::string repo = create_repo("pulls", 3);
  run(server_git(repo) + " update-ref refs/pull/1/head main~1");
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  const std::string mirror = target_git("m");
  EXPECT_EQ(run(mirror + " rev-parse refs/pull/1/head"), rev_parse(repo, "main~1"));

  run(server_git(repo) + " update-ref refs/pull/1/head main~2");  // not a fast-forward
  const auto moved = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(moved) << moved.error().message;
  const RefUpdate* pull = find_update(*moved, "refs/pull/1/head");
  ASSERT_NE(pull, nullptr);
  EXPECT_TRUE(pull->forced);
  EXPECT_EQ(pull->backup_ref, "");

  // The whole namespace gone from the remote: pruned from the mirror, still no backup.
  run(server_git(repo) + " update-ref -d refs/pull/1/head");
  const auto pruned = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(pruned) << pruned.error().message;
  ASSERT_NE(find_update(*pruned, "refs/pull/1/head"), nullptr);
  EXPECT_EQ(run(mirror + " for-each-ref refs/pull/"), "");
  EXPECT_EQ(run(mirror + " for-each-ref refs/mgitd/"), "");
}

TEST_F(RefBackupTest, AMirrorStillEqualsTheRemoteApartFromBackups) {
  const std::string repo = create_repo("equal", 3);
  const std::string git = server_git(repo);
  run(git + " branch topic main~1 && " + git + " tag -a -m r v1 main~1 && " + git +
      " tag light main~2 && " + git + " update-ref refs/pull/7/head main~1 && " + git +
      " update-ref refs/notes/commits main~2");
  ASSERT_TRUE(execute(make_job(Operation::kMirror, repo, "m")));
  rewrite(repo, "main");
  run(git + " branch -D topic && " + git + " tag -d light && " + git +
      " tag -f -a -m r2 v1 main && " + git + " update-ref -d refs/notes/commits");
  run(git + " branch later main~1");
  const auto report = execute(make_job(Operation::kMirror, repo, "m"));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(find_update(*report, "refs/tags/light")->backup_ref.empty());
  EXPECT_FALSE(find_update(*report, "refs/tags/v1")->backup_ref.empty());
  EXPECT_FALSE(find_update(*report, "refs/heads/topic")->backup_ref.empty());
  EXPECT_EQ(find_update(*report, "refs/notes/commits")->backup_ref, "");
  EXPECT_EQ(refs_outside_mgitd(target_git("m")), refs_outside_mgitd(git));
}

TEST_F(RefBackupTest, AWorkTreeFetchBacksUpItsRemoteTrackingRef) {
  const std::string repo = create_repo("worktree", 2);
  ASSERT_TRUE(execute(make_job(Operation::kSync, repo, "w")));
  const std::string old_tip = rev_parse(repo, "main");
  rewrite(repo, "main");
  const auto report = execute(make_job(Operation::kSync, repo, "w"));
  ASSERT_TRUE(report) << report.error().message;
  const RefUpdate* tracking = find_update(*report, "refs/remotes/origin/main");
  ASSERT_NE(tracking, nullptr);
  EXPECT_TRUE(tracking->forced);
  ASSERT_EQ(tracking->backup_ref.rfind("refs/mgitd/backup/refs/remotes/origin/main/", 0), 0u)
      << tracking->backup_ref;
  const std::string worktree = "git -C " + shell_quote((workspace_ / "w").string());
  EXPECT_EQ(run(worktree + " rev-parse " + tracking->backup_ref), old_tip);
  EXPECT_EQ(run(worktree + " rev-parse HEAD"), rev_parse(repo, "main"));
}

}  // namespace
}  // namespace mgit::git
