// WorkerPool against real worker processes (tests/workers/scripted_worker.cpp runs the real
// run_worker around a scripted executor): deadlines, stalls, crashes, malformed messages,
// cancellation, recycling, and what a worker can see and touch.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "mgit/isolation/worker_pool.hpp"
#include "support/test_environment.hpp"

namespace mgit::isolation {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test_support::TempDir;

bool kernel_has_landlock() {
  return ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION) > 0;
}

class WorkerPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(workspace());
    fs::create_directories(credentials_dir());
  }

  fs::path workspace() const { return dir_.path() / "workspace"; }
  fs::path credentials_dir() const { return dir_.path() / "credentials"; }

  WorkerPoolSettings settings() {
    WorkerPoolSettings s;
    s.executable = MGITD_SCRIPTED_WORKER;
    s.arguments = {};
    s.setup.workspace = workspace().string();
    s.setup.file_size_limit_bytes = 1 << 20;
    s.setup.log_level = "warn";
    s.home = workspace() / ".mgitd" / "worker-home";
    s.stall_timeout = 1s;
    s.retire_wait = 2s;
    s.on_worker_replaced = [this](std::string_view reason) {
      const std::lock_guard lock(mutex_);
      reasons_.emplace_back(reason);
    };
    return s;
  }

  static jobs::Job job(const std::string& script, const std::string& argument = "",
                       const std::string& job_id = "job-1") {
    jobs::Job j;
    j.job_id = job_id;
    j.target = script;
    j.repository_url = argument;
    return j;
  }

  static execution::ExecutionControl within(std::chrono::milliseconds timeout,
                                            const std::atomic<bool>* cancelled = nullptr) {
    return execution::ExecutionControl{Clock::now() + timeout, cancelled, nullptr};
  }

  /// The message of a scripted answer ("say"), or the error's message.
  static std::string said(const tl::expected<jobs::ExecutionReport, jobs::JobError>& outcome) {
    return outcome ? std::string("(succeeded)") : outcome.error().message;
  }

  std::vector<std::string> reasons() {
    const std::lock_guard lock(mutex_);
    return reasons_;
  }

  TempDir dir_;
  observability::JobContext ctx_;
  std::mutex mutex_;
  std::vector<std::string> reasons_;
};

TEST_F(WorkerPoolTest, AJobRoundTripsThroughAWorker) {
  WorkerPool pool(settings());
  const auto outcome = pool.execute(job("ok", "", "round-trip"), ctx_, within(10s));
  ASSERT_TRUE(outcome) << said(outcome);
  EXPECT_EQ(outcome->head_oid, "round-trip");
  ASSERT_EQ(outcome->refs_updated.size(), 1u);
  EXPECT_EQ(outcome->refs_updated[0].new_oid, "round-trip");
  EXPECT_EQ(outcome->received_bytes, 42u);
  EXPECT_TRUE(reasons().empty());
}

TEST_F(WorkerPoolTest, AStalledWorkerIsKilledAndTheJobTimesOut) {
  WorkerPool pool(settings());
  const auto started = Clock::now();
  const auto outcome = pool.execute(job("stall"), ctx_, within(60s));
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code, jobs::ErrorCode::kTimeout);
  EXPECT_NE(outcome.error().message.find("no progress for 1 s"), std::string::npos)
      << outcome.error().message;
  EXPECT_LT(Clock::now() - started, 5s);
  EXPECT_EQ(reasons(), std::vector<std::string>{"stall"});
  // A new worker takes the next job.
  EXPECT_TRUE(pool.execute(job("ok"), ctx_, within(10s)));
}

TEST_F(WorkerPoolTest, ProgressKeepsASlowJobAlivePastTheStallTimeout) {
  WorkerPool pool(settings());
  const auto started = Clock::now();
  const auto outcome = pool.execute(job("progress"), ctx_, within(30s));
  EXPECT_TRUE(outcome) << said(outcome);
  EXPECT_GT(Clock::now() - started, 2s) << "the script reports for 3 s, past the 1 s stall";
}

TEST_F(WorkerPoolTest, TheDeadlineKillsAWorkerThatStillMakesProgress) {
  WorkerPool pool(settings());
  const auto outcome = pool.execute(job("progress"), ctx_, within(1500ms));
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code, jobs::ErrorCode::kTimeout);
  EXPECT_EQ(reasons(), std::vector<std::string>{"deadline"});
}

