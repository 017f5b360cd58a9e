// The audit trail against the real broker and git server: a job's security events reach the
// audit topic (or the file sink) with the job's ids and without its secrets, and an audit
// topic that does not acknowledge holds intake until it does.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <fstream>
#include <string>
#include <vector>

#include "support/http_client.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/prometheus_text.hpp"

namespace mgit::test_support {
namespace {

using namespace std::chrono_literals;

struct AuditRecord {
  std::string event;
  std::string outcome;
  std::string job_id;
  std::string correlation_id;
  std::string trace_id;
  std::string raw;
};

std::optional<AuditRecord> parse_audit(const std::string& line) {
  rapidjson::Document doc;
  doc.Parse(line.c_str(), line.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  auto text = [&doc](const char* name) -> std::string {
    return doc.HasMember(name) && doc[name].IsString() ? doc[name].GetString() : "";
  };
  if (text("ts").empty()) return std::nullopt;
  return AuditRecord{text("event"),          text("outcome"),  text("job_id"),
                     text("correlation_id"), text("trace_id"), line};
}

std::optional<AuditRecord> find_event(const std::vector<AuditRecord>& records,
                                      const std::string& event, const std::string& job_id) {
  for (const auto& record : records) {
    if (record.event == event && record.job_id == job_id) return record;
  }
  return std::nullopt;
}

class AuditTest : public PipelineFixture {
 protected:
  /// The fixture's daemon with one flag's value replaced (a flag may be given once).
  std::unique_ptr<DaemonProcess> start_daemon_with(const std::string& flag,
                                                   const std::string& value,
                                                   const std::vector<std::string>& extra = {}) {
    auto args = daemon_args();
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == flag) args[i + 1] = value;
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<DaemonProcess>(
        MGITD_BINARY, args, dir_->path() / ("audit-" + std::to_string(++daemon_count_) + ".log"));
  }

  /// Reads the audit topic until `event` for `job_id` is there.
  std::vector<AuditRecord> wait_for_audit(const std::string& topic, const std::string& event,
                                          const std::string& job_id,
                                          std::chrono::milliseconds timeout) {
    std::vector<AuditRecord> out;
    const auto records = kafka_->read_until(
        topic,
        [&](const std::vector<TestRecord>& seen) {
          for (const auto& record : seen) {
            const auto parsed = parse_audit(record.value);
            if (parsed && parsed->event == event && parsed->job_id == job_id) return true;
          }
          return false;
        },
        timeout);
    for (const auto& record : records) {
      if (auto parsed = parse_audit(record.value)) out.push_back(std::move(*parsed));
    }
    return out;
  }

  /// A job whose URL carries a token: answered rejected/policy_denied before anything runs.
  std::string denied_job(const std::string& job_id) const {
    return R"({"schema":"mgit.sync-job/v1","job_id":")" + job_id +
           R"(","operation":"sync","repository":{"url":"https://oauth2:)" + kUrlSecret +
           R"(@git.example.com/org/app.git"}})";
  }

  void enqueue_traced(const std::string& payload, const std::string& correlation_id,
                      const std::string& trace_id) {
    kafka_->produce(jobs_topic_,
                    {{"https://git.example.com/org/app",
                      payload,
                      {{"content-type", "application/json"},
                       {"correlation-id", correlation_id},
                       {"traceparent", "00-" + trace_id + "-" + random_suffix(16) + "-01"}}}});
  }

  static constexpr const char* kUrlSecret = "glpat-AUDITSECRET42";
};

TEST_F(AuditTest, AJobsSecurityEventsReachTheAuditTopicWithItsIdsAndNoSecret) {
  const auto repo = "audited-" + suffix_;
  create_repo(repo, 1);
  auto daemon = start_daemon();
  const auto trace_id = random_suffix(32);
  const auto denied_id = "denied-" + suffix_;
  enqueue_traced(denied_job(denied_id), "corr-denied-" + suffix_, trace_id);
  const auto used_id = "used-" + suffix_;
  enqueue_jobs({job_json(used_id, "clone", repo, R"("target":"t/audited")")}, repo_url(repo));

  const auto results = wait_for_results(2, 90s);
  ASSERT_EQ(results.size(), 2u);
  const auto audit = wait_for_audit(audit_topic_, "credential_use", used_id, 30s);

  const auto denied = find_event(audit, "policy_denied", denied_id);
  ASSERT_TRUE(denied) << "no policy_denied record for " << denied_id;
  EXPECT_EQ(denied->outcome, "denied");
  EXPECT_EQ(denied->correlation_id, "corr-denied-" + suffix_);
  EXPECT_EQ(denied->trace_id, trace_id) << "the intake's trace";
  for (const auto& result : results) {
    if (result.job_id == denied_id) {
      EXPECT_EQ(result.trace_id, denied->trace_id);
    }
  }
  EXPECT_NE(denied->raw.find(R"("repository":"https://git.example.com/org/app.git")"),
            std::string::npos)
      << denied->raw;

  const auto used = find_event(audit, "credential_use", used_id);
  ASSERT_TRUE(used);
  EXPECT_EQ(used->outcome, "succeeded");
  EXPECT_EQ(used->correlation_id, used_id) << "falls back to the job id";
  EXPECT_NE(used->raw.find(R"("credential":"gitserver")"), std::string::npos) << used->raw;
  EXPECT_TRUE(find_event(audit, "config_loaded", "")) << "the startup configuration";

  for (const auto& record : audit) {
    EXPECT_EQ(record.raw.find(kUrlSecret), std::string::npos) << record.raw;
    EXPECT_EQ(record.raw.find(git_password_), std::string::npos) << record.raw;
  }

  // SIGHUP: the reload is audited with the effective configuration.
  daemon->signal(SIGHUP);
  const auto reloaded =
      find_event(wait_for_audit(audit_topic_, "config_reloaded", "", 30s), "config_reloaded", "");
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloaded->outcome, "loaded");
  EXPECT_NE(reloaded->raw.find(R"("restart_needed":false,"config":{"brokers":)"), std::string::npos)
      << reloaded->raw;
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
}

