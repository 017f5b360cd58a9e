// Per-host rate limits against real sockets: the real git server (scripts/git-server) behind a
// ThrottlingRemote that answers 429 or 503 while told to, and the real GitExecutor under the
// Scheduler. The throttled host is the proxy's 127.0.0.1:<port>; the other host is the git
// server's own 127.0.0.1:<port> (the port is part of the host key).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>

#include "mgit/execution/scheduler.hpp"
#include "support/git_executor_fixture.hpp"
#include "support/test_git_server.hpp"
#include "support/throttling_remote.hpp"

namespace mgit {
namespace {

using namespace std::chrono_literals;
using execution::RateLimitAnswer;
using jobs::ErrorCode;
using jobs::Operation;
using Clock = std::chrono::steady_clock;

class Trips final : public execution::RateLimitObserver {
 public:
  void host_cooling_down(const execution::HostCoolDown& cool_down,
                         const observability::JobContext&) override {
    cool_downs.push_back(cool_down);
  }
  void job_rate_limited(const execution::RateLimitedJob& job) override {
    answers[job.job.job_id] = job.answer;
  }
  std::vector<execution::HostCoolDown> cool_downs;
  std::map<std::string, RateLimitAnswer> answers;
};

class RateLimitTest : public test_support::GitExecutorFixture {
 protected:
  /// The git server's plain http port: a ThrottlingRemote answers in plain HTTP, so it forwards
  /// to this one (url_ is the https URL since the https suite).
  static std::uint16_t server_port() {
    const std::string http = std::getenv("MGITD_TEST_GIT_URL");
    return static_cast<std::uint16_t>(std::stoi(http.substr(http.rfind(':') + 1)));
  }

  /// The job for `repo` through the proxy on `port` instead of the server itself: plain http,
  /// so without its credential (never sent over plain http; the fixture allows plain http).
  jobs::Job via(std::uint16_t port, jobs::Job job) {
    const auto proxy = "http://127.0.0.1:" + std::to_string(port);
    job.repository_url = proxy + job.repository_url.substr(url_.size());
    job.repository_key = proxy + job.repository_key.substr(url_.size());
    job.credential.clear();
    return job;
  }

  /// A repository the git server serves anonymously (public/...), for a job via the proxy.
  std::string create_public_repo(const std::string& suffix, int commits = 1) {
    const auto name = "public/" + prefix_ + "-" + suffix;
    test_support::TestGitServer(server_dir_).create_repo(name, commits);
    return name;
  }

  execution::SchedulerSettings scheduler_settings() {
    execution::SchedulerSettings s;
    s.workers = 2;
    s.max_attempts = 10;
    s.backoff_base = 10ms;
    s.backoff_max = 50ms;
    s.hosts.cooldown_base = 1s;
    s.hosts.cooldown_max = 2s;
    return s;
  }

  void submit(execution::Scheduler& scheduler, jobs::Job job) {
    const auto id = job.job_id;
    scheduler.submit(std::move(job), observability::JobContext{id, id, "t", "s", "", "", true}, 1,
                     [this, id](execution::JobRun run) {
                       finished_at_[id] = Clock::now();
                       runs_.emplace(id, std::move(run));
                     });
  }

  bool run_until(const std::function<bool()>& done, std::chrono::seconds timeout = 120s) {
    const auto deadline = Clock::now() + timeout;
    while (!done() && Clock::now() < deadline) {
      io_.run_for(10ms);
      io_.restart();
    }
    return done();
  }

