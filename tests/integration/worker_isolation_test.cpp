// Git runs in supervised worker processes: stalled remotes, long timeouts, killed workers,
// SIGTERM and SIGKILL of the daemon. Real broker, real git server, real mgitd.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "support/daemon_process.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/stalling_remote.hpp"
#include "support/test_environment.hpp"

namespace mgit::test_support {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// The daemon's child processes: its git workers.
std::set<pid_t> worker_pids(pid_t daemon) {
  std::set<pid_t> pids;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(daemon) + "/task", ec)) {
    std::ifstream in(task.path() / "children");
    pid_t pid = 0;
    while (in >> pid) pids.insert(pid);
  }
  return pids;
}

/// Gone, or a zombie nobody reaped yet: either way it holds no lock and runs nothing.
bool process_gone(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return true;
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

std::int64_t duration_ms(const ParsedResult& result) {
  const auto at = result.raw.find("\"duration_ms\":");
  return at == std::string::npos ? -1 : std::stoll(result.raw.substr(at + 14));
}

const ParsedResult* find(const std::vector<ParsedResult>& results, const std::string& job_id) {
  for (const auto& result : results) {
    if (result.job_id == job_id) return &result;
  }
  return nullptr;
}

/// A pack budget no test repository reaches: the stalling proxy forwards everything.
constexpr std::size_t kPassEverything = std::size_t{1} << 40;

class WorkerIsolationTest : public PipelineFixture {
 protected:
  std::string url_at(std::uint16_t port, const std::string& name) const {
    return "http://127.0.0.1:" + std::to_string(port) + "/" + name + ".git";
  }

  // The stalling proxies read the HTTP stream, so their jobs go over plain http: to
  // repositories the git server serves anonymously (public/), since mgitd never sends a
  // credential over plain http.
  std::unique_ptr<DaemonProcess> start_daemon(std::vector<std::string> extra_args = {}) {
    extra_args.emplace_back("--allow-plain-http");
    return PipelineFixture::start_daemon(extra_args);
  }

  std::string clone_job(const std::string& job_id, const std::string& url,
                        const std::string& target, const std::string& options = "") const {
    const bool tls = url.rfind("https://", 0) == 0;
    return R"({"schema":"mgit.sync-job/v1","job_id":")" + job_id +
           R"(","operation":"sync","repository":{"url":")" + url + "\"" +
           (tls ? R"(,"credential":"gitserver")" : "") + R"(},"target":")" + target + "\"" +
           (options.empty() ? "" : R"(,"options":)" + options) + "}";
  }

  /// A repository whose pack is far larger than a stalling proxy's budget: one commit with
  /// 400 KB of random bytes per call. Returns the new head.
  std::string add_big_commit(const std::string& name) {
    TempDir work;
    const auto bare = git_dir_ + "/repos/" + name + ".git";
    const auto dir = shell_quote(work.path().string() + "/w");
    run_command("git clone -q " + shell_quote(bare) + " " + dir +
                " 2>/dev/null && head -c 400000 " + "/dev/urandom > " + dir + "/blob-" +
                random_suffix(6) + " && git -C " + dir + " add -A && git -C " + dir +
                " -c user.name=t -c user.email=t@example.com commit -qm big && git -C " + dir +
                " push -q origin HEAD:main");
    return server_head(name);
  }

  /// Waits until `proxy` holds a pack answer mid-transfer, then SIGKILLs the daemon's
  /// workers, as an OOM killer or an operator would. False when the stall never came.
  static bool kill_workers_once_the_pack_stalls(DaemonProcess& daemon,
                                                const StallingRemote& proxy) {
    std::set<pid_t> workers;
    if (!eventually(
            [&] {
              workers = worker_pids(daemon.pid());
              return proxy.stalled_packs() > 0 && !workers.empty();
            },
            20s)) {
      return false;
    }
    for (const pid_t pid : workers) ::kill(pid, SIGKILL);
    return true;
  }

  std::uint16_t git_port() const {
    const auto colon = git_url_.rfind(':');
    return static_cast<std::uint16_t>(std::stoi(git_url_.substr(colon + 1)));
  }
};

