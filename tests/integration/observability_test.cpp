// Metrics, health, traces and logs of a real mgitd against the real broker, the real git
// server and a real OTLP receiver (scripts/otlp-receiver: opentelemetry-proto's parser).
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "support/http_client.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/prometheus_text.hpp"

namespace mgit::test_support {
namespace {

using namespace std::chrono_literals;

struct ReceivedSpan {
  std::string trace_id, span_id, parent_span_id, name, kind, status;
  std::int64_t start = 0, end = 0;
  std::map<std::string, std::string> attributes;  // every value as text
};

// Lines the receiver wrote after opentelemetry-proto parsed the export request.
std::vector<ReceivedSpan> received_spans(const std::string& trace_id) {
  std::vector<ReceivedSpan> spans;
  std::ifstream in(required_env("MGITD_TEST_OTLP_DIR") + "/spans.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    rapidjson::Document doc;
    doc.Parse(line.c_str());
    if (doc.HasParseError() || !doc.IsObject()) continue;
    if (trace_id != doc["trace_id"].GetString()) continue;
    ReceivedSpan span;
    span.trace_id = doc["trace_id"].GetString();
    span.span_id = doc["span_id"].GetString();
    span.parent_span_id = doc["parent_span_id"].GetString();
    span.name = doc["name"].GetString();
    span.kind = doc["kind"].GetString();
    span.status = doc["status"]["code"].GetString();
    span.start = doc["start_time_unix_nano"].GetInt64();
    span.end = doc["end_time_unix_nano"].GetInt64();
    for (const auto& [key, value] : doc["attributes"].GetObject()) {
      if (value.IsString()) {
        span.attributes[key.GetString()] = value.GetString();
      } else if (value.IsInt64()) {
        span.attributes[key.GetString()] = std::to_string(value.GetInt64());
      } else if (value.IsBool()) {
        span.attributes[key.GetString()] = value.GetBool() ? "true" : "false";
      }
    }
    spans.push_back(std::move(span));
  }
  return spans;
}

class ObservabilityTest : public PipelineFixture {
 protected:
  std::unique_ptr<DaemonProcess> start_observed(std::vector<std::string> extra = {}) {
    auto daemon = start_daemon(std::move(extra));
    const auto port = wait_for_http_port(*daemon, 30s);
    if (!port) {
      ADD_FAILURE() << "no http port logged:\n" << daemon->log_text();
      return daemon;
    }
    port_ = *port;
    return daemon;
  }

  std::string scrape() { return http_request(port_, "GET", "/metrics").body; }

  /// Waits until the series has the value (metrics count on broker acknowledgement, which
  /// may land just after the test reads the result).
  bool metric_reaches(const std::string& series, double value,
                      std::chrono::milliseconds timeout = 15s) {
    return eventually([&] { return metric_sample(scrape(), series) == value; }, timeout);
  }

