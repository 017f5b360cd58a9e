// End to end: real Kafka broker, real smart-HTTP git server, real mgitd processes.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "mgit/security/credentials.hpp"
#include "support/http_client.hpp"
#include "support/pipeline_fixture.hpp"

namespace mgit::test_support {
namespace {

using namespace std::chrono_literals;

std::string target_for(const std::string& repo) { return "fleet/" + repo; }

std::string target_field(const std::string& repo) {
  return "\"target\":\"" + target_for(repo) + "\"";
}

std::map<std::string, std::vector<ParsedResult>> by_job(const std::vector<ParsedResult>& results) {
  std::map<std::string, std::vector<ParsedResult>> out;
  for (const auto& result : results) out[result.job_id].push_back(result);
  return out;
}

struct Interval {
  std::int64_t start = 0;
  std::int64_t end = 0;
};

// Start/finish times the scheduler logs around each executor call, per target.
std::map<std::string, std::vector<Interval>> execution_intervals(const std::string& log) {
  std::map<std::string, std::vector<Interval>> out;
  std::map<std::string, std::int64_t> open;  // job_id -> start
  std::map<std::string, std::string> target_of;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    rapidjson::Document doc;
    doc.Parse(line.c_str());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("msg")) continue;
    const std::string msg = doc["msg"].GetString();
    if (msg == "job started") {
      open[doc["job_id"].GetString()] = doc["started_at_us"].GetInt64();
      target_of[doc["job_id"].GetString()] = doc["target"].GetString();
    } else if (msg == "job attempt finished") {
      const std::string id = doc["job_id"].GetString();
      out[target_of[id]].push_back(Interval{open[id], doc["finished_at_us"].GetInt64()});
    }
  }
  return out;
}

class PipelineTest : public PipelineFixture {};