TEST_F(WorkerIsolationTest, StalledRemotesEndInTimeoutWhileHealthyJobsSucceed) {
  const std::string big = "public/big-" + suffix_;
  create_repo(big, 1);
  add_big_commit(big);
  StallingRemote silent(StallingRemote::Mode::kSilent);
  StallingRemote trickle(StallingRemote::Mode::kTrickle);
  StallingRemote mid_pack(StallingRemote::Mode::kMidPack, git_port(), 4096);
  std::vector<std::string> healthy;
  for (int i = 0; i < 3; ++i) {
    healthy.push_back("ok-" + std::to_string(i) + "-" + suffix_);
    create_repo(healthy.back(), 2);
  }
  constexpr int kStallSeconds = 2;
  auto daemon = start_daemon({"--stall-timeout-seconds", std::to_string(kStallSeconds), "--workers",
                              "4", "--max-attempts", "1"});
  const auto enqueued_at = Clock::now();
  enqueue({{"s", clone_job("silent", url_at(silent.port(), "x"), "stall/silent")},
           {"t", clone_job("trickle", url_at(trickle.port(), "x"), "stall/trickle")},
           {"m", clone_job("midpack", url_at(mid_pack.port(), big), "stall/midpack")}});
  std::set<pid_t> stalled_workers;
  ASSERT_TRUE(eventually(
      [&] {
        stalled_workers = worker_pids(daemon->pid());
        return stalled_workers.size() >= 3 && mid_pack.connections() > 0;
      },
      20s))
      << daemon->log_text();
  for (std::size_t i = 0; i < healthy.size(); ++i) {
    enqueue({{healthy[i], job_json("healthy-" + std::to_string(i), "sync", healthy[i],
                                   R"("target":"ok/)" + std::to_string(i) + "\"")}});
  }
  const auto results = wait_for_results(6, 60s);
  ASSERT_EQ(results.size(), 6u) << daemon->log_text();
  for (const std::string id : {"silent", "trickle", "midpack"}) {
    const auto* result = find(results, id);
    ASSERT_NE(result, nullptr) << id;
    EXPECT_EQ(result->error_code, "timeout") << result->raw;
    EXPECT_NE(result->error_message.find("no progress"), std::string::npos) << result->raw;
    // Stall timeout plus the supervisor's reaction, well inside the 7 s the issue allows.
    EXPECT_LE(duration_ms(*result), 7000) << result->raw;
  }
  for (std::size_t i = 0; i < healthy.size(); ++i) {
    const auto* result = find(results, "healthy-" + std::to_string(i));
    ASSERT_NE(result, nullptr);
    EXPECT_EQ(result->status, "succeeded") << result->raw;
    EXPECT_EQ(result->head_oid, server_head(healthy[i]));
  }
  EXPECT_LE(Clock::now() - enqueued_at, 30s);
  // The stalled workers were killed and are replaced by new processes. (The workers seen
  // earlier include an idle one: the daemon starts all its workers ahead.)
  std::set<pid_t> killed;
  for (const pid_t pid : stalled_workers) {
    if (process_gone(pid)) killed.insert(pid);
  }
  EXPECT_GE(killed.size(), 3u);
  std::vector<std::pair<std::string, std::string>> again;
  for (std::size_t i = 0; i < healthy.size(); ++i) {
    again.emplace_back(healthy[i], job_json("again-" + std::to_string(i), "sync", healthy[i],
                                            R"("target":"again/)" + std::to_string(i) + "\""));
  }
  enqueue(again);
  const auto more = wait_for_results(9, 60s);
  for (std::size_t i = 0; i < healthy.size(); ++i) {
    const auto* result = find(more, "again-" + std::to_string(i));
    ASSERT_NE(result, nullptr);
    EXPECT_EQ(result->status, "succeeded") << result->raw;
  }
  const auto now_running = worker_pids(daemon->pid());
  EXPECT_FALSE(now_running.empty());
  for (const pid_t pid : now_running) EXPECT_EQ(killed.count(pid), 0u) << pid;
  EXPECT_TRUE(daemon->wait_for_log(R"("msg":"git worker stopped")", 1s));
}