TEST_F(WorkerPoolTest, AWorkerThatDiesAnswersInternalWithItsSignal) {
  WorkerPool pool(settings());
  const auto outcome = pool.execute(job("crash"), ctx_, within(10s));
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code, jobs::ErrorCode::kInternal);
  EXPECT_EQ(outcome.error().message, "worker exited, signal 6");
  EXPECT_EQ(reasons(), std::vector<std::string>{"crash"});
  EXPECT_TRUE(pool.execute(job("ok"), ctx_, within(10s)));
}

TEST_F(WorkerPoolTest, AMalformedMessageEndsTheWorker) {
  WorkerPool pool(settings());
  const auto outcome = pool.execute(job("garbage"), ctx_, within(10s));
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code, jobs::ErrorCode::kInternal);
  EXPECT_EQ(outcome.error().message, "git worker sent a malformed message");
  EXPECT_EQ(reasons(), std::vector<std::string>{"protocol"});
}

TEST_F(WorkerPoolTest, CancellationKillsTheWorkerAtOnce) {
  WorkerPool pool(settings());
  std::atomic<bool> cancelled{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancelled = true;
  });
  const auto started = Clock::now();
  const auto outcome = pool.execute(job("progress"), ctx_, within(60s, &cancelled));
  canceller.join();
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().message, "cancelled while its worker ran");
  EXPECT_LT(Clock::now() - started, 2s);
  EXPECT_EQ(reasons(), std::vector<std::string>{"cancel"});
}

TEST_F(WorkerPoolTest, AWorkerIsRecycledAfterItsJobs) {
  auto s = settings();
  s.max_jobs_per_worker = 2;
  WorkerPool pool(s);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.execute(job("ok"), ctx_, within(10s)));
  EXPECT_EQ(reasons(), (std::vector<std::string>{"recycle", "recycle"}));
}

TEST_F(WorkerPoolTest, OnlyTheJobsCredentialReachesTheWorker) {
  std::ofstream(credentials_dir() / "deploy.key") << "PRIVATE-KEY-MATERIAL";
  std::ofstream(credentials_dir() / "deploy") << "ssh_private_key=deploy.key\nhosts=git.example\n";
  security::CredentialStore store(credentials_dir());
  auto s = settings();
  s.credentials = &store;
  WorkerPool pool(s);
  auto with_credential = job("credential", "ssh://git@git.example/org/app");
  with_credential.credential = "deploy";
  EXPECT_EQ(said(pool.execute(with_credential, ctx_, within(10s))), "user= key=yes hosts=1");
  with_credential.credential = "absent";
  EXPECT_EQ(said(pool.execute(with_credential, ctx_, within(10s))),
            "no credential: credential 'absent' not found");
}

TEST_F(WorkerPoolTest, ACredentialNotMeantForTheJobsHostNeverReachesAWorker) {
  std::ofstream(credentials_dir() / "scoped") << "token=tok-S3CRET\nhosts=git.example:8443\n";
  std::ofstream(credentials_dir() / "unscoped") << "token=tok-S3CRET\n";
  security::CredentialStore store(credentials_dir());
  auto s = settings();
  s.credentials = &store;
  // Any attempt to start a worker would fail (and answer `internal`): the answers below
  // prove the supervisor decided alone.
  s.executable = dir_.path() / "no-such-worker";
  WorkerPool pool(s);
  const struct {
    const char* credential;
    const char* url;
    const char* message;
  } rows[] = {
      {"scoped", "https://evil.example/org/app",
       "credential 'scoped' is not allowed for host 'evil.example'"},
      {"scoped", "https://git.example/org/app",
       "credential 'scoped' is not allowed for host 'git.example'"},
      {"scoped", "https://git.example:9443/org/app",
       "credential 'scoped' is not allowed for host 'git.example:9443'"},
      {"scoped", "x-access-token@evil.example:org/app",
       "credential 'scoped' is not allowed for host 'evil.example'"},
      {"unscoped", "https://github.com/org/app",
       "credential \"unscoped\" has no hosts= line; add hosts=github.com (docs/credentials.md)"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.url);
    auto foreign = job("credential", row.url);
    foreign.credential = row.credential;
    const auto outcome = pool.execute(foreign, ctx_, within(10s));
    ASSERT_FALSE(outcome);
    EXPECT_EQ(outcome.error().code, jobs::ErrorCode::kPolicyDenied);
    EXPECT_EQ(outcome.error().message, row.message);
  }
  EXPECT_TRUE(reasons().empty());
}