  std::uint16_t port_ = 0;
};

TEST_F(ObservabilityTest, SpansOfASyncJobFollowTheIntakeTraceparent) {
  const auto repo = "traced-" + suffix_;
  create_repo(repo, 2);
  auto daemon = start_observed({"--otlp-endpoint", required_env("MGITD_TEST_OTLP_URL")});
  const auto trace_id = random_suffix(32);
  const auto intake_span = random_suffix(16);
  const auto job_id = "traced-job-" + suffix_;
  const auto produced = kafka_->produce(
      jobs_topic_, {{repo_url(repo),
                     job_json(job_id, "clone", repo, "\"target\":\"t/traced\""),
                     {{"content-type", "application/json"},
                      {"correlation-id", "corr-" + suffix_},
                      {"traceparent", "00-" + trace_id + "-" + intake_span + "-01"}}}});
  const auto results = wait_for_results(1, 60s);
  ASSERT_EQ(results.size(), 1u);
  const auto& result = results.front();
  ASSERT_EQ(result.status, "succeeded") << result.raw;
  EXPECT_EQ(result.trace_id, trace_id) << "the result carries the intake's trace";
  const auto records = kafka_->read_until(
      results_topic_, [](const std::vector<TestRecord>& seen) { return !seen.empty(); }, 10s);
  ASSERT_FALSE(records.empty());
  const auto traceparent = records.front().header("traceparent");
  ASSERT_TRUE(traceparent);
  const std::regex shape("00-([0-9a-f]{32})-([0-9a-f]{16})-01");
  std::smatch parts;
  ASSERT_TRUE(std::regex_match(*traceparent, parts, shape)) << *traceparent;
  EXPECT_EQ(parts[1], trace_id);
  const std::string job_span_id = parts[2];
  EXPECT_NE(job_span_id, intake_span) << "the result names mgitd's own job span";

  std::vector<ReceivedSpan> spans;
  ASSERT_TRUE(eventually(
      [&] {
        spans = received_spans(trace_id);
        return spans.size() >= 3;
      },
      30s))
      << "spans received for the trace: " << spans.size();
  ASSERT_EQ(spans.size(), 3u);
  std::map<std::string, ReceivedSpan> by_name;
  for (const auto& span : spans) by_name[span.name] = span;
  ASSERT_TRUE(by_name.contains("mgitd.job"));
  ASSERT_TRUE(by_name.contains("git.clone"));
  ASSERT_TRUE(by_name.contains("kafka.produce"));
  auto job = by_name["mgitd.job"];
  auto git = by_name["git.clone"];
  auto produce = by_name["kafka.produce"];

  EXPECT_EQ(job.span_id, job_span_id);
  EXPECT_EQ(job.parent_span_id, intake_span) << "mgitd.job is a child of the intake span";
  EXPECT_EQ(git.parent_span_id, job.span_id);
  EXPECT_EQ(produce.parent_span_id, job.span_id);
  EXPECT_EQ(job.kind, "SPAN_KIND_CONSUMER");
  EXPECT_EQ(produce.kind, "SPAN_KIND_PRODUCER");
  EXPECT_EQ(job.status, "STATUS_CODE_OK");
  EXPECT_EQ(git.status, "STATUS_CODE_OK");

  EXPECT_EQ(job.attributes["messaging.system"], "kafka");
  EXPECT_EQ(job.attributes["messaging.destination.name"], jobs_topic_);
  EXPECT_EQ(job.attributes["messaging.destination.partition.id"],
            std::to_string(produced.front().first));
  EXPECT_EQ(job.attributes["messaging.kafka.offset"], std::to_string(produced.front().second));
  EXPECT_EQ(job.attributes["mgit.job.id"], job_id);
  EXPECT_EQ(job.attributes["mgit.job.operation"], "clone");
  EXPECT_EQ(job.attributes["mgit.job.status"], "succeeded");
  EXPECT_EQ(git.attributes["vcs.repository.url.full"], repo_url(repo));
  EXPECT_EQ(git.attributes["mgit.attempt"], "1");
  EXPECT_EQ(produce.attributes["messaging.destination.name"], results_topic_);
  EXPECT_EQ(produce.attributes["messaging.kafka.offset"], std::to_string(records.front().offset));

  // Timings nest: both children inside the job span, the result produced after the clone.
  for (const auto* child : {&git, &produce}) {
    EXPECT_LE(job.start, child->start) << child->name;
    EXPECT_LE(child->start, child->end) << child->name;
    EXPECT_LE(child->end, job.end) << child->name;
  }
  EXPECT_LE(git.end, produce.start);

  // Every log line of this job carries its trace and the job span.
  std::istringstream log(daemon->log_text());
  std::string line;
  int job_lines = 0;
  while (std::getline(log, line)) {
    if (line.find("\"job_id\":\"" + job_id + "\"") == std::string::npos) continue;
    ++job_lines;
    EXPECT_NE(line.find("\"trace_id\":\"" + trace_id + "\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"span_id\":\"" + job_span_id + "\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"correlation_id\":\"corr-" + suffix_ + "\""), std::string::npos) << line;
  }
  EXPECT_GE(job_lines, 3) << "received, started and finished at least";
}

TEST_F(ObservabilityTest, MetricsCountAMixedRunExactly) {
  const auto good_a = "good-a-" + suffix_;
  const auto good_b = "good-b-" + suffix_;
  create_repo(good_a, 3);
  create_repo(good_b, 1);
  auto daemon = start_observed();
  enqueue({{repo_url(good_a), job_json("ok-a", "clone", good_a, "\"target\":\"t/a\"")},
           {repo_url(good_b), job_json("ok-b", "clone", good_b, "\"target\":\"t/b\"")},
           {repo_url("absent"),
            job_json("missing", "clone", "absent-" + suffix_, "\"target\":\"t/absent\"")},
           {"bad", R"({"schema":"mgit.sync-job/v1","job_id":"bad-op","operation":"explode",)"
                   R"("repository":{"url":"https://example.com/x.git"}})"},
           {"junk", "this is not json"}});
  const auto results = wait_for_results(4, 90s);
  ASSERT_EQ(results.size(), 4u);
  std::map<std::string, ParsedResult> by_id;
  for (const auto& result : results) by_id[result.job_id] = result;
  ASSERT_EQ(by_id["ok-a"].status, "succeeded") << by_id["ok-a"].raw;
  ASSERT_EQ(by_id["ok-b"].status, "succeeded") << by_id["ok-b"].raw;
  ASSERT_EQ(by_id["missing"].status, "failed");
  ASSERT_EQ(by_id["missing"].error_code, "not_found");
  ASSERT_EQ(by_id["bad-op"].status, "rejected");
  ASSERT_EQ(wait_for_dlq(1, 30s).size(), 1u);

  // Received objects as the results report them.
  std::int64_t objects = 0;
  for (const auto* id : {"ok-a", "ok-b"}) {
    rapidjson::Document doc;
    doc.Parse(by_id[id].raw.c_str());
    objects += doc["stats"]["received_objects"].GetInt64();
  }
  EXPECT_TRUE(metric_reaches(
      R"(mgitd_jobs_completed_total{error_code="none",operation="clone",status="succeeded"})", 2));
  EXPECT_TRUE(metric_reaches(
      R"(mgitd_jobs_completed_total{error_code="not_found",operation="clone",status="failed"})",
      1));
  EXPECT_TRUE(metric_reaches(
      R"(mgitd_jobs_completed_total{error_code="invalid_job",operation="unknown",status="rejected"})",
      1));
  EXPECT_TRUE(metric_reaches(R"(mgitd_dlq_records_total{reason="not_json"})", 1));
  EXPECT_TRUE(metric_reaches("mgitd_jobs_in_flight", 0)) << "a gauge, refreshed every second";
  const auto text = scrape();
  EXPECT_EQ(metric_sample(text, "mgitd_jobs_received_total{topic=\"" + jobs_topic_ + "\"}"), 5);
  EXPECT_EQ(metric_sample(text, "mgitd_git_received_objects_total"), static_cast<double>(objects));
  EXPECT_EQ(metric_sample(
                text, R"(mgitd_job_duration_seconds_count{operation="clone",status="succeeded"})"),
            2);
  EXPECT_EQ(
      metric_sample(text, R"(mgitd_job_duration_seconds_count{operation="clone",status="failed"})"),
      1);
  EXPECT_EQ(metric_sample(text, "mgitd_partitions_assigned"), partitions_);
  EXPECT_EQ(metric_sample(text, "mgitd_ready"), 1);

  // The exposition passes Prometheus' own linter.
  const auto scraped = dir_->path() / "metrics.txt";
  std::ofstream(scraped) << text;
  EXPECT_NO_THROW(
      run_command("promtool check metrics < " + shell_quote(scraped.string()) + " 2>&1"));

  // Lag per assigned partition from librdkafka statistics: every partition that got a job
  // has a series, and once everything is committed it is 0.
  std::set<std::int32_t> used;
  for (const auto& [partition, end] : kafka_->end_offsets(jobs_topic_)) {
    if (end > 0) used.insert(partition);
  }
  ASSERT_FALSE(used.empty());
  std::string last;
  EXPECT_TRUE(eventually(
      [&] {
        last = scrape();
        for (const auto partition : used) {
          if (metric_sample(last, "mgitd_consumer_lag{partition=\"" + std::to_string(partition) +
                                      "\"}") != 0) {
            return false;
          }
        }
        return true;
      },
      30s))
      << last;

  // Methods and paths the listener does not serve.
  EXPECT_EQ(http_request(port_, "POST", "/metrics").status, 405u);
  EXPECT_EQ(http_request(port_, "POST", "/metrics").allow, "GET, HEAD");
  EXPECT_EQ(http_request(port_, "GET", "/nothing-here").status, 404u);
}

TEST_F(ObservabilityTest, AnOutOfRangeCommittedOffsetIsCountedAsAReset) {
  const auto repo = "reset-" + suffix_;
  create_repo(repo, 1);
  // One job on partition 0, then a committed position far beyond the partition's end, as
  // after retention deleted what the group had not read.
  const auto produced = kafka_->produce(
      jobs_topic_,
      {{repo_url(repo), job_json("after-reset", "clone", repo, "\"target\":\"t/reset\""), {}}});
  const auto partition = produced.front().first;
  kafka_->commit_offsets(group_, jobs_topic_, {{partition, 1000}});
  auto daemon = start_observed();
  EXPECT_TRUE(metric_reaches("mgitd_offset_resets_total", 1, 30s));
  // auto.offset.reset=earliest: the job before the bogus position is read and answered.
  const auto results = wait_for_results(1, 60s);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results.front().job_id, "after-reset");
  EXPECT_EQ(metric_sample(scrape(), "mgitd_offset_resets_total"), 1)
      << "a group's first start is no reset";
}

TEST_F(ObservabilityTest, StalledHttpClientsDoNotBlockHealthForOthers) {
  auto daemon = start_observed();
  boost::asio::io_context io;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::socket>> stalled;
  for (int i = 0; i < 50; ++i) {
    auto socket = std::make_unique<boost::asio::ip::tcp::socket>(io);
    socket->connect({boost::asio::ip::make_address("127.0.0.1"), port_});
    const std::string partial = "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    socket->write_some(boost::asio::buffer(partial));
    stalled.push_back(std::move(socket));
  }
  for (int i = 0; i < 5; ++i) {
    const auto live = http_request(port_, "GET", "/health/live", 2s);
    EXPECT_EQ(live.status, 200u) << live.error;
    EXPECT_NE(live.body.find("\"event_loop\""), std::string::npos);
  }
}

TEST_F(ObservabilityTest, AJobOnASilentRemoteEndsAtItsDeadlineAndLivenessHolds) {
  // A remote that accepts connections and never answers: libgit2 1.5 has no server timeout,
  // so only killing its worker process ends the job. Before worker processes this job
  // overran its deadline until liveness failed and the pod was restarted.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor stalled(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto url =
      "http://127.0.0.1:" + std::to_string(stalled.local_endpoint().port()) + "/stuck.git";
  auto daemon =
      start_observed({"--stuck-grace-seconds", "1", "--max-attempts", "1", "--allow-plain-http"});
  EXPECT_EQ(http_request(port_, "GET", "/health/live").status, 200u);
  enqueue({{url, R"({"schema":"mgit.sync-job/v1","job_id":"stuck-1","operation":"clone",)"
                 R"("repository":{"url":")" +
                     url + R"("},"target":"t/stuck","options":{"timeout_seconds":1}})"}});
  ASSERT_TRUE(daemon->wait_for_log(R"("msg":"git worker stopped")", 30s)) << daemon->log_text();
  EXPECT_TRUE(daemon->wait_for_log(R"("error_code":"timeout")", 10s));
  std::optional<double> restarts;
  ASSERT_TRUE(eventually(
      [&] {
        restarts = metric_sample(scrape(), R"(mgitd_worker_restarts_total{reason="deadline"})");
        return restarts.has_value();
      },
      10s));
  EXPECT_EQ(*restarts, 1.0);
  // Deadline 1 s, stuck grace 1 s: had the job overrun, liveness would have failed by now.
  std::this_thread::sleep_for(2500ms);
  const auto live = http_request(port_, "GET", "/health/live");
  EXPECT_EQ(live.status, 200u) << live.body;
  EXPECT_EQ(metric_sample(scrape(), "mgitd_oldest_job_age_seconds"), 0.0);
  stalled.close();
}

TEST_F(ObservabilityTest, ReadinessFollowsABrokerOutagePastTheGrace) {
  // A broker of its own, so stopping it disturbs no other test.
  TempDir kafka_dir;
  const auto script = std::string(MGITD_SOURCE_DIR) + "/scripts/kafka";
  const auto brokers = run_trimmed(script + " start " + shell_quote(kafka_dir.path().string()));
  struct StopBroker {
    std::string command;
    ~StopBroker() { std::system(command.c_str()); }
  } stop_at_end{script + " stop " + shell_quote(kafka_dir.path().string()) + " >/dev/null 2>&1"};
  {
    KafkaTestClient own(brokers);
    for (const auto& topic : {jobs_topic_, results_topic_, dlq_topic_}) own.create_topic(topic, 2);
  }
  auto args = daemon_args();
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--brokers") args[i + 1] = brokers;
  }
  constexpr int kGraceSeconds = 4;
  args.insert(args.end(), {"--broker-unready-grace-seconds", std::to_string(kGraceSeconds)});
  DaemonProcess daemon(MGITD_BINARY, args, dir_->path() / "outage.log");
  const auto port = wait_for_http_port(daemon, 60s);
  ASSERT_TRUE(port);
  port_ = *port;
  ASSERT_TRUE(
      eventually([&] { return http_request(port_, "GET", "/health/ready").status == 200; }, 60s));

