// The in-flight ledger across process lifetimes. A crash is what the file says at the moment of
// the crash: the test keeps a copy of it then, lets the ledger exit, and puts the copy back.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>

#include "in_flight_ledger.hpp"
#include "support/test_environment.hpp"

namespace mgit::daemon {
namespace {

const RecordId kA{{"mgit.sync.jobs", 0}, 5};
const RecordId kB{{"mgit.sync.jobs", 0}, 6};
const RecordId kOther{{"mgit.sync.jobs", 1}, 2};

class InFlightLedgerTest : public ::testing::Test {
 protected:
  std::filesystem::path file() const { return dir_.path() / "in-flight" / "g-host.json"; }
  std::filesystem::path other_slot() const { return file().string() + ".alt"; }

  static std::string read(const std::filesystem::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static std::uint64_t sequence(const std::string& text) {
    std::smatch found;
    return std::regex_search(text, found, std::regex(R"re("seq":([0-9]+))re"))
               ? std::stoull(found[1].str())
               : 0;
  }
  /// The slot written last (the higher sequence number).
  std::filesystem::path newest_slot() const {
    return sequence(read(other_slot())) > sequence(read(file())) ? other_slot() : file();
  }
  std::string contents() const { return read(newest_slot()); }

  /// Runs one process lifetime that starts `running` (and leaves it running) and then dies
  /// without a clean exit.
  void crash_while_running(const std::optional<RecordId>& running) {
    std::map<std::filesystem::path, std::optional<std::string>> at_crash;
    {
      InFlightLedger ledger(file());
      if (running) {
        ledger.consumed(*running);
        ledger.expect("span-1", *running);
        ledger.started("span-1");
      }
      for (const auto& slot : {file(), other_slot()}) {
        at_crash[slot] = std::filesystem::exists(slot) ? std::optional(read(slot)) : std::nullopt;
      }
    }  // its clean exit is what the crash never got to
    for (const auto& [slot, text] : at_crash) {
      if (text) {
        std::ofstream(slot, std::ios::trunc) << *text;
      } else {
        std::filesystem::remove(slot);
      }
    }
  }

  /// The unclean exits a new process sees for `id`.
  int counted(const RecordId& id) { return InFlightLedger(file()).consumed(id); }

  test_support::TempDir dir_;
};

TEST_F(InFlightLedgerTest, EachUncleanExitWhileARecordRunsCountsOnce) {
  crash_while_running(kA);
  crash_while_running(kA);
  crash_while_running(kA);
  InFlightLedger ledger(file());
  EXPECT_EQ(ledger.consumed(kA), kPoisonUncleanExits);
  EXPECT_EQ(ledger.consumed(kB), 0) << "never running at a crash";
}

TEST_F(InFlightLedgerTest, AnUncleanExitWithoutTheRecordRunningDoesNotCountAgainstIt) {
  crash_while_running(kA);
  crash_while_running(std::nullopt);  // restarted, died before kA ran again
  crash_while_running(kOther);
  InFlightLedger ledger(file());
  EXPECT_EQ(ledger.consumed(kA), 1);
  EXPECT_EQ(ledger.consumed(kOther), 1);
}

TEST_F(InFlightLedgerTest, AnAttemptThatEndsClearsTheCount) {
  crash_while_running(kA);
  crash_while_running(kA);
  std::string at_crash;
  {
    InFlightLedger ledger(file());
    EXPECT_EQ(ledger.consumed(kA), 2);
    ledger.expect("span-2", kA);
    ledger.started("span-2");
    ledger.finished("span-2");
    at_crash = contents();
  }
  std::ofstream(file(), std::ios::trunc) << at_crash;
  EXPECT_EQ(counted(kA), 0) << at_crash;
}

TEST_F(InFlightLedgerTest, ACleanExitKeepsCountsButAddsNone) {
  crash_while_running(kA);
  {
    InFlightLedger ledger(file());
    ledger.consumed(kOther);
    ledger.expect("span-o", kOther);
    ledger.started("span-o");
  }  // clean (its executions had ended): kA, not consumed here, keeps its one count
  EXPECT_NE(contents().find(R"("clean":true)"), std::string::npos) << contents();
  EXPECT_EQ(counted(kA), 1);
  EXPECT_EQ(counted(kOther), 0);
}

TEST_F(InFlightLedgerTest, NothingCountedLeavesNoFileAfterACleanExit) {
  { InFlightLedger ledger(file()); }
  EXPECT_FALSE(std::filesystem::exists(file()));
}

TEST_F(InFlightLedgerTest, AnAnsweredRecordIsForgotten) {
  crash_while_running(kA);
  std::string at_crash;
  {
    InFlightLedger ledger(file());
    EXPECT_EQ(ledger.consumed(kA), 1);
    ledger.answered(kA);
    // io_context changes reach the file with the next write (another record starting).
    ledger.expect("span-o", kOther);
    ledger.started("span-o");
    at_crash = contents();
  }
  std::ofstream(file(), std::ios::trunc) << at_crash;
  InFlightLedger ledger(file());
  EXPECT_EQ(ledger.consumed(kA), 0);
  EXPECT_EQ(ledger.consumed(kOther), 1);
}

TEST_F(InFlightLedgerTest, CountsBelowWhatThePartitionConsumesNowAreForgotten) {
  crash_while_running(kA);
  crash_while_running(kOther);
  InFlightLedger ledger(file());
  // Consumption of partition 0 starts past kA: kA was committed, by some replica.
  EXPECT_EQ(ledger.consumed(kB), 0);
  EXPECT_EQ(ledger.consumed(kA), 0);
  EXPECT_EQ(ledger.consumed(kOther), 1) << "another partition keeps its counts";
}

TEST_F(InFlightLedgerTest, ACountedRecordConsumedHereIsNotForgottenByLaterOnes) {
  crash_while_running(kA);
  InFlightLedger ledger(file());
  EXPECT_EQ(ledger.consumed(kA), 1);
  EXPECT_EQ(ledger.consumed(kB), 0);
  EXPECT_EQ(ledger.consumed(kA), 1) << "kA is queued here, behind nothing: its count stays";
}

TEST_F(InFlightLedgerTest, ADamagedFileIsStartedAfresh) {
  std::filesystem::create_directories(file().parent_path());
  std::ofstream(file()) << R"({"version":1,"clean":false,"records":[{"topic":7}]})";
  InFlightLedger ledger(file());
  EXPECT_EQ(ledger.consumed(kA), 0);
  EXPECT_NE(contents().find(R"("records":[])"), std::string::npos)
      << "rewritten for this process: " << contents();
}

TEST_F(InFlightLedgerTest, AFileAWorkerMovedReplacedOrAppendedToIsWrittenAnew) {
  InFlightLedger ledger(file());
  ledger.consumed(kA);
  ledger.expect("span-a", kA);
  ledger.started("span-a");
  // A compromised worker (it may write beneath the workspace) moves both slots away and
  // plants its own: the next writes must land at the real names, not in the moved files.
  for (const auto& slot : {file(), other_slot()}) {
    std::filesystem::rename(slot, slot.string() + ".moved");
    std::ofstream(slot) << R"({"version":1,"clean":true,"records":[]})";
  }
  ledger.consumed(kB);
  ledger.expect("span-b", kB);
  ledger.started("span-b");
  EXPECT_NE(contents().find(R"("offset":6)"), std::string::npos) << contents();
  EXPECT_NE(contents().find(R"("offset":5)"), std::string::npos) << contents();
  // Bytes appended to a live slot would make it unreadable at the next start.
  for (const auto& slot : {file(), other_slot()}) std::ofstream(slot, std::ios::app) << "]]garbage";
  ledger.finished("span-b");
  ledger.consumed(kOther);  // no write of its own
  ledger.finished("span-a");
  for (const auto& slot : {file(), other_slot()}) {
    EXPECT_EQ(read(slot).find("garbage"), std::string::npos) << slot << ": " << read(slot);
  }
  // A second name for each (a hard link a worker keeps) is left behind too.
  for (const auto& slot : {file(), other_slot()}) {
    std::filesystem::create_hard_link(slot, slot.string() + ".link");
  }
  ledger.expect("span-a2", kA);
  ledger.started("span-a2");
  ledger.finished("span-a2");
  for (const auto& slot : {file(), other_slot()}) {
    EXPECT_EQ(std::filesystem::hard_link_count(slot), 1u) << slot;
  }
  EXPECT_EQ(contents().find(R"("offset":5)"), std::string::npos) << contents();
}

TEST_F(InFlightLedgerTest, AWriteTornByACrashFallsBackToTheStateBeforeIt) {
  std::map<std::filesystem::path, std::string> at_crash;
  {
    InFlightLedger ledger(file());
    ledger.consumed(kA);
    ledger.expect("span-a", kA);
    ledger.started("span-a");
    ledger.consumed(kB);
    ledger.expect("span-b", kB);
    ledger.started("span-b");  // the write the crash tears: A and B running
    for (const auto& slot : {file(), other_slot()}) at_crash[slot] = read(slot);
  }
  const auto torn =
      sequence(at_crash[file()]) > sequence(at_crash[other_slot()]) ? file() : other_slot();
  ASSERT_NE(at_crash[torn].find(R"("offset":6)"), std::string::npos) << at_crash[torn];
  for (auto& [slot, text] : at_crash) {
    // The crash stopped the newest write half way: its start is there, its end is not.
    if (slot == torn) text.resize(text.size() / 2);
    std::ofstream(slot, std::ios::trunc) << text;
  }
  InFlightLedger next(file());
  EXPECT_EQ(next.consumed(kA), 1) << "the slot before the torn write had A running";
  EXPECT_EQ(next.consumed(kB), 0) << "B's start was in the torn write";
}

TEST_F(InFlightLedgerTest, AWriteTornBetweenPagesIsNotReadAsWhole) {
  // The newest snapshot's first bytes over the older one's last: still JSON, but its
  // sequence numbers disagree, so the other slot is read.
  std::filesystem::create_directories(file().parent_path());
  std::ofstream(other_slot()) << R"({"version":1,"seq":4,"clean":false,"records":[)"
                              << R"({"topic":"mgit.sync.jobs","partition":0,"offset":5,)"
                              << R"("unclean_exits":0,"running":true}],"end":4})";
  std::ofstream(file()) << R"({"version":1,"seq":5,"clean":false,"records":[],"end":3})";
  EXPECT_EQ(InFlightLedger(file()).consumed(kA), 1);
}

TEST_F(InFlightLedgerTest, ASlotNumberedNearTheTopIsNotBelieved) {
  // Planted (workers can write beneath the workspace) to win every comparison and make this
  // process's numbers wrap: read as not whole, so the real slot counts.
  std::filesystem::create_directories(file().parent_path());
  std::ofstream(file()) << R"({"version":1,"seq":3,"clean":false,"records":[)"
                        << R"({"topic":"mgit.sync.jobs","partition":0,"offset":5,)"
                        << R"("unclean_exits":0,"running":true}],"end":3})";
  std::ofstream(other_slot())
      << R"({"version":1,"seq":18446744073709551615,"clean":false,"records":[)"
      << R"({"topic":"mgit.sync.jobs","partition":0,"offset":6,)"
      << R"("unclean_exits":2,"running":true}],"end":18446744073709551615})";
  InFlightLedger next(file());
  EXPECT_EQ(next.consumed(kA), 1);
  EXPECT_EQ(next.consumed(kB), 0);
  EXPECT_EQ(sequence(contents()), 4U) << "numbered on from the slot believed: " << contents();
}

TEST_F(InFlightLedgerTest, AFileFromBeforeTheTwoSlotsIsStillCounted) {
  std::filesystem::create_directories(file().parent_path());
  std::ofstream(file()) << R"({"version":1,"clean":false,"records":[)"
                        << R"({"topic":"mgit.sync.jobs","partition":0,"offset":5,)"
                        << R"("unclean_exits":1,"running":true}]})";
  EXPECT_EQ(InFlightLedger(file()).consumed(kA), 2);
}

TEST_F(InFlightLedgerTest, AnEmptyPathTurnsTheLedgerOff) {
  InFlightLedger ledger{std::filesystem::path()};
  ledger.expect("span", kA);
  ledger.started("span");
  EXPECT_EQ(ledger.consumed(kA), 0);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path()));
}

}  // namespace
}  // namespace mgit::daemon