TEST_F(WorkerPoolTest, TheWorkerSeesOnlyAllowlistedEnvironmentAndNoInheritedDescriptors) {
  ::setenv("MGITD_KAFKA_SECRET_SASL_PASSWORD", "hunter2", 1);
  // A descriptor the daemon holds without close-on-exec (as Asio's accepted sockets are).
  const int leaked = ::open("/dev/null", O_RDONLY);
  WorkerPool pool(settings());
  const auto environment = said(pool.execute(job("environment"), ctx_, within(10s)));
  const auto descriptors = said(pool.execute(job("descriptors"), ctx_, within(10s)));
  ::close(leaked);
  ::unsetenv("MGITD_KAFKA_SECRET_SASL_PASSWORD");
  EXPECT_EQ(environment.find("MGITD_KAFKA_SECRET"), std::string::npos) << environment;
  EXPECT_NE(environment.find("HOME "), std::string::npos) << environment;
  // stdin, stdout, stderr and the socket.
  EXPECT_EQ(descriptors, "4");
}

TEST_F(WorkerPoolTest, TheWorkerIsHardened) {
  WorkerPool pool(settings());
  EXPECT_EQ(said(pool.execute(job("process"), ctx_, within(10s))),
            "fsize=1048576 dumpable=0 no_new_privs=1 own_group=yes oom_score_adj=1000");
}

TEST_F(WorkerPoolTest, LandlockConfinesTheWorkerToItsWorkspace) {
  if (!kernel_has_landlock()) GTEST_SKIP() << "this kernel has no Landlock";
  std::ofstream(credentials_dir() / "token") << "password=x\nusername=y\n";
  WorkerPool pool(settings());
  EXPECT_EQ(
      said(pool.execute(job("read", (credentials_dir() / "token").string()), ctx_, within(10s))),
      "read denied");
  EXPECT_EQ(said(pool.execute(job("write", (dir_.path() / "outside").string()), ctx_, within(10s))),
            "write denied");
  EXPECT_EQ(said(pool.execute(job("write", (workspace() / "inside").string()), ctx_, within(10s))),
            "write allowed");
  EXPECT_EQ(said(pool.execute(job("read", "/etc/hosts"), ctx_, within(10s))), "read allowed");
  // ABI 6 scopes signals: a worker taken over by a hostile pack cannot kill its daemon.
  if (::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION) >= 6) {
    EXPECT_EQ(said(pool.execute(job("signal"), ctx_, within(10s))), "may not signal its parent");
  }
}

TEST_F(WorkerPoolTest, ALeftoverSymlinkAtHomeIsReplacedByADirectory) {
  const auto home = workspace() / ".mgitd" / "worker-home";
  fs::create_directories(home.parent_path());
  fs::create_directory_symlink(dir_.path(), home);
  WorkerPool pool(settings());
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(home)));
}

TEST_F(WorkerPoolTest, AHomeReplacedByASymlinkGivesTheNextWorkerNothing) {
  if (!kernel_has_landlock()) GTEST_SKIP() << "this kernel has no Landlock";
  std::ofstream(credentials_dir() / "token") << "password=x\nusername=y\n";
  WorkerPool pool(settings());
  // What a worker taken over by a hostile pack could do to the HOME the next one gets (the
  // pool replaces such a leftover when it starts, so this happens after).
  const auto home = workspace() / ".mgitd" / "worker-home";
  fs::remove(home);
  fs::create_directory_symlink("/", home);
  EXPECT_EQ(
      said(pool.execute(job("read", (credentials_dir() / "token").string()), ctx_, within(10s))),
      "read denied");
  EXPECT_EQ(said(pool.execute(job("write", (dir_.path() / "outside").string()), ctx_, within(10s))),
            "write denied");
}

TEST_F(WorkerPoolTest, AMissingWorkerBinaryIsAnInternalErrorAfterBackingOff) {
  auto s = settings();
  s.executable = dir_.path() / "no-such-worker";
  WorkerPool pool(s);
  const auto outcome = pool.execute(job("ok"), ctx_, within(30s));
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code, jobs::ErrorCode::kInternal);
  EXPECT_NE(outcome.error().message.find("cannot start a git worker"), std::string::npos);
  EXPECT_EQ(reasons(), std::vector<std::string>{"spawn_failure"});
}

}  // namespace
}  // namespace mgit::isolation
