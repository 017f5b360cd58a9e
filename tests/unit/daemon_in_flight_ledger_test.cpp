// The in-flight ledger across process lifetimes. A crash is what the file says at the moment of
// the crash: the test keeps a copy of it then, lets the ledger exit, and puts the copy back.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
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

  std::string contents() const {
    std::ifstream in(file());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  /// Runs one process lifetime that starts `running` (and leaves it running) and then dies
  /// without a clean exit.
  void crash_while_running(const std::optional<RecordId>& running) {
    std::string at_crash;
    {
      InFlightLedger ledger(file());
      if (running) {
        ledger.consumed(*running);
        ledger.expect("span-1", *running);
        ledger.started("span-1");
      }
      at_crash = contents();
    }  // its clean exit is what the crash never got to
    std::ofstream(file(), std::ios::trunc) << at_crash;
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
  // A compromised worker (it may write beneath the workspace) moves the file away and plants
  // its own: the next write must land at the real name, not in the moved file.
  const auto moved = file().string() + ".moved";
  std::filesystem::rename(file(), moved);
  std::ofstream(file()) << R"({"version":1,"clean":true,"records":[]})";
  ledger.consumed(kB);
  ledger.expect("span-b", kB);
  ledger.started("span-b");
  EXPECT_NE(contents().find(R"("offset":6)"), std::string::npos) << contents();
  EXPECT_NE(contents().find(R"("offset":5)"), std::string::npos) << contents();
  // Bytes appended to the live file would make it unreadable at the next start.
  std::ofstream(file(), std::ios::app) << "]]garbage";
  ledger.finished("span-b");
  EXPECT_EQ(contents().find("garbage"), std::string::npos) << contents();
  // A second name for it (a hard link a worker keeps) is left behind too.
  std::filesystem::create_hard_link(file(), file().string() + ".link");
  ledger.finished("span-a");
  EXPECT_EQ(std::filesystem::hard_link_count(file()), 1u);
  EXPECT_EQ(contents().find(R"("offset":5)"), std::string::npos) << contents();
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
