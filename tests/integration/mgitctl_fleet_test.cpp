// mgitctl for people, against the real broker: `fleet` over result events, `enqueue --wait`
// with and without a terminal, `--help` of every command, errors that name the fix.
// Most results are produced directly, as mgitd would publish them (the mgit.sync-result/v1
// contract, docs/job-schema.md); MgitctlWithDaemonTest runs the real mgitd and git server.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <rapidjson/document.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mgitctl_harness.hpp"
#include "support/daemon_process.hpp"
#include "support/pipeline_fixture.hpp"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
using namespace mgit::test_support::mgitctl;

std::string rfc3339(std::chrono::system_clock::time_point time) {
  const std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

/// A result event as mgitd publishes it (only the fields fleet reads, plus a few it ignores).
std::string result_json(const std::string& job_id, const std::string& url,
                        const std::string& target, const std::string& status,
                        const std::string& finished_at, const std::string& oid = "",
                        const std::string& error_code = "", const std::string& message = "") {
  std::string json = R"({"schema":"mgit.sync-result/v1","job_id":")" + job_id + R"(","status":")" +
                     status + R"(","operation":"sync","repository":{"url":")" + url +
                     R"("},"target":")" + target + "\"";
  json += error_code.empty() ? R"(,"error":null)"
                             : R"(,"error":{"code":")" + error_code + R"(","message":")" + message +
                                   R"(","retryable":false})";
  json +=
      oid.empty() ? R"(,"head":null)" : R"(,"head":{"ref":"refs/heads/main","oid":")" + oid + "\"}";
  return json + R"(,"attempts":1,"finished_at":")" + finished_at + "\"}";
}

class MgitctlFleetTest : public MgitctlTest {
 protected:
  using Record = std::tuple<std::optional<std::string>, std::string,
                            std::vector<std::pair<std::string, std::string>>>;

  void produce_results(const std::vector<Record>& records) {
    kafka_.produce(results_topic_, records);
  }

