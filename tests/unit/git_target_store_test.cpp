#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mgit/git/target_store.hpp"

namespace {
// Fault injection for `fsync`: nonzero makes the next calls fail with this errno. The
// definition below takes precedence over libc's for this executable; with 0 it forwards.
std::atomic<int> g_fsync_errno{0};
}  // namespace

extern "C" int fsync(int fd) {
  if (const int err = g_fsync_errno.load(); err != 0) {
    errno = err;
    return -1;
  }
  using Fsync = int (*)(int);
  static const auto real = reinterpret_cast<Fsync>(::dlsym(RTLD_NEXT, "fsync"));
  return real(fd);
}

namespace mgit::git {
namespace {

namespace fs = std::filesystem;

class FailingFsync {
 public:
  explicit FailingFsync(int err) { g_fsync_errno = err; }
  ~FailingFsync() { g_fsync_errno = 0; }
  FailingFsync(const FailingFsync&) = delete;
  FailingFsync& operator=(const FailingFsync&) = delete;
};

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// The record file of the store's only target (the store names files by a hash).
fs::path only_record(const TargetStore& store) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(store.directory())) {
    if (entry.path().extension() == ".json") found.push_back(entry.path());
  }
  EXPECT_EQ(found.size(), 1u);
  return found.empty() ? fs::path() : found.front();
}

std::vector<fs::path> corrupt_files(const TargetStore& store) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(store.directory())) {
    if (entry.path().filename().string().find(".json.corrupt-") != std::string::npos) {
      found.push_back(entry.path());
    }
  }
  return found;
}

class TargetStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/mgit-store-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    workspace_ = pattern;
  }
  void TearDown() override { fs::remove_all(workspace_); }

  fs::path workspace_;
};

TEST_F(TargetStoreTest, UnknownTargetHasNoRecord) {
  const TargetStore store(workspace_);
  const auto record = store.load("org/app");
  ASSERT_TRUE(record) << record.error().message;
  EXPECT_FALSE(record->has_value());
}

TEST_F(TargetStoreTest, RecordRoundTripsBindingAndOutcomes) {
  const TargetStore store(workspace_);
  TargetRecord record{"org/app", "https://git.example.com/org/app", {}};
  record.add(ServedJob{"job-1", "https://git.example.com/org/app", std::nullopt, "refs/heads/main",
                       std::string(40, 'a')});
  record.add(ServedJob{
      "job-2", "https://git.example.com/other",
      jobs::JobError{jobs::ErrorCode::kConflict, "target 'org/app' already exists"}, "", ""});
  ASSERT_TRUE(store.save(record));

  const TargetStore other(workspace_);  // a second replica reading the same volume
  const auto loaded = other.load("org/app");
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_TRUE(loaded->has_value());
  const TargetRecord& read = **loaded;
  EXPECT_EQ(read.target, "org/app");
  EXPECT_EQ(read.repository_key, "https://git.example.com/org/app");
  ASSERT_EQ(read.served.size(), 2u);
  const ServedJob* ok = read.find("job-1", "https://git.example.com/org/app");
  ASSERT_NE(ok, nullptr);
  EXPECT_FALSE(ok->error);
  EXPECT_EQ(ok->head_ref, "refs/heads/main");
  EXPECT_EQ(ok->head_oid, std::string(40, 'a'));
  const ServedJob* failed = read.find("job-2", "https://git.example.com/other");
  ASSERT_NE(failed, nullptr);
  ASSERT_TRUE(failed->error);
  EXPECT_EQ(failed->error->code, jobs::ErrorCode::kConflict);
  EXPECT_EQ(failed->error->message, "target 'org/app' already exists");
  EXPECT_EQ(read.find("job-3", "https://git.example.com/org/app"), nullptr);
  // The id alone replays nothing: the repository must match too.
  EXPECT_EQ(read.find("job-2", "https://git.example.com/org/app"), nullptr);
  EXPECT_EQ(read.find("job-1", "https://git.example.com/other"), nullptr);

  // A different target does not see this record.
  const auto unrelated = other.load("org/other");
  ASSERT_TRUE(unrelated);
  EXPECT_FALSE(unrelated->has_value());
}

