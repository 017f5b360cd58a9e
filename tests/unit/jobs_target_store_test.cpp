#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "mgit/jobs/target_store.hpp"

namespace mgit::jobs {
namespace {

namespace fs = std::filesystem;

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
  record.add(ServedJob{"job-1", std::nullopt, "refs/heads/main", std::string(40, 'a')});
  record.add(ServedJob{"job-2", JobError{ErrorCode::kConflict, "target 'org/app' already exists"},
                       "", ""});
  ASSERT_TRUE(store.save(record));

  const TargetStore other(workspace_);  // a second replica reading the same volume
  const auto loaded = other.load("org/app");
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_TRUE(loaded->has_value());
  const TargetRecord& read = **loaded;
  EXPECT_EQ(read.target, "org/app");
  EXPECT_EQ(read.repository_key, "https://git.example.com/org/app");
  ASSERT_EQ(read.served.size(), 2u);
  const ServedJob* ok = read.find("job-1");
  ASSERT_NE(ok, nullptr);
  EXPECT_FALSE(ok->error);
  EXPECT_EQ(ok->head_ref, "refs/heads/main");
  EXPECT_EQ(ok->head_oid, std::string(40, 'a'));
  const ServedJob* failed = read.find("job-2");
  ASSERT_NE(failed, nullptr);
  ASSERT_TRUE(failed->error);
  EXPECT_EQ(failed->error->code, ErrorCode::kConflict);
  EXPECT_EQ(failed->error->message, "target 'org/app' already exists");
  EXPECT_EQ(read.find("job-3"), nullptr);

  // A different target does not see this record.
  const auto unrelated = other.load("org/other");
  ASSERT_TRUE(unrelated);
  EXPECT_FALSE(unrelated->has_value());
}

TEST_F(TargetStoreTest, ServedListKeepsTheNewest256) {
  TargetRecord record{"t", "k", {}};
  for (int i = 0; i < 300; ++i) record.add(ServedJob{"job-" + std::to_string(i), {}, "", ""});
  ASSERT_EQ(record.served.size(), TargetStore::kMaxServed);
  EXPECT_EQ(record.find("job-43"), nullptr);
  EXPECT_NE(record.find("job-44"), nullptr);
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
  record.add(ServedJob{"a", JobError{ErrorCode::kNotFound, "x"}, "", ""});
  record.add(ServedJob{"b", {}, "", ""});
  record.add(ServedJob{"a", {}, "refs/heads/main", "1"});
  ASSERT_EQ(record.served.size(), 2u);
  EXPECT_EQ(record.served.back().job_id, "a");
  EXPECT_FALSE(record.served.back().error);
}

TEST_F(TargetStoreTest, RewriteIsAtomicAndLeavesNoTemporaryFiles) {
  const TargetStore store(workspace_);
  TargetRecord record{"org/app", "key-1", {}};
  ASSERT_TRUE(store.save(record));
  record.repository_key = "key-2";
  record.add(ServedJob{"j", {}, "", ""});
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
  EXPECT_NE((*loaded)->find("j"), nullptr);
}

TEST_F(TargetStoreTest, CorruptRecordIsAnErrorNotAnEmptyRecord) {
  const TargetStore store(workspace_);
  ASSERT_TRUE(store.save(TargetRecord{"t", "k", {}}));
  for (const auto& entry : fs::directory_iterator(store.directory())) {
    if (entry.path().extension() == ".json") std::ofstream(entry.path()) << "{not json";
  }
  const auto loaded = store.load("t");
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ErrorCode::kInternal);
}

TEST_F(TargetStoreTest, LockExcludesASecondHolderUntilReleased) {
  const TargetStore first(workspace_);
  const TargetStore second(workspace_);
  auto held = first.lock("org/app", ExecutionControl{});
  ASSERT_TRUE(held) << held.error().message;

  std::atomic<bool> acquired{false};
  auto waiter = std::async(std::launch::async, [&] {
    auto lock = second.lock("org/app", ExecutionControl{});
    acquired = lock.has_value();
    return lock.has_value();
  });
  // While the first lock is held the waiter cannot finish; give it ample time to try.
  EXPECT_EQ(waiter.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  EXPECT_FALSE(acquired.load());

  // Another target is independent.
  EXPECT_TRUE(second.lock("org/other", ExecutionControl{}));

  *held = TargetLock();  // release
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(waiter.get());
}

TEST_F(TargetStoreTest, LockWaitEndsAtTheDeadline) {
  const TargetStore store(workspace_);
  auto held = store.lock("t", ExecutionControl{});
  ASSERT_TRUE(held);
  ExecutionControl control;
  control.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  const auto start = std::chrono::steady_clock::now();
  const auto waited = TargetStore(workspace_).lock("t", control);
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, ErrorCode::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));

  std::atomic<bool> cancelled{true};
  ExecutionControl cancel;
  cancel.cancelled = &cancelled;
  const auto stopped = store.lock("t", cancel);
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code, ErrorCode::kInternal);
}

}  // namespace
}  // namespace mgit::jobs
