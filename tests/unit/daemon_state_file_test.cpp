// The daemon's files beneath the workspace, where a worker taken over by a hostile repository
// may plant a FIFO, a symlink or a huge file. Every call here would block forever or follow
// the link without the guards, so a regression hangs or fails the test.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "in_flight_ledger.hpp"
#include "state_file.hpp"
#include "support/test_environment.hpp"

namespace mgit::daemon {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(StateFile, CreateReplacesAPlantedFifoInsteadOfWaitingForAReader) {
  test_support::TempDir dir;
  const auto path = dir.path() / "state.tmp";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto fd = create_state_file(path);
  ASSERT_TRUE(fd.has_value()) << fd.error();
  ASSERT_TRUE(write_all(fd->get(), "mine"));
  fd->reset();
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
  EXPECT_EQ(read_all(path), "mine");
}

TEST(StateFile, CreateDoesNotWriteThroughAPlantedSymlink) {
  test_support::TempDir dir;
  const auto victim = dir.path() / "victim";
  std::ofstream(victim) << "untouched";
  const auto path = dir.path() / "state.tmp";
  std::filesystem::create_symlink(victim, path);
  auto fd = create_state_file(path);
  ASSERT_TRUE(fd.has_value()) << fd.error();
  ASSERT_TRUE(write_all(fd->get(), "mine"));
  EXPECT_EQ(read_all(victim), "untouched");
  EXPECT_FALSE(std::filesystem::is_symlink(path));
}

TEST(StateFile, ADirectorySwappedForASymlinkIsNotFollowed) {
  test_support::TempDir dir;
  const auto elsewhere = dir.path() / "elsewhere";
  std::filesystem::create_directory(elsewhere);
  std::ofstream(elsewhere / "state") << "untouched";
  const auto state_dir = dir.path() / ".mgitd";
  std::filesystem::create_directory_symlink(elsewhere, state_dir);
  EXPECT_FALSE(create_state_file(state_dir / "state").has_value());
  EXPECT_FALSE(read_state_file(state_dir / "state", 1024).has_value());
  EXPECT_FALSE(replace_state_file(state_dir / "state", state_dir / "moved").has_value());
  remove_state_file(state_dir / "state");
  EXPECT_EQ(read_all(elsewhere / "state"), "untouched");
  EXPECT_FALSE(std::filesystem::exists(elsewhere / "moved"));
}

TEST(StateFile, ReadRefusesFifosSymlinksAndOversizeFiles) {
  test_support::TempDir dir;
  const auto fifo = dir.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(read_state_file(fifo, 1024).error(), "not a regular file");

  const auto target = dir.path() / "target";
  std::ofstream(target) << "secret";
  const auto link = dir.path() / "link";
  std::filesystem::create_symlink(target, link);
  EXPECT_FALSE(read_state_file(link, 1024).has_value());

  const auto big = dir.path() / "big";
  std::ofstream(big) << std::string(2048, 'x');
  EXPECT_EQ(read_state_file(big, 1024).error(), "larger than 1024 bytes");
  EXPECT_EQ(read_state_file(dir.path() / "absent", 1024).error(), "absent");
  EXPECT_EQ(read_state_file(target, 1024).value(), "secret");
}

TEST(StateFile, LedgerStartsAndWritesWithFifosPlantedAtItsNames) {
  test_support::TempDir dir;
  const auto file = dir.path() / "in-flight.json";
  ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo((file.string() + ".tmp").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo((file.string() + ".alt").c_str(), 0600), 0);  // the second slot
  ASSERT_EQ(::mkfifo((file.string() + ".alt.tmp").c_str(), 0600), 0);
  {
    InFlightLedger ledger(file);  // the load must not wait for a FIFO's writer
    const RecordId record{{"mgit.sync.jobs", 0}, 5};
    EXPECT_EQ(ledger.consumed(record), 0);
    ledger.expect("run-1", record);
    ledger.started("run-1");  // the writes must not wait for a FIFO's reader
    const auto other = std::filesystem::path(file.string() + ".alt");
    EXPECT_TRUE(std::filesystem::is_regular_file(file));
    EXPECT_TRUE(std::filesystem::is_regular_file(other));
    EXPECT_NE(read_all(other).find("\"offset\""), std::string::npos)
        << "the second write, in the second slot: " << read_all(other);
  }
}

}  // namespace
}  // namespace mgit::daemon
