// The pure parts of the force-push safety net: mirror refspecs from an advertisement,
// backup ref names, retention.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "mirror_refspecs.hpp"
#include "ref_backup_names.hpp"

namespace mgit::git {
namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;

std::vector<std::string> specs_of(const MirrorRefspecs& built) {
  std::vector<std::string> out;
  for (const RefMapping& mapping : built.mappings) out.push_back(mapping.refspec());
  return out;
}

TEST(MirrorRefspecs, OneRefspecPerAdvertisedNamespaceNeverMgitd) {
  const MirrorRefspecs built =
      mirror_refspecs({"HEAD", "refs/heads/main", "refs/heads/feature/x", "refs/tags/v1",
                       "refs/tags/v1^{}", "refs/pull/1/head", "refs/pull/1/merge", "refs/stash",
                       "refs/mgitd/backup/refs/heads/main/20261206T114501Z", "refs/mgitd"});
  EXPECT_EQ(specs_of(built),
            (std::vector<std::string>{"+refs/heads/*:refs/heads/*", "+refs/pull/*:refs/pull/*",
                                      "+refs/stash:refs/stash", "+refs/tags/*:refs/tags/*"}));
  EXPECT_EQ(built.skipped,
            (std::vector<std::string>{"refs/mgitd/backup/refs/heads/main/20261206T114501Z",
                                      "refs/mgitd"}));
}

TEST(MirrorRefspecs, NamespacesGitWouldRefuseAreSkipped) {
  const MirrorRefspecs built =
      mirror_refspecs({"refs/a*b/x", "refs/.hidden/x", "refs/x.lock/y", "refs/a:b/c",
                       "refs/sp ace/x", "refs//x", "notrefs/x", "refs/ok/x"});
  EXPECT_EQ(specs_of(built), std::vector<std::string>{"+refs/ok/*:refs/ok/*"});
  EXPECT_EQ(built.skipped.size(), 7u);
  EXPECT_TRUE(mirror_refspecs({}).mappings.empty());
}

TEST(MirrorRefspecs, MappingsTranslateBothWays) {
  const RefMapping tracking{"refs/heads/", "refs/remotes/origin/", true};
  EXPECT_EQ(tracking.refspec(), "+refs/heads/*:refs/remotes/origin/*");
  EXPECT_EQ(tracking.to_local("refs/heads/a/b"), "refs/remotes/origin/a/b");
  EXPECT_EQ(tracking.to_local("refs/tags/a"), std::nullopt);
  EXPECT_EQ(tracking.to_remote("refs/remotes/origin/main"), "refs/heads/main");
  EXPECT_EQ(tracking.to_remote("refs/remotes/origin/"), std::nullopt);
  const RefMapping exact{"refs/stash", "refs/stash", false};
  EXPECT_EQ(exact.to_local("refs/stash"), "refs/stash");
  EXPECT_EQ(exact.to_local("refs/stash2"), std::nullopt);
  EXPECT_TRUE(is_reserved_ref("refs/mgitd/x"));
  EXPECT_TRUE(is_reserved_ref("refs/mgitd"));
  EXPECT_FALSE(is_reserved_ref("refs/mgitdx"));
  EXPECT_TRUE(in_namespaces("refs/heads/x", {"refs/heads/", "refs/tags/"}));
  EXPECT_FALSE(in_namespaces("refs/pull/1/head", {"refs/heads/", "refs/tags/"}));
}

TEST(BackupNames, StampAndNameRoundTrip) {
  // 2026-12-06T11:45:01Z, computed from the calendar by hand: 20793 days after 1970-01-01.
  const system_clock::time_point at{
      std::chrono::seconds(20793LL * 86400 + 11 * 3600 + 45 * 60 + 1)};
  EXPECT_EQ(backup_stamp(at), "20261206T114501Z");
  EXPECT_EQ(backup_ref_name("refs/heads/main", "20261206T114501Z"),
            "refs/mgitd/backup/refs/heads/main/20261206T114501Z");
  EXPECT_EQ(backup_ref_name("refs/heads/main", "20261206T114501Z", 2),
            "refs/mgitd/backup/refs/heads/main/20261206T114501Z-2");
  const auto parsed = parse_backup_ref("refs/mgitd/backup/refs/heads/a/b/20261206T114501Z-2");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->ref, "refs/heads/a/b");
  EXPECT_EQ(parsed->taken, at);
  EXPECT_EQ(parsed->sequence, 2);
}

TEST(BackupNames, AnythingElseUnderTheNamespaceIsNotABackup) {
  for (const char* name :
       {"refs/mgitd/backup/refs/heads/main", "refs/mgitd/backup/20261206T114501Z",
        "refs/mgitd/backup/refs/heads/main/20261306T114501Z",
        "refs/mgitd/backup/refs/heads/main/20261206T114501Z-0",
        "refs/mgitd/backup/refs/heads/main/20261206T114501Z-x",
        "refs/mgitd/backup/refs/heads/main/2026120XT114501Z", "refs/heads/main/20261206T114501Z"}) {
    EXPECT_FALSE(parse_backup_ref(name)) << name;
  }
}

std::vector<BackupName> parsed(const std::vector<std::string>& names) {
  std::vector<BackupName> out;
  for (const auto& name : names) out.push_back(*parse_backup_ref(name));
  return out;
}

TEST(BackupRetention, KeepsTheNewestPerRef) {
  const auto backups = parsed({"refs/mgitd/backup/refs/heads/main/20261201T000000Z",
                               "refs/mgitd/backup/refs/heads/main/20261203T000000Z",
                               "refs/mgitd/backup/refs/heads/main/20261203T000000Z-1",
                               "refs/mgitd/backup/refs/heads/main/20261202T000000Z",
                               "refs/mgitd/backup/refs/tags/v1/20261101T000000Z"});
  const system_clock::time_point now = backups[0].taken + 24h * 10;
  EXPECT_EQ(expired_backups(backups, BackupRetention{2, 0h}, now, {}),
            (std::vector<std::string>{"refs/mgitd/backup/refs/heads/main/20261202T000000Z",
                                      "refs/mgitd/backup/refs/heads/main/20261201T000000Z"}));
  EXPECT_TRUE(expired_backups(backups, BackupRetention{0, 0h}, now, {}).empty());
}

TEST(BackupRetention, DropsTheOldButNeverTheOneJustMade) {
  const auto backups = parsed({"refs/mgitd/backup/refs/heads/main/20261201T000000Z",
                               "refs/mgitd/backup/refs/heads/main/20261209T000000Z",
                               "refs/mgitd/backup/refs/tags/v1/20261101T000000Z"});
  const system_clock::time_point now = backups[1].taken + 1h;
  EXPECT_EQ(expired_backups(backups, BackupRetention{0, 24h * 7}, now, {}),
            (std::vector<std::string>{"refs/mgitd/backup/refs/heads/main/20261201T000000Z",
                                      "refs/mgitd/backup/refs/tags/v1/20261101T000000Z"}));
  // A clock that went backwards made the protected backup look older than the rest: it stays
  // and counts as the newest.
  EXPECT_EQ(expired_backups(backups, BackupRetention{1, 0h}, now,
                            {"refs/mgitd/backup/refs/heads/main/20261201T000000Z"}),
            std::vector<std::string>{"refs/mgitd/backup/refs/heads/main/20261209T000000Z"});
}

}  // namespace
}  // namespace mgit::git
