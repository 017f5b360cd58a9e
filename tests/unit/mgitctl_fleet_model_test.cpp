// mgitctl's pure parts: RFC 3339 and duration parsing, the fleet's folding and ordering, the
// progress line and summary table of `enqueue --wait`.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "fleet_model.hpp"
#include "progress.hpp"

namespace {

using namespace std::chrono;
using mgit::mgitctl::Fleet;
using mgit::mgitctl::parse_duration;
using mgit::mgitctl::parse_rfc3339;
using mgit::mgitctl::render_duration;
using mgit::mgitctl::render_fleet_table;
using mgit::mgitctl::render_progress;
using mgit::mgitctl::render_summary;
using mgit::mgitctl::SystemTime;
using mgit::mgitctl::WaitTally;

SystemTime at(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  return SystemTime(sys_days(year{y} / month{mo} / day{d}) + hours(h) + minutes(mi) + seconds(s));
}

TEST(MgitctlTime, ParsesRfc3339InUtcAndWithOffsets) {
  EXPECT_EQ(parse_rfc3339("2026-11-23T09:41:07Z"), at(2026, 11, 23, 9, 41, 7));
  EXPECT_EQ(parse_rfc3339("2026-11-23t09:41:07z"), at(2026, 11, 23, 9, 41, 7));
  EXPECT_EQ(parse_rfc3339("2026-11-23 10:41:07+01:00"), at(2026, 11, 23, 9, 41, 7));
  EXPECT_EQ(parse_rfc3339("2026-11-23T04:11:07-05:30"), at(2026, 11, 23, 9, 41, 7));
  EXPECT_EQ(parse_rfc3339("2026-11-23T09:41:07.512Z"),
            at(2026, 11, 23, 9, 41, 7) + milliseconds(512));
  for (const char* bad : {"", "2026-11-23", "2026-11-23T09:41Z", "2026-11-23T09:41:07",
                          "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-23T24:00:00Z",
                          "2026-11-23T09:41:07.Z", "2026-11-23T09:41:07Z ", "yesterday"}) {
    EXPECT_FALSE(parse_rfc3339(bad).has_value()) << bad;
  }
}

TEST(MgitctlTime, ParsesDurationsAndRendersThemShort) {
  EXPECT_EQ(parse_duration("90s"), seconds(90));
  EXPECT_EQ(parse_duration("30m"), minutes(30));
  EXPECT_EQ(parse_duration("24h"), hours(24));
  EXPECT_EQ(parse_duration("7d"), hours(7 * 24));
  EXPECT_EQ(parse_duration("1h30m"), minutes(90));
  for (const char* bad : {"", "h", "10", "0s", "5w", "1.5h", "-1h", "1h 30m"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
  EXPECT_EQ(render_duration(seconds(0)), "0s");
  EXPECT_EQ(render_duration(seconds(59)), "59s");
  EXPECT_EQ(render_duration(seconds(185)), "3m05s");
  EXPECT_EQ(render_duration(hours(2) + minutes(7)), "2h07m");
  EXPECT_EQ(render_duration(hours(76)), "3d04h");
  EXPECT_EQ(render_duration(seconds(-5)), "0s");
}

std::string result(const std::string& job, const std::string& target, const std::string& status,
                   const std::string& finished_at, const std::string& extra = "") {
  return R"({"job_id":")" + job + R"(","status":")" + status +
         R"(","repository":{"url":"https://u:pw@git.example.com/)" + target +
         R"(.git"},"target":")" + target + R"(","finished_at":")" + finished_at + "\"" + extra +
         "}";
}

TEST(MgitctlFleet, TheNewestResultWinsWhateverTheOrderItWasReadIn) {
  Fleet fleet;
  const std::string key = "https://git.example.com/org/a";
  // Read newest first (a replay): the older failure must not become "last".
  EXPECT_TRUE(fleet.add(key,
                        result("a-2", "org/a", "succeeded", "2026-11-23T10:00:00Z",
                               R"(,"head":{"ref":"refs/heads/main","oid":"abc"})"),
                        -1));
  EXPECT_TRUE(fleet.add(key,
                        result("a-1", "org/a", "failed", "2026-11-23T09:00:00Z",
                               R"(,"error":{"code":"network","message":"reset"})"),
                        -1));
  EXPECT_FALSE(fleet.add(key, "not json", -1));
  EXPECT_FALSE(fleet.add(key, R"({"job_id":"x"})", -1)) << "no status: not a result";
  const auto rows = fleet.rows(at(2026, 11, 23, 11, 0, 0), std::nullopt);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].last_status, "succeeded");
  EXPECT_EQ(rows[0].last_job_id, "a-2");
  EXPECT_EQ(rows[0].error_code, "");
  EXPECT_EQ(rows[0].head_oid, "abc");
  EXPECT_EQ(rows[0].results, 2u);
  EXPECT_EQ(rows[0].repository_url, "https://git.example.com/org/a.git") << "userinfo dropped";
  EXPECT_FALSE(rows[0].failing);
}