  boost::asio::io_context io_;
  Trips trips_;
  std::map<std::string, execution::JobRun> runs_;
  std::map<std::string, Clock::time_point> finished_at_;
};

TEST_F(RateLimitTest, AThrottledHostCoolsDownWhileAnotherHostsJobsFlowThenItsJobSucceeds) {
  test_support::ThrottlingRemote remote(server_port(), 429);
  remote.set_throttling(true);
  const auto throttled_repo = create_public_repo("throttled", 2);
  std::vector<std::string> fast_repos;
  for (int i = 0; i < 4; ++i) fast_repos.push_back(create_repo("fast" + std::to_string(i)));

  execution::Scheduler scheduler(io_, *executor_, scheduler_settings());
  scheduler.set_rate_limit_observer(&trips_);
  auto slow = via(remote.port(), make_job(Operation::kMirror, throttled_repo, "slow"));
  slow.options.timeout_seconds = 300;
  const auto slow_id = slow.job_id;
  submit(scheduler, slow);
  ASSERT_TRUE(run_until([&] { return !trips_.cool_downs.empty(); }));
  const std::string proxy_host = "127.0.0.1:" + std::to_string(remote.port());
  EXPECT_EQ(trips_.cool_downs[0].host, proxy_host);
  EXPECT_GE(remote.throttled(), 1);
  EXPECT_EQ(remote.forwarded(), 0);

  // While the proxy's host cools down (and keeps throttling), the server's own host flows.
  std::vector<std::string> fast_ids;
  for (std::size_t i = 0; i < fast_repos.size(); ++i) {
    auto job = make_job(Operation::kMirror, fast_repos[i], "fast" + std::to_string(i));
    fast_ids.push_back(job.job_id);
    submit(scheduler, std::move(job));
  }
  ASSERT_TRUE(run_until([&] {
    return std::all_of(fast_ids.begin(), fast_ids.end(),
                       [&](const auto& id) { return runs_.contains(id); });
  }));
  for (const auto& id : fast_ids) {
    ASSERT_TRUE(runs_.at(id).outcome.has_value()) << runs_.at(id).outcome.error().message;
  }
  EXPECT_FALSE(runs_.contains(slow_id)) << "the throttled job is still waiting or retrying";
  EXPECT_EQ(remote.forwarded(), 0);

  // The host recovers: the waiting job's next attempt after its cool-down succeeds.
  remote.set_throttling(false);
  ASSERT_TRUE(run_until([&] { return runs_.contains(slow_id); }));
  const auto& run = runs_.at(slow_id);
  ASSERT_TRUE(run.outcome.has_value()) << run.outcome.error().message;
  const int throttled = remote.throttled();
  EXPECT_EQ(run.attempts, throttled + 1) << "one attempt per 429, then the success";
  const auto* main = test_support::find_update(*run.outcome, "refs/heads/main");
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->new_oid, rev_parse(throttled_repo, "refs/heads/main"));
  // Every retry waited for the cool-down its 429 started (1 s, then 2 s at most).
  for (std::size_t i = 1; i < run.attempt_log.size(); ++i) {
    EXPECT_GE(run.attempt_log[i].started - run.attempt_log[i - 1].finished, 950ms) << i;
  }
  EXPECT_EQ(static_cast<int>(trips_.cool_downs.size()), throttled) << "one per 429 in a row";
  EXPECT_TRUE(trips_.answers.empty());
}

TEST_F(RateLimitTest, JobsACoolDownWouldOutlastAreAnsweredRateLimitedByTheirDeadline) {
  test_support::ThrottlingRemote remote(server_port(), 503);
  remote.set_throttling(true);
  const auto repo = create_repo("busy");
  auto settings = scheduler_settings();
  settings.hosts.cooldown_base = 30s;
  settings.hosts.cooldown_max = 60s;
  execution::Scheduler scheduler(io_, *executor_, settings);
  scheduler.set_rate_limit_observer(&trips_);

  auto first = via(remote.port(), make_job(Operation::kMirror, repo, "first"));
  first.options.timeout_seconds = 10;
  const auto first_id = first.job_id;
  const auto begin = Clock::now();
  submit(scheduler, first);
  ASSERT_TRUE(run_until([&] { return runs_.contains(first_id); }, 60s));
  // Tried once (503), then the 30 s cool-down outlasts its 10 s deadline: answered at once.
  const auto& run = runs_.at(first_id);
  ASSERT_FALSE(run.outcome.has_value());
  EXPECT_EQ(run.outcome.error().code, ErrorCode::kRateLimited);
  EXPECT_TRUE(run.outcome.error().retryable());
  EXPECT_EQ(run.status, jobs::Status::kFailed);
  EXPECT_EQ(run.attempts, 1);
  ASSERT_EQ(run.attempt_log.size(), 1u);
  EXPECT_NE(run.attempt_log[0].error->message.find("503"), std::string::npos)
      << run.attempt_log[0].error->message;
  EXPECT_LT(finished_at_.at(first_id) - begin, 10s) << "answered before its deadline";
  EXPECT_EQ(trips_.answers.at(first_id), RateLimitAnswer::kDeadline);
  ASSERT_EQ(trips_.cool_downs.size(), 1u);
  EXPECT_EQ(trips_.cool_downs[0].duration, 30s);
  EXPECT_EQ(remote.throttled(), 1);

  // A new job for the cooling host is answered without a connection being made.
  auto second = via(remote.port(), make_job(Operation::kMirror, repo, "second"));
  second.options.timeout_seconds = 10;
  const auto second_id = second.job_id;
  const auto submitted = Clock::now();
  submit(scheduler, second);
  ASSERT_TRUE(run_until([&] { return runs_.contains(second_id); }, 60s));
  EXPECT_LT(finished_at_.at(second_id) - submitted, 2s);
  EXPECT_EQ(runs_.at(second_id).outcome.error().code, ErrorCode::kRateLimited);
  EXPECT_EQ(runs_.at(second_id).attempts, 0);
  EXPECT_EQ(remote.throttled(), 1);
  EXPECT_EQ(remote.forwarded(), 0);
  EXPECT_EQ(scheduler.throttled_hosts(), 1u);
}

}  // namespace
}  // namespace mgit

namespace mgit {
namespace {

/// A loopback port nothing listens on: bound, then closed.
std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

class RefusedConnectionTest : public test_support::GitExecutorFixture {};

// libgit2's own wording of a refused connection, classified: throttling over ssh (the host
// cools down), a broken remote over http.
TEST_F(RefusedConnectionTest, IsRateLimitedOverSshAndNetworkOverHttp) {
  const auto port = std::to_string(closed_port());
  auto ssh = make_job(jobs::Operation::kMirror, "absent", "ssh-refused");
  ssh.repository_url = "ssh://git@127.0.0.1:" + port + "/absent.git";
  ssh.repository_key = "ssh://127.0.0.1:" + port + "/absent";
  ssh.credential.clear();
  const auto over_ssh = execute(ssh);
  ASSERT_FALSE(over_ssh);
  EXPECT_EQ(over_ssh.error().code, ErrorCode::kRateLimited) << over_ssh.error().message;

  auto http = make_job(jobs::Operation::kMirror, "absent", "http-refused");
  http.repository_url = "http://127.0.0.1:" + port + "/absent.git";
  http.repository_key = "http://127.0.0.1:" + port + "/absent";
  http.credential.clear();
  const auto over_http = execute(http);
  ASSERT_FALSE(over_http);
  EXPECT_EQ(over_http.error().code, ErrorCode::kNetwork) << over_http.error().message;
}

}  // namespace
}  // namespace mgit