  // The broker may stop answering as soon as its shutdown begins.
  const auto stopped_at = std::chrono::steady_clock::now();
  run_command(script + " stop " + shell_quote(kafka_dir.path().string()) + " >/dev/null 2>&1");
  HttpResult ready;
  ASSERT_TRUE(eventually(
      [&] {
        ready = http_request(port_, "GET", "/health/ready");
        return ready.status == 503;
      },
      60s));
  const auto unready_after = std::chrono::steady_clock::now() - stopped_at;
  EXPECT_GE(unready_after, std::chrono::seconds(kGraceSeconds))
      << "a shorter outage must not fail readiness";
  EXPECT_NE(ready.body.find(R"({"name":"broker_reachable","ok":false)"), std::string::npos)
      << ready.body;
  EXPECT_EQ(http_request(port_, "GET", "/health/live").status, 200u)
      << "a lost broker is not a reason to restart mgitd";
  EXPECT_EQ(metric_sample(scrape(), "mgitd_ready"), 0);

  // Back on the same port: ready again.
  EXPECT_EQ(run_trimmed(script + " start " + shell_quote(kafka_dir.path().string())), brokers);
  EXPECT_TRUE(
      eventually([&] { return http_request(port_, "GET", "/health/ready").status == 200; }, 90s));
  EXPECT_TRUE(
      daemon.wait_for_log(R"("msg":"health check passing","check":"broker_reachable")", 10s));
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait_exit(60s), 0);
}