TEST(MgitctlFleet, OrdersFailingThenStaleThenTheRestAndUsesTheRecordTimeAsFallback) {
  Fleet fleet;
  const auto now = at(2026, 11, 23, 12, 0, 0);
  fleet.add("k/ok", result("1", "org/ok", "succeeded", "2026-11-23T11:00:00Z"), -1);
  fleet.add("k/old", result("2", "org/old", "succeeded", "2026-11-20T11:00:00Z"), -1);
  fleet.add("k/bad",
            result("3", "org/bad", "rejected", "2026-11-23T11:00:00Z",
                   R"(,"error":{"code":"policy_denied","message":"see https://t:s@h/x"})"),
            -1);
  // No finished_at: the broker timestamp stands in (an hour before now).
  const auto ts = duration_cast<milliseconds>((now - hours(1)).time_since_epoch()).count();
  fleet.add("k/nots", R"({"job_id":"4","status":"succeeded","target":"org/nots"})", ts);

  auto rows = fleet.rows(now, hours(24));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].target, "org/bad");
  EXPECT_TRUE(rows[0].failing);
  EXPECT_EQ(rows[0].error_message, "see https://h/x");
  EXPECT_EQ(rows[1].target, "org/old");
  EXPECT_TRUE(rows[1].stale);
  EXPECT_EQ(rows[2].target, "org/nots");
  EXPECT_FALSE(rows[2].stale) << "its record time is an hour old";
  EXPECT_EQ(rows[3].target, "org/ok");
  // A failing repository that never succeeded is stale as well.
  EXPECT_TRUE(rows[0].stale);

  rows = fleet.rows(now, std::nullopt);
  EXPECT_FALSE(rows[1].stale) << "no --stale-after, no staleness";
  const auto table = mgit::mgitctl::render_fleet_table(rows, now);
  EXPECT_THAT(table, testing::StartsWith("STATE    TARGET    REPOSITORY"));
  EXPECT_THAT(table, testing::HasSubstr("\nfailing  org/bad   "));
  EXPECT_THAT(table, testing::HasSubstr(" never "));
  EXPECT_THAT(table, testing::HasSubstr("2026-11-20T11:00:00Z (3d01h ago)"));
  EXPECT_THAT(table, testing::HasSubstr("policy_denied: see https://h/x\n"));
  EXPECT_THAT(mgit::mgitctl::render_fleet_json(rows),
              testing::EndsWith(R"("total":4,"failing":1,"stale":0})"));
}

TEST(MgitctlProgress, RendersTheLineAndTheSummary) {
  WaitTally tally;
  tally.total = 10;
  EXPECT_EQ(render_progress(tally, milliseconds(300)),
            "answered 0/10 (0%)  failures 0  waiting for the first result  elapsed 0s");
  tally.answered = 4;
  tally.failures = 1;
  tally.by_outcome[{"succeeded", "-"}] = 3;
  tally.by_outcome[{"failed", "network"}] = 1;
  EXPECT_EQ(render_progress(tally, seconds(2)),
            "answered 4/10 (40%)  failures 1  2.0/s  ETA 3s  elapsed 2s");
  tally.answered = 10;
  EXPECT_EQ(render_progress(tally, seconds(5)),
            "answered 10/10 (100%)  failures 1  2.0/s  elapsed 5s");
  tally.answered = 4;
  EXPECT_EQ(render_summary(tally, seconds(65)),
            "answered 4/10 in 1m05s, failures 1\n"
            "status     error     count\n"
            "failed     network       1\n"
            "succeeded  -             3\n"
            "no result  -             6\n");
}

TEST(MgitctlProgress, TheSummaryNeverPrintsControlCharactersFromAResult) {
  WaitTally tally;
  tally.total = 1;
  tally.answered = 1;
  tally.failures = 1;
  // Anyone who can write the results topic chooses these strings (decoded from JSON).
  tally.by_outcome[{"failed\x1b]0;owned\x07", "x\x1b[2J"}] = 1;
  const auto summary = render_summary(tally, seconds(1));
  for (const char c : summary) {
    const auto byte = static_cast<unsigned char>(c);
    EXPECT_TRUE(byte == '\n' || (byte >= 0x20 && byte != 0x7F)) << "byte " << int{byte};
  }
  EXPECT_NE(summary.find("failed?]0;owned?  x?[2J"), std::string::npos) << summary;
}

TEST(MgitctlFleet, TheTableNeverPrintsTerminalControlSequencesARemoteChose) {
  Fleet fleet;
  // libgit2 quotes a server's ERR packet: the remote chooses this text.
  ASSERT_TRUE(fleet.add(
      std::string("https://git.example.com/org/evil"),
      result("e-1", "org/evil", "failed", "2026-11-23T09:00:00Z",
             R"(,"error":{"code":"network","message":"remote error: )"
             R"(\u001b]52;c;ZWNobyBwd25lZA==\u0007 \u001b[2J hidden\u009b31m \u007f end"})"),
      -1));
  const auto table = render_fleet_table(fleet.rows(at(2026, 11, 23, 11, 0, 0), std::nullopt),
                                        at(2026, 11, 23, 11, 0, 0));
  for (const char c : table) {
    const auto byte = static_cast<unsigned char>(c);
    EXPECT_TRUE(byte == '\n' || (byte >= 0x20 && byte != 0x7F)) << "byte " << int{byte};
  }
  EXPECT_EQ(table.find("\xC2\x9B"), std::string::npos) << "C1 CSI";
  EXPECT_NE(table.find("remote error: ?]52;c;ZWNobyBwd25lZA==? ?[2J hidden?31m ? end"),
            std::string::npos)
      << table;
}

}  // namespace