TEST_F(TargetStoreTest, ServedListKeepsTheNewest256) {
  TargetRecord record{"t", "k", {}};
  for (int i = 0; i < 300; ++i) record.add(ServedJob{"job-" + std::to_string(i), "k", {}, "", ""});
  ASSERT_EQ(record.served.size(), TargetStore::kMaxServed);
  EXPECT_EQ(record.find("job-43", "k"), nullptr);
  EXPECT_NE(record.find("job-44", "k"), nullptr);
  EXPECT_EQ(record.served.back().job_id, "job-299");

  const TargetStore store(workspace_);
  ASSERT_TRUE(store.save(record));
  const auto loaded = store.load("t");
  ASSERT_TRUE(loaded && loaded->has_value());
  EXPECT_EQ((*loaded)->served.size(), TargetStore::kMaxServed);
  EXPECT_EQ((*loaded)->served.front().job_id, "job-44");
}

TEST_F(TargetStoreTest, ReAddingAJobReplacesItsEntry) {
  TargetRecord record{"t", "k", {}};
  record.add(ServedJob{"a", "k", jobs::JobError{jobs::ErrorCode::kNotFound, "x"}, "", ""});
  record.add(ServedJob{"b", "k", {}, "", ""});
  record.add(ServedJob{"a", "k", {}, "refs/heads/main", "1"});
  ASSERT_EQ(record.served.size(), 2u);
  EXPECT_EQ(record.served.back().job_id, "a");
  EXPECT_FALSE(record.served.back().error);
}

TEST_F(TargetStoreTest, SameIdForAnotherRepositoryIsASeparateEntry) {
  TargetRecord record{"t", "https://git.example.com/org/app", {}};
  record.add(ServedJob{"x1", "https://evil.example/org/app",
                       jobs::JobError{jobs::ErrorCode::kConflict, "bound"}, "", ""});
  record.add(ServedJob{"x1", "https://git.example.com/org/app", {}, "refs/heads/main", "1"});
  ASSERT_EQ(record.served.size(), 2u);
  ASSERT_NE(record.find("x1", "https://git.example.com/org/app"), nullptr);
  EXPECT_FALSE(record.find("x1", "https://git.example.com/org/app")->error);
  ASSERT_NE(record.find("x1", "https://evil.example/org/app"), nullptr);
  EXPECT_TRUE(record.find("x1", "https://evil.example/org/app")->error);
}

TEST_F(TargetStoreTest, EntriesWithoutARepositoryKeyReplayOnlyTheBoundRepositorysSuccesses) {
  // What a record written before entries carried their repository key reads as.
  TargetRecord record{"t", "https://git.example.com/org/app", {}};
  record.add(ServedJob{"ok", "", {}, "refs/heads/main", "1"});
  record.add(ServedJob{"bad", "", jobs::JobError{jobs::ErrorCode::kConflict, "bound"}, "", ""});
  EXPECT_NE(record.find("ok", "https://git.example.com/org/app"), nullptr);
  EXPECT_EQ(record.find("ok", "https://evil.example/org/app"), nullptr);
  EXPECT_EQ(record.find("bad", "https://git.example.com/org/app"), nullptr);
  EXPECT_EQ(record.find("bad", "https://evil.example/org/app"), nullptr);
}

TEST_F(TargetStoreTest, RewriteIsAtomicAndLeavesNoTemporaryFiles) {
  const TargetStore store(workspace_);
  TargetRecord record{"org/app", "key-1", {}};
  ASSERT_TRUE(store.save(record));
  record.repository_key = "key-2";
  record.add(ServedJob{"j", "key-1", {}, "", ""});
  ASSERT_TRUE(store.save(record));

  int json_files = 0;
  for (const auto& entry : fs::directory_iterator(store.directory())) {
    const std::string name = entry.path().filename().string();
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
    if (entry.path().extension() == ".json") ++json_files;
  }
  EXPECT_EQ(json_files, 1);
  const auto loaded = store.load("org/app");
  ASSERT_TRUE(loaded && loaded->has_value());
  EXPECT_EQ((*loaded)->repository_key, "key-2");
  EXPECT_NE((*loaded)->find("j", "key-1"), nullptr);
}