TEST_F(ObservabilityTest, SighupReloadsTheLogLevel) {
  const auto repo = "hup-" + suffix_;
  create_repo(repo, 1);
  const auto config = dir_->path() / "mgitd.conf";
  std::ofstream(config) << "log_level = \"info\"\n";
  // A small partition buffer makes the pipeline log "partition paused" (a debug line).
  auto daemon = start_observed({"--config", config.string(), "--max-buffered-per-partition", "2"});
  auto burst = [&](const std::string& prefix) {
    std::vector<std::string> jobs;
    for (int i = 0; i < 8; ++i) {
      jobs.push_back(job_json(prefix + std::to_string(i), "sync", repo, "\"target\":\"t/hup\""));
    }
    enqueue_jobs(jobs, repo_url(repo));
  };
  burst("info-");
  ASSERT_EQ(wait_for_results(8, 60s).size(), 8u);
  EXPECT_EQ(daemon->log_text().find("\"level\":\"debug\""), std::string::npos);

  std::ofstream(config) << "log_level = \"debug\"\n";
  daemon->signal(SIGHUP);
  ASSERT_TRUE(daemon->wait_for_log(R"("msg":"config reloaded","log_level":"debug")", 10s));
  burst("debug-");
  ASSERT_EQ(wait_for_results(16, 60s).size(), 16u);
  EXPECT_TRUE(daemon->wait_for_log(R"("level":"debug","msg":"partition paused")", 10s));

  // A broken file keeps the running config.
  std::ofstream(config) << "log_level = \"shouting\"\n";
  daemon->signal(SIGHUP);
  EXPECT_TRUE(
      daemon->wait_for_log(R"("msg":"config reload failed; keeping the running config")", 10s));
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
}