TEST_F(PipelineTest, FiveHundredJobsOverTwentyFiveRepositories) {
  constexpr int kRepos = 25;
  constexpr int kRounds = 2;
  constexpr int kJobsPerRepoPerRound = 10;
  std::vector<std::string> repos;
  for (int r = 0; r < kRepos; ++r) {
    repos.push_back("fleet-" + suffix_ + "-" + std::to_string(r));
    create_repo(repos.back(), 2);
  }
  auto daemon = start_daemon({"--workers", "4"});
  const auto port = wait_for_http_port(*daemon, 30s);
  ASSERT_TRUE(port);
  // An orchestrator probing readiness throughout the load: every probe must answer.
  std::atomic<bool> probing{true};
  std::vector<double> probe_ms;
  std::vector<unsigned> probe_status;
  std::thread prober([&] {
    while (probing.load()) {
      const auto answer = http_request(*port, "GET", "/health/ready", 5s);
      probe_ms.push_back(static_cast<double>(answer.elapsed.count()) / 1000.0);
      probe_status.push_back(answer.status);
      std::this_thread::sleep_for(10ms);
    }
  });
  std::map<std::string, std::string> expected_head;
  std::size_t total_jobs = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    if (round > 0) {
      // New commits between runs: the next round must bring every target up to them.
      for (const auto& repo : repos) add_commits(repo, 1 + round);
    }
    std::vector<std::pair<std::string, std::string>> records;
    for (int i = 0; i < kJobsPerRepoPerRound; ++i) {
      for (const auto& repo : repos) {
        const auto id = "r" + std::to_string(round) + "-" + repo + "-" + std::to_string(i);
        records.emplace_back(repo_url(repo), job_json(id, "sync", repo, target_field(repo)));
      }
    }
    enqueue(records);
    total_jobs += records.size();
    const auto results = wait_for_results(total_jobs, 300s);
    ASSERT_EQ(by_job(results).size(), total_jobs) << "round " << round;
  }
  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
  probing.store(false);
  prober.join();
  for (const auto& repo : repos) expected_head[repo] = server_head(repo);
  ASSERT_FALSE(probe_ms.empty());
  EXPECT_EQ(std::count(probe_status.begin(), probe_status.end(), 200u),
            static_cast<std::ptrdiff_t>(probe_status.size()))
      << "every readiness probe during the load answers 200";
  std::sort(probe_ms.begin(), probe_ms.end());
  const auto percentile = [&](double p) {
    return probe_ms[std::min(probe_ms.size() - 1,
                             static_cast<std::size_t>(p * static_cast<double>(probe_ms.size())))];
  };
  std::printf(
      "[ figures ] /health/ready during the 500-job run: %zu probes, p50 %.2f ms, "
      "p99 %.2f ms, max %.2f ms\n",
      probe_ms.size(), percentile(0.50), percentile(0.99), probe_ms.back());

  const auto results = wait_for_results(total_jobs, 60s);
  const auto grouped = by_job(results);
  ASSERT_EQ(grouped.size(), total_jobs);
  for (const auto& [job_id, copies] : grouped) {
    EXPECT_EQ(copies.size(), 1u) << "exactly one result per job: " << job_id;
    EXPECT_EQ(copies.front().status, "succeeded") << copies.front().raw;
  }
  for (const auto& repo : repos) {
    EXPECT_EQ(target_head(target_for(repo)), expected_head[repo]) << repo;
  }
  EXPECT_TRUE(wait_for_committed_to_reach_end(30s)) << "committed offsets must reach the end";

  // Two jobs for one target never overlap.
  const auto intervals = execution_intervals(daemon->log_text());
  ASSERT_EQ(intervals.size(), static_cast<std::size_t>(kRepos));
  for (auto [target, spans] : intervals) {
    std::sort(spans.begin(), spans.end(),
              [](const Interval& a, const Interval& b) { return a.start < b.start; });
    for (std::size_t i = 1; i < spans.size(); ++i) {
      EXPECT_LE(spans[i - 1].end, spans[i].start) << "overlap on " << target;
    }
  }
  std::printf("[ figures ] 500-job run: %zu jobs in %.2f s = %.1f jobs/s (4 workers)\n", total_jobs,
              elapsed.count(), static_cast<double>(total_jobs) / elapsed.count());
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
}