TEST_F(TargetStoreTest, CorruptRecordIsMovedAsideAndTheTargetStartsOver) {
  const TargetStore store(workspace_);
  TargetRecord saved{"t", "k", {}};
  saved.add(ServedJob{"job-1", "k", {}, "", ""});
  ASSERT_TRUE(store.save(saved));
  const fs::path file = only_record(store);
  const std::string garbage = "{not json";
  std::ofstream(file, std::ios::binary | std::ios::trunc) << garbage;

  const auto before = std::chrono::system_clock::now();
  const auto loaded = store.load("t");
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->target, "t");
  EXPECT_EQ((*loaded)->repository_key, "");
  EXPECT_TRUE((*loaded)->served.empty());

  EXPECT_FALSE(fs::exists(file));
  const auto aside = corrupt_files(store);
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_EQ(read_bytes(aside.front()), garbage);
  const std::string name = aside.front().filename().string();
  EXPECT_EQ(name.substr(0, name.find(".corrupt-")), file.filename().string());
  const long long stamp = std::stoll(name.substr(name.find(".corrupt-") + 9));
  const long long now_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(before.time_since_epoch()).count();
  EXPECT_GE(stamp, now_seconds);
  EXPECT_LE(stamp, now_seconds + 60);

  // The target works again: the next save writes a fresh record.
  ASSERT_TRUE(store.save(TargetRecord{"t", "k2", {}}));
  const auto reloaded = store.load("t");
  ASSERT_TRUE(reloaded && reloaded->has_value());
  EXPECT_EQ((*reloaded)->repository_key, "k2");
}

TEST_F(TargetStoreTest, RecordsOfTheWrongShapeAreCorrupt) {
  const std::string cases[] = {
      "[]",
      R"({"schema":"mgit.target/v0","target":"t","repository_key":"k","served":[]})",
      R"({"target":"t","repository_key":"k","served":[]})",
      R"({"schema":"mgit.target/v1","target":"other","repository_key":"k","served":[]})",
      R"({"schema":"mgit.target/v1","repository_key":"k","served":[]})",
      R"({"schema":"mgit.target/v1","target":"t","repository_key":7,"served":[]})",
      R"({"schema":"mgit.target/v1","target":"t","repository_key":"k","served":{}})",
      R"({"schema":"mgit.target/v1","target":"t","repository_key":"k","served":[1]})",
      R"({"schema":"mgit.target/v1","target":"t","repository_key":"k","served":[{"status":"succeeded"}]})",
      R"({"schema":"mgit.target/v1","target":"t","repository_key":"k","served":[{"job_id":"j","status":"maybe"}]})",
  };
  const TargetStore store(workspace_);
  for (const std::string& content : cases) {
    SCOPED_TRACE(content);
    ASSERT_TRUE(store.save(TargetRecord{"t", "k", {}}));
    const fs::path file = only_record(store);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
    for (const auto& old : corrupt_files(store)) fs::remove(old);

    const auto loaded = store.load("t");
    ASSERT_TRUE(loaded) << loaded.error().message;
    ASSERT_TRUE(loaded->has_value());
    EXPECT_EQ((*loaded)->repository_key, "");
    EXPECT_TRUE((*loaded)->served.empty());
    const auto aside = corrupt_files(store);
    ASSERT_EQ(aside.size(), 1u);
    EXPECT_EQ(read_bytes(aside.front()), content);
  }
}

TEST_F(TargetStoreTest, ARecordEmptiedByAPowerLossStartsOverWithoutBeingSetAside) {
  const TargetStore store(workspace_);
  // What ext4 leaves of a file swapped in without fsync shortly before the power went: no
  // bytes, or a length of zeros.
  for (const std::string& content : {std::string(), std::string(300, '\0')}) {
    SCOPED_TRACE(content.size());
    TargetRecord saved{"t", "k", {}};
    saved.add(ServedJob{"job-1", "k", {}, "", ""});
    ASSERT_TRUE(store.save(saved));
    const fs::path file = only_record(store);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;

    const auto loaded = store.load("t");
    ASSERT_TRUE(loaded) << loaded.error().message;
    ASSERT_TRUE(loaded->has_value());
    EXPECT_EQ((*loaded)->repository_key, "") << "rebuilt from the repository's origin instead";
    EXPECT_TRUE((*loaded)->served.empty());
    EXPECT_TRUE(corrupt_files(store).empty()) << "nothing worth keeping";
    ASSERT_TRUE(store.save(TargetRecord{"t", "k", {}}));
    const auto reloaded = store.load("t");
    ASSERT_TRUE(reloaded && reloaded->has_value());
    EXPECT_EQ((*reloaded)->repository_key, "k");
  }
}