TEST_F(ObservabilityTest, FiguresExporterOverheadOnThroughput) {
  // The same load with tracing off and on, alternated, each on a fresh daemon: the spans'
  // cost on jobs/s, and proof that the exporter kept up (every span exported, none dropped).
  constexpr int kRepos = 20;
  constexpr int kJobsPerRepo = 8;
  std::vector<std::string> repos;
  for (int r = 0; r < kRepos; ++r) {
    repos.push_back("overhead-" + suffix_ + "-" + std::to_string(r));
    create_repo(repos.back(), 2);
  }
  std::map<bool, std::vector<double>> rates;
  std::size_t total = 0;
  // Order off,on,on,off,off,on: neither mode always runs later (warmer caches, a busier
  // broker), and each run reads its own results topic so runs cost the same to observe.
  constexpr std::array<bool, 6> kTraced = {false, true, true, false, false, true};
  for (int run = 0; run < 6; ++run) {
    const bool traced = kTraced[static_cast<std::size_t>(run)];
    results_topic_ = "it.results." + suffix_ + ".run" + std::to_string(run);
    kafka_->create_topic(results_topic_, partitions_);
    total = 0;
    std::vector<std::string> extra = {"--workers", "4"};  // daemon_args() names the topic
    if (traced) {
      extra.insert(extra.end(), {"--otlp-endpoint", required_env("MGITD_TEST_OTLP_URL")});
    }
    auto daemon = start_observed(extra);
    ASSERT_TRUE(daemon->wait_for_log("partitions assigned", 60s));
    std::vector<std::pair<std::string, std::string>> records;
    for (int i = 0; i < kJobsPerRepo; ++i) {
      for (const auto& repo : repos) {
        const auto id = "o" + std::to_string(run) + "-" + repo + "-" + std::to_string(i);
        records.emplace_back(repo_url(repo),
                             job_json(id, "sync", repo,
                                      "\"target\":\"t/" + std::to_string(run) + "/" + repo + "\""));
      }
    }
    const auto started = std::chrono::steady_clock::now();
    enqueue(records);
    total += records.size();
    const auto results = wait_for_results(total, 300s);
    const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
    ASSERT_GE(results.size(), total);
    rates[traced].push_back(static_cast<double>(records.size()) / elapsed.count());
    if (traced) {
      // job + git.sync + kafka.produce per job
      EXPECT_TRUE(metric_reaches("mgitd_spans_exported_total",
                                 static_cast<double>(3 * records.size()), 30s));
      const auto text = scrape();
      EXPECT_EQ(metric_sample(text, R"(mgitd_spans_dropped_total{reason="queue_full"})"), 0);
      EXPECT_EQ(metric_sample(text, R"(mgitd_spans_dropped_total{reason="export_failed"})"), 0);
    }
    daemon->signal(SIGTERM);
    EXPECT_EQ(daemon->wait_exit(60s), 0);
  }
  // Medians: two cores shared with the broker, the git server and the Python receiver
  // make single runs noisy.
  const auto median = [](std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
  };
  std::printf(
      "[ figures ] exporter overhead: %d jobs per run, 3 runs each, median jobs/s "
      "tracing off %.1f, on %.1f, on/off = %.2f\n",
      kRepos * kJobsPerRepo, median(rates[false]), median(rates[true]),
      median(rates[true]) / median(rates[false]));
}

}  // namespace
}  // namespace mgit::test_support