TEST_F(PipelineTest, InvalidJobsAreRejectedAndUnparseableMessagesGoToTheDlq) {
  const auto repo = "valid-" + suffix_;
  const auto head = create_repo(repo, 1);
  const auto url = repo_url(repo);
  // Each invalid job names its id and the error code the spec requires.
  const std::vector<std::pair<std::string, std::string>> invalid = {
      {"bad-operation",
       R"({"schema":"mgit.sync-job/v1","job_id":"bad-operation","operation":"explode","repository":{"url":"URL"}})"},
      {"no-operation",
       R"({"schema":"mgit.sync-job/v1","job_id":"no-operation","repository":{"url":"URL"}})"},
      {"no-repository",
       R"({"schema":"mgit.sync-job/v1","job_id":"no-repository","operation":"sync"})"},
      {"url-not-string",
       R"({"schema":"mgit.sync-job/v1","job_id":"url-not-string","operation":"sync","repository":{"url":42}})"},
      {"file-url",
       R"({"schema":"mgit.sync-job/v1","job_id":"file-url","operation":"sync","repository":{"url":"file:///etc"}})"},
      {"password-in-url",
       R"({"schema":"mgit.sync-job/v1","job_id":"password-in-url","operation":"sync","repository":{"url":"https://user:hunter2@git.example.com/org/app.git"}})"},
      {"absolute-target",
       R"({"schema":"mgit.sync-job/v1","job_id":"absolute-target","operation":"sync","repository":{"url":"URL"},"target":"/etc/passwd"})"},
      {"dotdot-target",
       R"({"schema":"mgit.sync-job/v1","job_id":"dotdot-target","operation":"sync","repository":{"url":"URL"},"target":"a/../../b"})"},
      {"control-target",
       "{\"schema\":\"mgit.sync-job/"
       "v1\",\"job_id\":\"control-target\",\"operation\":\"sync\",\"repository\":{\"url\":\"URL\"},"
       "\"target\":\"a\\u0007b\"}"},
      {"depth",
       R"({"schema":"mgit.sync-job/v1","job_id":"depth","operation":"sync","repository":{"url":"URL"},"options":{"depth":1}})"},
      {"timeout-type",
       R"({"schema":"mgit.sync-job/v1","job_id":"timeout-type","operation":"sync","repository":{"url":"URL"},"options":{"timeout_seconds":"soon"}})"},
      {"schema-v2",
       R"({"schema":"mgit.sync-job/v2","job_id":"schema-v2","operation":"sync","repository":{"url":"URL"}})"},
      {"bad-ref",
       R"({"schema":"mgit.sync-job/v1","job_id":"bad-ref","operation":"sync","repository":{"url":"URL"},"ref":"main..evil"})"},
      {"bad-credential-name",
       R"({"schema":"mgit.sync-job/v1","job_id":"bad-credential-name","operation":"sync","repository":{"url":"URL","credential":"../../etc/shadow"}})"},
      {"bad-not-after",
       R"({"schema":"mgit.sync-job/v1","job_id":"bad-not-after","operation":"sync","repository":{"url":"URL"},"not_after":"tomorrow"})"},
      {"options-not-object",
       R"({"schema":"mgit.sync-job/v1","job_id":"options-not-object","operation":"sync","repository":{"url":"URL"},"options":[1]})"},
      {"mirror-not-bare",
       R"({"schema":"mgit.sync-job/v1","job_id":"mirror-not-bare","operation":"mirror","repository":{"url":"URL"},"options":{"bare":false}})"},
  };
  const std::set<std::string> policy_denied = {"password-in-url"};
  const std::vector<std::string> unparseable = {
      "not json at all",
      "[1,2,3]",
      R"({"schema":"mgit.sync-job/v1","operation":"sync"})",
      R"({"schema":"mgit.sync-job/v1","job_id":"has spaces and /","operation":"sync"})",
      R"({"job_id":)",
      std::string(70000, 'x'),
  };
  std::vector<std::pair<std::string, std::string>> records;
  int valid_count = 0;
  auto add_valid = [&] {
    const auto id = "valid-" + std::to_string(valid_count++);
    records.emplace_back(url, job_json(id, "sync", repo, target_field(repo)));
  };
  add_valid();
  for (const auto& [id, body] : invalid) {
    std::string json = body;
    if (const auto at = json.find("URL"); at != std::string::npos) json.replace(at, 3, url);
    records.emplace_back(url, json);
    add_valid();
  }
  for (const auto& body : unparseable) {
    records.emplace_back(url, body);
    add_valid();
  }
  enqueue(records);
  auto daemon = start_daemon();

  const auto expected_results = invalid.size() + static_cast<std::size_t>(valid_count);
  const auto results = by_job(wait_for_results(expected_results, 120s));
  ASSERT_EQ(results.size(), expected_results);
  for (const auto& [id, body] : invalid) {
    ASSERT_TRUE(results.contains(id)) << id;
    const auto& result = results.at(id).front();
    EXPECT_EQ(result.status, "rejected") << id;
    EXPECT_EQ(result.error_code, policy_denied.contains(id) ? "policy_denied" : "invalid_job")
        << id;
    EXPECT_FALSE(result.error_message.empty()) << id;
    EXPECT_EQ(result.raw.find("hunter2"), std::string::npos) << "secret echoed in " << id;
  }
  for (int i = 0; i < valid_count; ++i) {
    const auto& result = results.at("valid-" + std::to_string(i)).front();
    EXPECT_EQ(result.status, "succeeded") << result.raw;
    EXPECT_EQ(result.head_oid, head);
  }
  const auto dlq = wait_for_dlq(unparseable.size(), 60s);
  ASSERT_EQ(dlq.size(), unparseable.size());
  std::multiset<std::string> dlq_payloads;
  for (const auto& record : dlq) {
    dlq_payloads.insert(record.value);
    EXPECT_TRUE(record.header("mgit-error-code").has_value());
    EXPECT_TRUE(record.header("mgit-error-message").has_value());
    EXPECT_EQ(record.header("mgit-source-topic"), jobs_topic_);
    EXPECT_TRUE(record.header("mgit-source-partition").has_value());
    EXPECT_TRUE(record.header("mgit-source-offset").has_value());
    EXPECT_EQ(record.key, url) << "the original key, untouched";
  }
  for (const auto& body : unparseable) {
    EXPECT_EQ(dlq_payloads.count(body), 1u) << "original bytes untouched: " << body.substr(0, 40);
  }
  EXPECT_TRUE(wait_for_committed_to_reach_end(30s));
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
}

TEST_F(PipelineTest, RedeliveredCloneIsAnsweredWithItsFirstOutcome) {
  const auto repo = "clone-" + suffix_;
  const auto head = create_repo(repo, 1);
  const auto job = job_json("clone-once", "clone", repo, target_field(repo));
  enqueue({{repo_url(repo), job}});
  auto daemon = start_daemon();
  auto first = by_job(wait_for_results(1, 60s));
  ASSERT_EQ(first.at("clone-once").front().status, "succeeded")
      << first.at("clone-once").front().raw;

  // The same delivery again (what a redelivery after a crash looks like), then a different
  // job cloning into the same, now existing, target.
  enqueue({{repo_url(repo), job},
           {repo_url(repo), job_json("clone-again", "clone", repo, target_field(repo))}});
  // Same key, same partition, same target: the replay is answered before "clone-again".
  const auto results = wait_for_results(2, 60s);
  const auto grouped = by_job(results);
  ASSERT_EQ(grouped.at("clone-once").size(), 2u);
  for (const auto& result : grouped.at("clone-once")) {
    EXPECT_EQ(result.status, "succeeded") << result.raw;
    EXPECT_EQ(result.head_oid, head);
  }
  EXPECT_EQ(grouped.at("clone-again").front().status, "rejected");
  EXPECT_EQ(grouped.at("clone-again").front().error_code, "conflict");
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
}

TEST_F(PipelineTest, WrongCredentialsGiveAuthFailedWithoutLeakingTheSecret) {
  const auto repo = "auth-" + suffix_;
  create_repo(repo, 1);
  const std::string secret = "Wr0ngPassw0rd-" + suffix_;
  std::ofstream(credentials_ / "wrong") << "username=mgit\npassword=" << secret
                                        << "\nhosts=" << security::url_host(git_url_).first << "\n";
  const auto job =
      "{\"schema\":\"mgit.sync-job/v1\",\"job_id\":\"auth\",\"operation\":\"sync\","
      "\"repository\":{\"url\":\"" +
      repo_url(repo) + "\",\"credential\":\"wrong\"}," + target_field(repo) + "}";
  enqueue({{repo_url(repo), job}});
  auto daemon = start_daemon({"--log-level", "debug"});
  const auto results = by_job(wait_for_results(1, 60s));
  const auto& result = results.at("auth").front();
  EXPECT_EQ(result.status, "failed");
  EXPECT_EQ(result.error_code, "auth_failed");
  EXPECT_EQ(result.raw.find(secret), std::string::npos);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
  EXPECT_EQ(daemon->log_text().find(secret), std::string::npos) << "secret in the daemon's log";
}

TEST_F(PipelineTest, MirrorWithThousandsOfRefsFitsTheMessageSizeLimit) {
  const auto repo = "refs-" + suffix_;
  create_repo(repo, 1);
  constexpr int kRefs = 6000;
  // Long ref names so the full list would not fit a 1 MB Kafka message.
  const auto bare = git_dir_ + "/repos/" + repo + ".git";
  run_command("cd '" + bare +
              "' && head=$(git rev-parse refs/heads/main) && "
              "for i in $(seq 1 " +
              std::to_string(kRefs) +
              "); do "
              "echo \"create refs/heads/feature/$(printf 'a%.0s' $(seq 1 120))-$i $head\"; "
              "done | git update-ref --stdin");
  enqueue({{repo_url(repo),
            job_json("mirror", "mirror", repo, "\"target\":\"mirrors/" + repo + "\"")}});
  auto daemon = start_daemon();
  const auto results = kafka_->read_until(
      results_topic_, [](const std::vector<TestRecord>& seen) { return !seen.empty(); }, 120s);
  ASSERT_EQ(results.size(), 1u);
  const auto parsed = parse_result(results.front().value);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->status, "succeeded") << parsed->raw.substr(0, 500);
  EXPECT_LE(results.front().value.size(), 1000000u);
  ASSERT_TRUE(parsed->refs_updated_total.has_value()) << "truncation must say so";
  EXPECT_EQ(*parsed->refs_updated_total, kRefs + 1);  // the feature refs plus main
  EXPECT_LT(parsed->refs_updated, static_cast<std::size_t>(kRefs + 1));
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
}

TEST_F(PipelineTest, MissingTopicStopsStartupWithAClearMessage) {
  auto args = daemon_args();
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--jobs-topic") args[i + 1] = "it.missing." + suffix_;
  }
  DaemonProcess daemon(MGITD_BINARY, args, dir_->path() / "missing.log");
  const auto code = daemon.wait_exit(60s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(daemon.log_text().find("it.missing." + suffix_ + "' does not exist"), std::string::npos)
      << daemon.log_text();
}

TEST_F(PipelineTest, UnreachableBrokerFailsStartupAfterTheConfiguredTime) {
  auto args = daemon_args();
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--brokers") args[i + 1] = "127.0.0.1:1";
    if (args[i] == "--startup-broker-timeout-seconds") args[i + 1] = "2";
  }
  const auto started = std::chrono::steady_clock::now();
  DaemonProcess daemon(MGITD_BINARY, args, dir_->path() / "unreachable.log");
  const auto code = daemon.wait_exit(60s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_NE(daemon.log_text().find("no Kafka broker answered"), std::string::npos)
      << daemon.log_text();
}

TEST_F(PipelineTest, IdleConsumerOutlivesMaxPollInterval) {
  const auto repo = "idle-" + suffix_;
  const auto head = create_repo(repo, 1);
  // A short poll interval, and a session long enough that a loaded CI machine's heartbeat
  // jitter cannot be mistaken for the eviction this test is about.
  auto daemon =
      start_daemon({"--kafka-property", "max.poll.interval.ms=3000", "--kafka-property",
                    "session.timeout.ms=3000", "--kafka-property", "heartbeat.interval.ms=500"});
  ASSERT_TRUE(daemon->wait_for_log("partitions assigned", 60s)) << daemon->log_text();
  // Stay idle for three poll intervals: an unpolled consumer would be evicted and log it.
  EXPECT_FALSE(eventually(
      [&] { return daemon->log_text().find("partitions revoked") != std::string::npos; }, 9s))
      << daemon->log_text();
  enqueue({{repo_url(repo), job_json("after-idle", "sync", repo, target_field(repo))}});
  const auto results = by_job(wait_for_results(1, 30s));
  ASSERT_TRUE(results.contains("after-idle"));
  EXPECT_EQ(results.at("after-idle").front().head_oid, head);
  // librdkafka's own eviction warning: "Application maximum poll interval (…) exceeded".
  EXPECT_EQ(daemon->log_text().find("maximum poll interval"), std::string::npos)
      << daemon->log_text();
  EXPECT_EQ(daemon->log_text().find("partitions revoked"), std::string::npos) << daemon->log_text();
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
}

}  // namespace
}  // namespace mgit::test_support