  /// The line of `out` that mentions `needle` (empty when none).
  static std::string line_with(const std::string& out, const std::string& needle) {
    std::size_t start = 0;
    while (start < out.size()) {
      const auto end = out.find('\n', start);
      const std::string line = out.substr(start, end - start);
      if (line.find(needle) != std::string::npos) return line;
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return {};
  }
};

TEST_F(MgitctlFleetTest, OneLinePerRepositoryFailingFirstRedactedAndExitOneOnAFailure) {
  create_topics(3);
  const auto now = std::chrono::system_clock::now();
  const std::string token = "glpat-" + mgit::test_support::random_suffix();
  const std::string oid_a(40, 'a');
  const std::string oid_b(40, 'b');
  const std::string oid_c(40, 'c');
  const std::string key_a = "https://git.example.com/org/a";
  const std::string key_b = "https://git.example.com/org/b";
  const std::string key_c = "https://git.example.com/org/c";
  produce_results({
      // a: succeeded, then failed: failing, its head still the last one reported.
      {key_a,
       result_json("a-1", key_a + ".git", "org/a", "succeeded", rfc3339(now - 2h), oid_a),
       {}},
      {key_a,
       result_json("a-2", key_a + ".git", "org/a", "failed", rfc3339(now - 1h), "", "auth_failed",
                   "authentication failed for https://bot:" + token + "@git.example.com/org/a"),
       {}},
      // b: failed, then succeeded: fine.
      {key_b,
       result_json("b-1", key_b + ".git", "org/b", "failed", rfc3339(now - 3h), "", "network",
                   "connection reset"),
       {}},
      {key_b,
       result_json("b-2", key_b + ".git", "org/b", "succeeded", rfc3339(now - 1h), oid_b),
       {}},
      // c: its only success is three days old.
      {key_c,
       result_json("c-1", key_c + ".git", "org/c", "succeeded", rfc3339(now - 72h), oid_c),
       {}},
      // Not a result: counted as skipped, never fatal.
      {key_c, "not json", {}},
  });

  auto result = run({"fleet"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  const auto a = line_with(result.out, "org/a");
  const auto b = line_with(result.out, "org/b");
  const auto c = line_with(result.out, "org/c");
  EXPECT_THAT(result.out, testing::StartsWith("STATE"));
  EXPECT_LT(result.out.find(a), result.out.find(b)) << "failing first:\n" << result.out;
  EXPECT_THAT(a, testing::StartsWith("failing"));
  EXPECT_THAT(a, HasSubstr(" failed "));
  EXPECT_THAT(a, HasSubstr("main@" + oid_a.substr(0, 12)));
  EXPECT_THAT(a, HasSubstr("auth_failed: authentication failed for https://git.example.com/org/a"));
  EXPECT_THAT(a, HasSubstr(rfc3339(now - 2h) + " (2h00m ago)"));
  EXPECT_THAT(b, testing::StartsWith("ok"));
  EXPECT_THAT(b, HasSubstr("main@" + oid_b.substr(0, 12)));
  EXPECT_THAT(b, testing::EndsWith(" -")) << "b's newest result has no error";
  EXPECT_THAT(c, testing::StartsWith("ok")) << "staleness is judged only with --stale-after";
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(token)));
  EXPECT_THAT(result.err, HasSubstr("skipped 1 record(s)"));

  // --stale-after: c moves up, between the failing and the fresh.
  result = run({"fleet", "--stale-after", "24h"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(line_with(result.out, "org/c"), testing::StartsWith("stale"));
  EXPECT_LT(result.out.find("org/a"), result.out.find("org/c"));
  EXPECT_LT(result.out.find("org/c"), result.out.find("org/b"));

  // --json: one document with what the table shows.
  result = run({"fleet", "--json", "--stale-after", "24h"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  rapidjson::Document doc;
  doc.Parse(result.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << result.out;
  EXPECT_EQ(doc["total"].GetUint(), 3u);
  EXPECT_EQ(doc["failing"].GetUint(), 1u);
  EXPECT_EQ(doc["stale"].GetUint(), 1u);
  const auto& repositories = doc["repositories"];
  ASSERT_EQ(repositories.Size(), 3u);
  const auto& first = repositories[0];
  EXPECT_STREQ(first["repository_key"].GetString(), key_a.c_str());
  EXPECT_STREQ(first["target"].GetString(), "org/a");
  EXPECT_STREQ(first["state"].GetString(), "failing");
  EXPECT_STREQ(first["last_status"].GetString(), "failed");
  EXPECT_STREQ(first["last_job_id"].GetString(), "a-2");
  EXPECT_STREQ(first["last_success_at"].GetString(), rfc3339(now - 2h).c_str());
  EXPECT_STREQ(first["head"]["oid"].GetString(), oid_a.c_str());
  EXPECT_STREQ(first["error"]["code"].GetString(), "auth_failed");
  EXPECT_EQ(first["results"].GetUint(), 2u);
  EXPECT_STREQ(repositories[1]["state"].GetString(), "stale");
  EXPECT_STREQ(repositories[2]["target"].GetString(), "org/b");
  EXPECT_TRUE(repositories[2]["error"].IsNull());
}

TEST_F(MgitctlFleetTest, ReadsFromATimeOrAnOffsetAndExitsZeroWhenAllSucceeded) {
  create_topics(2);
  const auto now = std::chrono::system_clock::now();
  const std::string old_key = "https://git.example.com/org/old";
  const std::string new_key = "https://git.example.com/org/new";
  produce_results(
      {{old_key,
        result_json("o-1", old_key, "org/old", "failed", rfc3339(now), "", "network", "x"),
        {}}});
  // The broker's timestamp of that record; everything produced after the clock passes it is newer.
  const auto first = kafka_.read_until(
      results_topic_, [](const auto& read) { return !read.empty(); }, 30s);
  ASSERT_EQ(first.size(), 1u);
  const std::int64_t boundary_ms = first[0].timestamp_ms + 1;
  while (std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() <= boundary_ms) {
    std::this_thread::yield();
  }
  produce_results(
      {{new_key, result_json("n-1", new_key, "org/new", "succeeded", rfc3339(now), "1234"), {}}});

  // Everything: the old failure counts.
  auto result = run({"fleet", "--since", "1h"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("org/old"));

  // From a time between the two: only the new one, all well.
  const auto boundary =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(boundary_ms));
  const std::time_t t = std::chrono::system_clock::to_time_t(boundary);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[40];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03d", static_cast<int>(boundary_ms % 1000));
  const std::string since = std::string(stamp) + millis + "Z";
  result = run({"fleet", "--since", since});
  EXPECT_EQ(result.exit_code, 0) << since << "\n" << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("org/new"));
  EXPECT_THAT(result.out, Not(HasSubstr("org/old")));

  // --from-offset end: nothing to read, nothing failing.
  result = run({"fleet", "--from-offset", "end"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_THAT(result.err, HasSubstr("no results in " + results_topic_));
  result = run({"fleet", "--from-offset", "end", "--json"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out, "{\"repositories\":[],\"total\":0,\"failing\":0,\"stale\":0}\n");
  result = run({"fleet", "--from-offset", "0"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
}

TEST_F(MgitctlFleetTest, UsageAndConnectionErrorsNameTheFix) {
  create_topics(1);
  auto result = run({"fleet", "--since", "yesterday"});
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_THAT(result.err,
              HasSubstr("neither a duration (90s, 30m, 24h, 7d, 1h30m) nor an RFC 3339"));
  result = run({"fleet", "--stale-after", "soon"});
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_THAT(result.err, HasSubstr("is not a duration"));
  result = run({"fleet", "--since", "1h", "--from-offset", "end"});
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;

  result = run(
      {"--brokers", brokers_, "--results-topic", "mgitctl-test-" + suffix_ + ".absent", "fleet"},
      false);
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_THAT(result.err, HasSubstr("create it with `mgitctl topics create`"));

  result = run({"validate", (dir_.path() / "absent.jsonl").string()}, false);
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_THAT(result.err, HasSubstr("absent.jsonl: cannot be read: No such file or directory "
                                    "(check the path; '-' reads stdin)"));

  // Nothing listens on port 1.
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"fleet"},
        {"topics", "check"},
        {"results"},
        {"enqueue", "--url", "https://git.example.com/org/app"}}) {
    std::vector<std::string> args{"--brokers", "127.0.0.1:1", "--request-timeout", "1500"};
    args.insert(args.end(), command.begin(), command.end());
    result = run(args, false);
    EXPECT_EQ(result.exit_code, 2) << command[0] << result.out << result.err;
    EXPECT_THAT(result.err, HasSubstr("cannot reach brokers 127.0.0.1:1"));
    EXPECT_THAT(result.err, HasSubstr("check --brokers or MGITD_BROKERS")) << command[0];
  }
}

TEST_F(MgitctlFleetTest, EveryCommandAnswersHelpWithAnExample) {
  for (const std::vector<std::string>& command : {std::vector<std::string>{},
                                                  {"topics"},
                                                  {"topics", "create"},
                                                  {"topics", "check"},
                                                  {"enqueue"},
                                                  {"results"},
                                                  {"dlq"},
                                                  {"fleet"},
                                                  {"validate"},
                                                  {"credentials"},
                                                  {"credentials", "check"}}) {
    auto args = command;
    args.push_back("--help");
    const auto result = run(args, false);
    std::string name = "mgitctl";
    for (const auto& word : command) name += " " + word;
    EXPECT_EQ(result.exit_code, 0) << name << result.err;
    EXPECT_THAT(result.out, testing::ContainsRegex("Examples?:\n  mgitctl ")) << name;
  }
}

TEST_F(MgitctlFleetTest, EnqueueWaitWithoutATerminalPrintsOnlyTheResults) {
  create_topics(1);
  Mgitctl waiting(
      [&] {
        auto args = common_args();
        args.insert(args.end(), {"enqueue", "--url", "https://git.example.com/org/app.git",
                                 "--job-id", "plain-1", "--timeout", "60", "--wait"});
        return args;
      }(),
      dir_.path());
  const auto jobs = kafka_.read_until(
      jobs_topic_, [](const auto& read) { return !read.empty(); }, 30s);
  ASSERT_EQ(jobs.size(), 1u);
  const std::string answer =
      result_json("plain-1", "https://git.example.com/org/app.git", "org/app", "failed",
                  rfc3339(std::chrono::system_clock::now()), "", "not_found", "no such repo");
  produce_results({{jobs[0].key, answer, {}}});
  const auto result = waiting.finish();
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  // Byte for byte what mgitctl printed before progress existed: no progress, no table.
  EXPECT_EQ(result.out, "enqueued plain-1 partition=0 offset=0\n" + answer + "\n");
  EXPECT_EQ(result.err, "");
}

/// mgitctl with stdin, stdout and stderr on a pseudo-terminal, as a person runs it.
class PtyMgitctl {
 public:
  explicit PtyMgitctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv_storage{MGITCTL_BINARY};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& arg : argv_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);
    winsize size{};
    size.ws_col = 200;
    size.ws_row = 50;
    pid_ = forkpty(&master_, nullptr, nullptr, &size);
    if (pid_ < 0) throw std::runtime_error("forkpty failed");
    if (pid_ == 0) {
      setenv("TERM", "xterm", 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
    reader_ = std::thread([this] {
      char buffer[4096];
      while (true) {
        const ssize_t n = read(master_, buffer, sizeof buffer);
        if (n > 0) {
          const std::lock_guard lock(mutex_);
          output_.append(buffer, static_cast<std::size_t>(n));
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else {
          break;  // EIO once the child and its terminal are gone
        }
      }
      done_ = true;
    });
  }
  ~PtyMgitctl() {
    if (pid_ > 0 && exit_code_ < 0) kill(pid_, SIGKILL);
    if (reader_.joinable()) {
      if (pid_ > 0 && exit_code_ < 0) waitpid(pid_, nullptr, 0);
      reader_.join();
    }
    if (master_ >= 0) close(master_);
  }

  std::string output() const {
    const std::lock_guard lock(mutex_);
    return output_;
  }

  /// Waits until the output contains `text`.
  bool await_output(const std::string& text, std::chrono::seconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (output().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  int finish() {
    int status = 0;
    waitpid(pid_, &status, 0);
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    reader_.join();
    return exit_code_;
  }

 private:
  int master_ = -1;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::string output_;
  std::atomic<bool> done_{false};
};

TEST_F(MgitctlFleetTest, EnqueueWaitOnATerminalShowsProgressThenASummaryTable) {
  create_topics(1);
  std::string jobs;
  for (const auto* id : {"tty-1", "tty-2", "tty-3"}) {
    jobs += R"({"schema":"mgit.sync-job/v1","job_id":")" + std::string(id) +
            R"(","operation":"sync","repository":{"url":"https://git.example.com/org/)" + id +
            "\"}}\n";
  }
  auto args = common_args();
  args.insert(args.end(),
              {"enqueue", "--file", write("tty.jsonl", jobs), "--wait", "--timeout", "60"});
  PtyMgitctl ctl(args);
  ASSERT_TRUE(ctl.await_output("answered 0/3 (0%)  failures 0  waiting for the first result", 30s))
      << ctl.output();

  const auto now = rfc3339(std::chrono::system_clock::now());
  const std::string url = "https://git.example.com/org/";
  const auto first =
      result_json("tty-1", url + "tty-1", "org/tty-1", "failed", now, "", "auth_failed", "denied");
  produce_results({{url + "tty-1", first, {}}});
  ASSERT_TRUE(ctl.await_output("answered 1/3 (33%)  failures 1  ", 30s)) << ctl.output();
  EXPECT_TRUE(ctl.await_output("ETA ", 5s)) << ctl.output();
  produce_results({{url + "tty-2",
                    result_json("tty-2", url + "tty-2", "org/tty-2", "succeeded", now, "ab"),
                    {}},
                   {url + "tty-3",
                    result_json("tty-3", url + "tty-3", "org/tty-3", "succeeded", now, "cd"),
                    {}}});
  EXPECT_EQ(ctl.finish(), 1);

  std::string out = ctl.output();
  // The terminal turns "\n" into "\r\n"; the progress line is redrawn with "\r…\033[K".
  EXPECT_THAT(out, HasSubstr("\ranswered 1/3 (33%)  failures 1"));
  EXPECT_THAT(out, HasSubstr("\033[K"));
  for (std::size_t at; (at = out.find("\r\n")) != std::string::npos;) out.replace(at, 2, "\n");
  EXPECT_THAT(out, HasSubstr(first + "\n")) << "results are printed whole, on their own line";
  EXPECT_THAT(out, HasSubstr("answered 3/3 in "));
  EXPECT_THAT(out, HasSubstr(", failures 1\n"
                             "status     error         count\n"
                             "failed     auth_failed       1\n"
                             "succeeded  -                 2\n"));
}

/// mgitctl against a real mgitd syncing from the real git server.
class MgitctlWithDaemonTest : public mgit::test_support::PipelineFixture {
 protected:
  CommandResult mgitctl(std::vector<std::string> args) {
    std::vector<std::string> all{"--brokers",       kafka_->brokers(), "--jobs-topic", jobs_topic_,
                                 "--results-topic", results_topic_,    "--dlq-topic",  dlq_topic_,
                                 "--audit-topic",   audit_topic_};
    all.insert(all.end(), args.begin(), args.end());
    return Mgitctl(all, dir_->path()).finish();
  }
};

TEST_F(MgitctlWithDaemonTest, FleetShowsWhatTheDaemonAnswered) {
  // Repository names are shared by every test using the git server: make them this test's own.
  const std::string app = "fleet-app-" + suffix_;
  const std::string head = create_repo(app);
  auto daemon = start_daemon();
  const std::string missing = "fleet-missing-" + suffix_;
  const auto jobs_file = dir_->path() / "jobs.jsonl";
  std::ofstream(jobs_file) << job_json("fleet-1", "sync", app, "\"target\":\"org/fleet-app\"")
                           << "\n"
                           << job_json("fleet-2", "sync", missing, "\"target\":\"org/missing\"")
                           << "\n";
  auto result = mgitctl({"enqueue", "--file", jobs_file.string(), "--wait", "--timeout", "120"});
  ASSERT_EQ(result.exit_code, 1) << result.out << result.err;  // one job fails
  EXPECT_EQ(result.err, "") << "no terminal, no progress";

  result = mgitctl({"fleet", "--since", "1h"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  const auto lines = [&](const std::string& needle) {
    std::istringstream in(result.out);
    for (std::string line; std::getline(in, line);) {
      if (line.find(needle) != std::string::npos) return line;
    }
    return std::string();
  };
  const auto bad = lines("org/missing");
  const auto good = lines("org/fleet-app");
  EXPECT_THAT(bad, testing::StartsWith("failing  "));
  EXPECT_THAT(bad, HasSubstr(" failed "));
  EXPECT_THAT(bad, HasSubstr(" never "));
  EXPECT_THAT(good, testing::StartsWith("ok       "));
  EXPECT_THAT(good, HasSubstr("main@" + head.substr(0, 12)));
  EXPECT_LT(result.out.find(bad), result.out.find(good));
  EXPECT_THAT(result.out, Not(HasSubstr(git_password_)));
}

}  // namespace