TEST_F(TargetStoreTest, UnreadableRecordIsAnErrorAndStaysInPlace) {
  const TargetStore store(workspace_);
  ASSERT_TRUE(store.save(TargetRecord{"t", "k", {}}));
  const fs::path file = only_record(store);
  // A directory in the record's place opens but cannot be read (EISDIR): an I/O failure,
  // not corruption, which works for root too (unlike a permission bit).
  fs::remove(file);
  fs::create_directory(file);

  const auto loaded = store.load("t");
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, jobs::ErrorCode::kInternal);
  EXPECT_NE(loaded.error().message.find(std::strerror(EISDIR)), std::string::npos)
      << loaded.error().message;
  EXPECT_NE(loaded.error().message.find(".mgitd/targets/" + file.filename().string()),
            std::string::npos)
      << loaded.error().message;
  EXPECT_EQ(loaded.error().message.find(workspace_.string()), std::string::npos)
      << loaded.error().message;
  EXPECT_TRUE(fs::is_directory(file));
  EXPECT_TRUE(corrupt_files(store).empty());
}

TEST_F(TargetStoreTest, FsyncFailureReportsItsOwnErrno) {
  const TargetStore store(workspace_);
  {
    const FailingFsync failing(EIO);
    const auto saved = store.save(TargetRecord{"t", "k", {}});
    ASSERT_FALSE(saved);
    EXPECT_EQ(saved.error().code, jobs::ErrorCode::kInternal);
    EXPECT_NE(saved.error().message.find(std::strerror(EIO)), std::string::npos)
        << saved.error().message;
    EXPECT_EQ(saved.error().message.find(workspace_.string()), std::string::npos)
        << saved.error().message;
  }
  {
    const FailingFsync failing(ENOSPC);
    const auto saved = store.save(TargetRecord{"t", "k", {}});
    ASSERT_FALSE(saved);
    EXPECT_EQ(saved.error().code, jobs::ErrorCode::kDiskFull);
  }
  // Neither attempt left a record or a temporary file behind.
  EXPECT_TRUE(fs::is_empty(store.directory()));
  const auto loaded = store.load("t");
  ASSERT_TRUE(loaded);
  EXPECT_FALSE(loaded->has_value());
}

TEST_F(TargetStoreTest, OnlyACrashSafeSaveIsFsynced) {
  // Every fsync fails: a save that calls it fails, one that does not succeeds.
  const FailingFsync failing(EIO);
  const TargetStore store(workspace_);
  TargetRecord record{"t", "https://git.example.com/org/app", {}};
  record.add(ServedJob{"job-1", record.repository_key, std::nullopt, "refs/heads/main",
                       std::string(40, 'a')});
  ASSERT_TRUE(store.save(record, TargetStore::Durability::kProcessSafe));
  const auto loaded = store.load("t");
  ASSERT_TRUE(loaded && loaded->has_value());
  EXPECT_EQ((*loaded)->repository_key, record.repository_key);
  ASSERT_NE((*loaded)->find("job-1", record.repository_key), nullptr);

  // The second process-safe write replaces the first (by exchange) and leaves no temp file.
  record.add(ServedJob{"job-2", record.repository_key, std::nullopt, "refs/heads/main",
                       std::string(40, 'b')});
  ASSERT_TRUE(store.save(record, TargetStore::Durability::kProcessSafe));
  const auto reloaded = store.load("t");
  ASSERT_TRUE(reloaded && reloaded->has_value());
  ASSERT_NE((*reloaded)->find("job-2", record.repository_key), nullptr);
  EXPECT_EQ((*reloaded)->served.size(), 2U);
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(store.directory())) {
    files.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(files.size(), 1U) << ::testing::PrintToString(files);

  EXPECT_FALSE(store.save(record, TargetStore::Durability::kCrashSafe));
  EXPECT_FALSE(store.save(record));  // crash-safe unless asked otherwise
}