TEST_F(WorkerIsolationTest, DayLongTimeoutsCannotHoldEveryWorker) {
  const std::string repo = "valid-" + suffix_;
  const auto head = create_repo(repo, 2);
  StallingRemote silent(StallingRemote::Mode::kSilent);
  constexpr int kStallSeconds = 2;
  auto daemon = start_daemon({"--stall-timeout-seconds", std::to_string(kStallSeconds), "--workers",
                              "4", "--max-attempts", "1"});
  std::vector<std::pair<std::string, std::string>> stalled;
  for (int i = 0; i < 4; ++i) {
    stalled.emplace_back("k" + std::to_string(i),
                         clone_job("day-" + std::to_string(i), url_at(silent.port(), "x"),
                                   "day/" + std::to_string(i), R"({"timeout_seconds":86400})"));
  }
  enqueue(stalled);
  ASSERT_TRUE(eventually([&] { return silent.connections() >= 4; }, 20s)) << daemon->log_text();
  const auto valid_at = Clock::now();
  enqueue({{repo, job_json("valid", "sync", repo, R"("target":"valid")")}});
  const auto results = wait_for_results(5, 60s);
  const auto* valid = find(results, "valid");
  ASSERT_NE(valid, nullptr) << daemon->log_text();
  const auto waited = Clock::now() - valid_at;
  EXPECT_EQ(valid->status, "succeeded") << valid->raw;
  EXPECT_EQ(valid->head_oid, head);
  EXPECT_LE(waited, std::chrono::seconds(kStallSeconds) + 8s);
  for (int i = 0; i < 4; ++i) {
    const auto* result = find(results, "day-" + std::to_string(i));
    ASSERT_NE(result, nullptr);
    EXPECT_EQ(result->error_code, "timeout") << result->raw;
  }
}

TEST_F(WorkerIsolationTest, WorkerKilledMidFetchAnswersInternalAndTheTargetRecovers) {
  const std::string big = "public/kill-" + suffix_;
  create_repo(big, 1);
  add_big_commit(big);
  StallingRemote proxy(StallingRemote::Mode::kMidPack, git_port(), kPassEverything);
  auto daemon = start_daemon({"--max-attempts", "1"});
  const auto url = url_at(proxy.port(), big);
  enqueue({{"a", clone_job("first", url, "killed/fetch")}});
  ASSERT_EQ(wait_for_results(1, 60s).at(0).status, "succeeded") << daemon->log_text();

  // Mid-fetch: the proxy holds the new pack after a few KB; the test kills the worker.
  const auto head = add_big_commit(big);
  proxy.set_pack_budget(4096);
  enqueue({{"a", clone_job("killed", url, "killed/fetch")}});
  ASSERT_TRUE(kill_workers_once_the_pack_stalls(*daemon, proxy)) << daemon->log_text();
  auto results = wait_for_results(2, 30s);
  const auto* killed = find(results, "killed");
  ASSERT_NE(killed, nullptr) << daemon->log_text();
  EXPECT_EQ(killed->error_code, "internal") << killed->raw;
  EXPECT_NE(killed->error_message.find("worker exited, signal 9"), std::string::npos)
      << killed->raw;

  proxy.set_pack_budget(kPassEverything);
  enqueue({{"a", clone_job("after", url, "killed/fetch")}});
  results = wait_for_results(3, 60s);
  const auto* after = find(results, "after");
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->status, "succeeded") << after->raw;
  EXPECT_EQ(after->head_oid, head);
  EXPECT_NO_THROW(run_command("git -C " + shell_quote((workspace_ / "killed/fetch").string()) +
                              " fsck --no-progress 2>&1"));
}

TEST_F(WorkerIsolationTest, CloneKilledHalfWayIsClonedCleanlyNextTime) {
  const std::string big = "public/half-" + suffix_;
  create_repo(big, 1);
  const auto head = add_big_commit(big);
  StallingRemote proxy(StallingRemote::Mode::kMidPack, git_port(), 4096);
  auto daemon = start_daemon({"--max-attempts", "1"});
  const auto url = url_at(proxy.port(), big);
  enqueue({{"a", clone_job("half", url, "killed/clone")}});
  ASSERT_TRUE(kill_workers_once_the_pack_stalls(*daemon, proxy)) << daemon->log_text();
  ASSERT_EQ(wait_for_results(1, 30s).at(0).error_code, "internal");
  proxy.set_pack_budget(kPassEverything);
  enqueue({{"a", clone_job("whole", url, "killed/clone")}});
  const auto results = wait_for_results(2, 60s);
  const auto* whole = find(results, "whole");
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(whole->status, "succeeded") << whole->raw << daemon->log_text();
  EXPECT_EQ(whole->head_oid, head);
}