TEST_F(AuditTest, TheFileSinkAppendsTheEventsInsteadOfTheTopic) {
  const auto path = dir_->path() / "audit.jsonl";
  auto daemon = start_daemon({"--audit-sink", "file", "--audit-file", path.string()});
  const auto trace_id = random_suffix(32);
  const auto denied_id = "file-denied-" + suffix_;
  enqueue_traced(denied_job(denied_id), "corr-file-" + suffix_, trace_id);
  ASSERT_EQ(wait_for_results(1, 60s).size(), 1u);

  std::optional<AuditRecord> denied;
  ASSERT_TRUE(eventually(
      [&] {
        std::ifstream in(path);
        for (std::string line; std::getline(in, line);) {
          const auto parsed = parse_audit(line);
          if (parsed && parsed->event == "policy_denied" && parsed->job_id == denied_id) {
            denied = parsed;
          }
        }
        return denied.has_value();
      },
      30s));
  EXPECT_EQ(denied->correlation_id, "corr-file-" + suffix_);
  EXPECT_EQ(denied->trace_id, trace_id);
  std::ifstream in(path);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all.find(kUrlSecret), std::string::npos);
  EXPECT_EQ(kafka_->end_offsets(audit_topic_), (std::map<std::int32_t, std::int64_t>{{0, 0}}))
      << "nothing on the topic";
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
}

TEST_F(AuditTest, AnAuditTopicThatRefusesEventsHoldsIntakeUntilItRecovers) {
  // An audit topic that refuses every event (MESSAGE_TOO_LARGE) while results still flow.
  // (min.insync.replicas above the replica count does not stop a single-node Kafka 4.1:
  // its effective minimum is capped at the replication factor.)
  const auto outage_topic = "it.audit-outage." + suffix_;
  kafka_->create_topic(outage_topic, 1, {{"max.message.bytes", "64"}});
  auto daemon =
      start_daemon_with("--audit-topic", outage_topic, {"--audit-ack-timeout-seconds", "2"});
  const auto port = wait_for_http_port(*daemon, 60s);
  ASSERT_TRUE(port);
  HttpResult ready;
  // The startup's config_loaded event is refused: intake is held, not ready.
  ASSERT_TRUE(eventually(
      [&] {
        ready = http_request(*port, "GET", "/health/ready");
        return ready.status == 503 && ready.body.find("audit") != std::string::npos;
      },
      60s))
      << ready.body << daemon->log_text();
  EXPECT_TRUE(daemon->wait_for_log("intake held: the audit trail is not keeping up", 10s));

  const auto denied_id = "held-" + suffix_;
  enqueue_traced(denied_job(denied_id), "corr-held-" + suffix_, random_suffix(32));
  EXPECT_TRUE(wait_for_results(1, 8s).empty()) << "a held intake answers nothing";

  kafka_->set_topic_configs(outage_topic, {{"max.message.bytes", "1048576"}});
  ASSERT_EQ(wait_for_results(1, 90s).size(), 1u) << "intake reopened";
  const auto audit = wait_for_audit(outage_topic, "policy_denied", denied_id, 30s);
  EXPECT_TRUE(find_event(audit, "policy_denied", denied_id));
  EXPECT_TRUE(find_event(audit, "config_loaded", ""));
  EXPECT_TRUE(daemon->wait_for_log("intake reopened: audit events delivered", 10s));
  EXPECT_TRUE(
      eventually([&] { return http_request(*port, "GET", "/health/ready").status == 200; }, 30s));
  const auto metrics = http_request(*port, "GET", "/metrics").body;
  EXPECT_EQ(metric_sample(metrics, "mgitd_audit_dropped_total"), 0);
  EXPECT_EQ(metric_sample(metrics, "mgitd_audit_events_total{event=\"policy_denied\"}"), 1);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
}

TEST_F(AuditTest, AMissingAuditTopicStopsStartupWithAClearMessage) {
  auto daemon = start_daemon_with("--audit-topic", "it.audit-absent." + suffix_);
  EXPECT_EQ(daemon->wait_exit(60s), 1);
  EXPECT_NE(daemon->log_text().find("topic 'it.audit-absent." + suffix_ + "' does not exist"),
            std::string::npos);
}

}  // namespace
}  // namespace mgit::test_support