TEST_F(TargetStoreTest, LockExcludesASecondHolderUntilReleased) {
  const TargetStore first(workspace_);
  const TargetStore second(workspace_);
  auto held = first.lock("org/app", execution::ExecutionControl{});
  ASSERT_TRUE(held) << held.error().message;

  std::atomic<bool> acquired{false};
  auto waiter = std::async(std::launch::async, [&] {
    auto lock = second.lock("org/app", execution::ExecutionControl{});
    acquired = lock.has_value();
    return lock.has_value();
  });
  // While the first lock is held the waiter cannot finish; give it ample time to try.
  EXPECT_EQ(waiter.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  EXPECT_FALSE(acquired.load());

  // Another target is independent.
  EXPECT_TRUE(second.lock("org/other", execution::ExecutionControl{}));

  *held = TargetLock();  // release
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(waiter.get());
}

TEST_F(TargetStoreTest, LockWaitEndsAtTheDeadline) {
  const TargetStore store(workspace_);
  auto held = store.lock("t", execution::ExecutionControl{});
  ASSERT_TRUE(held);
  execution::ExecutionControl control;
  control.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  const auto start = std::chrono::steady_clock::now();
  const auto waited = TargetStore(workspace_).lock("t", control);
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, jobs::ErrorCode::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));

  std::atomic<bool> cancelled{true};
  execution::ExecutionControl cancel;
  cancel.cancelled = &cancelled;
  const auto stopped = store.lock("t", cancel);
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code, jobs::ErrorCode::kInternal);
}

/// Whether someone holds the flock on the file now at `path` (creating it when missing).
bool lock_file_is_held(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  EXPECT_GE(fd, 0);
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

fs::path only_lock_file(const TargetStore& store) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(store.directory())) {
    if (entry.path().extension() == ".lock") found.push_back(entry.path());
  }
  EXPECT_EQ(found.size(), 1u);
  return found.empty() ? fs::path() : found.front();
}

TEST_F(TargetStoreTest, ForgetRemovesRecordMarkerAndLockFile) {
  const TargetStore store(workspace_);
  auto held = store.lock("org/app", execution::ExecutionControl{});
  ASSERT_TRUE(held) << held.error().message;
  ASSERT_TRUE(store.save(TargetRecord{"org/app", "", {ServedJob{"j", "", {}, "", ""}}}));
  ASSERT_TRUE(store.mark_creating("org/app", 1));
  ASSERT_EQ(std::distance(fs::directory_iterator(store.directory()), fs::directory_iterator()), 3);

  const auto forgotten = store.forget("org/app", *held);
  ASSERT_TRUE(forgotten) << forgotten.error().message;
  EXPECT_TRUE(fs::is_empty(store.directory()));
  // Forgetting what is already gone is not an error.
  EXPECT_TRUE(store.forget("org/app", *held));
}

TEST_F(TargetStoreTest, WaiterOnARemovedLockFileLocksTheCurrentOne) {
  const TargetStore store(workspace_);
  auto held = store.lock("t", execution::ExecutionControl{});
  ASSERT_TRUE(held);
  const fs::path lock_file = only_lock_file(store);

  // The waiter has opened the lock file and blocks in flock on it.
  auto waiter = std::async(std::launch::async, [&] {
    return TargetStore(workspace_).lock("t", execution::ExecutionControl{});
  });
  EXPECT_EQ(waiter.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);

  // The holder removes the file, then releases its lock on the now nameless file.
  ASSERT_TRUE(store.forget("t", *held));
  *held = TargetLock();
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto second = waiter.get();
  ASSERT_TRUE(second) << second.error().message;
  // The waiter's lock is on the file at the path, so a third party is excluded.
  EXPECT_TRUE(lock_file_is_held(lock_file));
  *second = TargetLock();
  EXPECT_FALSE(lock_file_is_held(lock_file));
}

TEST_F(TargetStoreTest, CreationMarkerSaysHowManyDirectoriesWereCreated) {
  const TargetStore store(workspace_);
  const auto none = store.creating("a/b/c");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->has_value());

  ASSERT_TRUE(store.mark_creating("a/b/c", 2));
  const auto marked = store.creating("a/b/c");
  ASSERT_TRUE(marked && marked->has_value());
  EXPECT_EQ(**marked, 2u);
  EXPECT_FALSE(store.creating("a/b")->has_value());  // per target

  ASSERT_TRUE(store.clear_creating("a/b/c"));
  EXPECT_FALSE(store.creating("a/b/c")->has_value());
  EXPECT_TRUE(store.clear_creating("a/b/c"));  // already gone

  // A marker that does not say how many (a hand edit) removes nothing above the target.
  ASSERT_TRUE(store.mark_creating("a/b/c", 3));
  for (const auto& entry : fs::directory_iterator(store.directory())) {
    std::ofstream(entry.path(), std::ios::trunc) << "garbage";
  }
  const auto garbled = store.creating("a/b/c");
  ASSERT_TRUE(garbled && garbled->has_value());
  EXPECT_EQ(**garbled, 0u);
}

}  // namespace
}  // namespace mgit::git