TEST_F(WorkerIsolationTest, AFileOverTheSizeLimitIsDiskFullNotACrash) {
  // Three commits of 400 KB of random bytes: their pack is over 1 MiB, so writing it passes
  // RLIMIT_FSIZE, as a huge file's checkout would.
  const std::string big = "fsize-" + suffix_;
  create_repo(big, 1);
  for (int i = 0; i < 3; ++i) add_big_commit(big);
  const std::string small = "fsize-ok-" + suffix_;
  const auto head = create_repo(small, 2);
  auto daemon = start_daemon({"--max-file-size-mb", "1", "--max-attempts", "1"});
  enqueue({{big, job_json("too-big", "sync", big, R"("target":"fsize/big")")},
           {small, job_json("fits", "sync", small, R"("target":"fsize/small")")}});
  const auto results = wait_for_results(2, 60s);
  const auto* too_big = find(results, "too-big");
  ASSERT_NE(too_big, nullptr) << daemon->log_text();
  EXPECT_EQ(too_big->error_code, "disk_full") << too_big->raw;
  const auto* fits = find(results, "fits");
  ASSERT_NE(fits, nullptr);
  EXPECT_EQ(fits->status, "succeeded") << fits->raw;
  EXPECT_EQ(fits->head_oid, head);
  EXPECT_FALSE(daemon->wait_for_log(R"("msg":"git worker died during a job")", 1s))
      << "SIGXFSZ must be ignored: EFBIG, not a killed worker";
}

TEST_F(WorkerIsolationTest, SigtermWithEveryWorkerStalledExitsWithinGraceAndAnswersNothing) {
  StallingRemote silent(StallingRemote::Mode::kSilent);
  constexpr int kGraceSeconds = 3;
  auto daemon = start_daemon({"--workers", "2", "--shutdown-grace-seconds",
                              std::to_string(kGraceSeconds), "--stall-timeout-seconds", "600"});
  enqueue({{"a", clone_job("held-a", url_at(silent.port(), "x"), "held/a")},
           {"b", clone_job("held-b", url_at(silent.port(), "x"), "held/b")}});
  ASSERT_TRUE(eventually([&] { return silent.connections() >= 2; }, 20s)) << daemon->log_text();
  const auto workers = worker_pids(daemon->pid());
  ASSERT_EQ(workers.size(), 2u);
  const auto signalled = Clock::now();
  daemon->signal(SIGTERM);
  const auto code = daemon->wait_exit(std::chrono::seconds(kGraceSeconds) + 5s);
  ASSERT_TRUE(code.has_value()) << "still running past the grace period";
  EXPECT_LE(Clock::now() - signalled, std::chrono::seconds(kGraceSeconds) + 3s);
  for (const pid_t pid : workers) EXPECT_TRUE(process_gone(pid)) << pid;
  // Unanswered and uncommitted: a replica picks them up again. Stalls end fast there.
  EXPECT_TRUE(kafka_
                  ->read_until(
                      results_topic_, [](const auto& seen) { return !seen.empty(); }, 2s)
                  .empty());
  auto successor = start_daemon({"--stall-timeout-seconds", "1", "--max-attempts", "1"});
  const auto results = wait_for_results(2, 60s);
  ASSERT_EQ(results.size(), 2u) << successor->log_text();
  for (const auto& result : results) EXPECT_EQ(result.error_code, "timeout") << result.raw;
}

TEST_F(WorkerIsolationTest, SigkilledDaemonLeavesNoWorkerAndNoLockedTarget) {
  StallingRemote silent(StallingRemote::Mode::kSilent);
  auto daemon = start_daemon({"--workers", "2"});
  enqueue({{"a", clone_job("orphan-a", url_at(silent.port(), "x"), "orphan/a")},
           {"b", clone_job("orphan-b", url_at(silent.port(), "x"), "orphan/b")}});
  ASSERT_TRUE(eventually([&] { return silent.connections() >= 2; }, 20s)) << daemon->log_text();
  const auto workers = worker_pids(daemon->pid());
  ASSERT_EQ(workers.size(), 2u);
  daemon->signal(SIGKILL);
  ASSERT_TRUE(daemon->wait_exit(10s).has_value());
  EXPECT_TRUE(eventually(
      [&] {
        for (const pid_t pid : workers) {
          if (!process_gone(pid)) return false;
        }
        return true;
      },
      5s))
      << "a worker outlived its daemon";
  int locks = 0;
  for (const auto& entry : fs::directory_iterator(workspace_ / ".mgitd" / "targets")) {
    if (entry.path().extension() != ".lock") continue;
    ++locks;
    const int fd = ::open(entry.path().c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0) << entry.path() << " is still locked";
    ::close(fd);
  }
  EXPECT_EQ(locks, 2);
}

}  // namespace
}  // namespace mgit::test_support
