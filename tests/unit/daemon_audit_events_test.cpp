#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "audit_events.hpp"
#include "mgit/daemon/config.hpp"
#include "mgit/jobs/repository_key.hpp"
#include "mgit/security/credentials.hpp"
#include "support/test_environment.hpp"

namespace mgit::daemon {
namespace {

observability::JobContext context() {
  observability::JobContext ctx;
  ctx.job_id = "job-7";
  ctx.correlation_id = "req-7";
  ctx.trace_id = "0af7651916cd43dd8448eb211c80319c";
  return ctx;
}

jobs::JobResult result(jobs::Status status, std::optional<jobs::ErrorCode> code,
                       std::string message = "") {
  jobs::JobResult out;
  out.status = status;
  out.repository_url = "https://git.example.com:8443/org/app.git";
  if (code) out.error = jobs::JobError{*code, std::move(message)};
  return out;
}

std::vector<std::string> names(const std::vector<audit::AuditEvent>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) out.emplace_back(event.event);
  return out;
}

TEST(DaemonAuditEventsTest, APolicyDenialCarriesTheJobsIdsAndTheRedactedUrl) {
  const auto ctx = context();
  auto denied = result(jobs::Status::kRejected, jobs::ErrorCode::kPolicyDenied,
                       "repository.url must not carry a password or token");
  denied.repository_url = "https://user:hunter2-SECRET@git.example.com/org/app.git";
  const auto events =
      job_audit_events(AuditedJob{ctx, "", "https://git.example.com/org/app"}, denied);
  ASSERT_EQ(names(events), std::vector<std::string>{"policy_denied"});
  const auto line = audit::encode(events[0]);
  EXPECT_NE(line.find(R"("outcome":"denied","correlation_id":"req-7","job_id":"job-7",)"
                      R"("trace_id":"0af7651916cd43dd8448eb211c80319c")"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(R"("repository":"https://git.example.com/org/app.git")"), std::string::npos)
      << line;
  EXPECT_NE(line.find(R"("host":"git.example.com")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("error_code":"policy_denied")"), std::string::npos) << line;
  EXPECT_EQ(line.find("hunter2"), std::string::npos) << line;
}

TEST(DaemonAuditEventsTest, EachBackupOfAForcedUpdateIsAnEvent) {
  const auto ctx = context();
  auto ran = result(jobs::Status::kSucceeded, std::nullopt);
  ran.repository_url = "https://user:hunter2-SECRET@git.example.com/org/app.git";
  ran.target = "mirrors/app";
  const std::string a(40, 'a');
  const std::string b(40, 'b');
  jobs::RefUpdate moved{"refs/heads/main", a, b};
  moved.forced = true;
  moved.backup_ref = "refs/mgitd/backup/refs/heads/main/20261206T114501Z";
  jobs::RefUpdate deleted{"refs/heads/gone", b, ""};
  deleted.forced = true;
  deleted.backup_ref = "refs/mgitd/backup/refs/heads/gone/20261206T114501Z";
  jobs::RefUpdate not_backed_up{"refs/pull/1/head", a, b};
  not_backed_up.forced = true;
  ran.report.refs_updated = {moved, deleted, not_backed_up, {"refs/heads/ff", a, b}};
  const auto events = job_audit_events(AuditedJob{ctx, "", ""}, ran);
  ASSERT_EQ(names(events), (std::vector<std::string>{"ref_backup", "ref_backup"}));
  EXPECT_EQ(events[0].outcome, "forced");
  EXPECT_EQ(events[1].outcome, "deleted");
  const auto line = audit::encode(events[0]);
  EXPECT_NE(line.find(R"("job_id":"job-7")"), std::string::npos) << line;
  EXPECT_NE(
      line.find(R"("target":"mirrors/app","ref":"refs/heads/main","old":")" + a + R"(","new":")" +
                b + R"(","backup_ref":"refs/mgitd/backup/refs/heads/main/20261206T114501Z")"),
      std::string::npos)
      << line;
  EXPECT_EQ(line.find("hunter2"), std::string::npos) << line;

  // A replay moved nothing: no events.
  ran.report.replayed = true;
  EXPECT_TRUE(job_audit_events(AuditedJob{ctx, "", ""}, ran).empty());
}

TEST(DaemonAuditEventsTest, ADenialNamingTheCredentialIsAlsoACredentialRefusal) {
  const auto ctx = context();
  const auto events = job_audit_events(
      AuditedJob{ctx, "org-token", "https://git.example.com/org/app"},
      result(jobs::Status::kRejected, jobs::ErrorCode::kPolicyDenied,
             "credential org-token has no hosts= line; add hosts=git.example.com"));
  EXPECT_EQ(names(events), (std::vector<std::string>{"policy_denied", "credential_refused"}));
  EXPECT_EQ(events[1].outcome, "policy_denied");
}

TEST(DaemonAuditEventsTest, ACredentialUsedByARunJobNamesItAndItsHostWithTheJobsOutcome) {
  // A real credential file with a secret: nothing the daemon builds from the job may carry it.
  test_support::TempDir dir;
  const std::string secret = "tok-9f8e7d6c5b4a-SECRET";
  std::ofstream(dir.path() / "org-token")
      << "username=x-access-token\npassword=" << secret << "\nhosts=git.example.com:8443\n";
  security::CredentialStore store(dir.path());
  ASSERT_TRUE(store.load("org-token"));

  const auto ctx = context();
  const AuditedJob job{ctx, "org-token", "https://git.example.com:8443/org/app"};
  auto ok = job_audit_events(job, result(jobs::Status::kSucceeded, std::nullopt));
  ASSERT_EQ(names(ok), std::vector<std::string>{"credential_use"});
  EXPECT_EQ(ok[0].outcome, "succeeded");
  const auto line = audit::encode(ok[0]);
  EXPECT_NE(line.find(R"("host":"git.example.com:8443","credential":"org-token")"),
            std::string::npos)
      << line;

  auto refused = job_audit_events(
      job, result(jobs::Status::kFailed, jobs::ErrorCode::kAuthFailed, "authentication failed"));
  EXPECT_EQ(names(refused), (std::vector<std::string>{"credential_use", "credential_refused"}));
  EXPECT_EQ(refused[0].outcome, "failed");
  EXPECT_EQ(refused[1].outcome, "auth_failed");
  for (const auto& event : refused) {
    EXPECT_EQ(audit::encode(event).find(secret), std::string::npos);
  }
  EXPECT_EQ(line.find(secret), std::string::npos);
}

TEST(DaemonAuditEventsTest, AWithdrawnAttemptStillRecordsItsCredentialUse) {
  const auto ctx = context();
  const AuditedJob job{ctx, "org-token", "https://git.example.com:8443/org/app"};
  const auto event =
      withdrawn_credential_use(job, "https://u:tok-SECRET@git.example.com:8443/org/app.git");
  EXPECT_EQ(event.event, "credential_use");
  EXPECT_EQ(event.outcome, "withdrawn");
  EXPECT_EQ(event.job_id, "job-7");
  const auto line = audit::encode(event);
  EXPECT_NE(line.find(R"("host":"git.example.com:8443","credential":"org-token")"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("tok-SECRET"), std::string::npos) << line;
}

TEST(DaemonAuditEventsTest, NoCredentialUseWhenNothingWasSent) {
  const auto ctx = context();
  const AuditedJob job{ctx, "org-token", "https://git.example.com/org/app"};
  auto replay = result(jobs::Status::kSucceeded, std::nullopt);
  replay.report.replayed = true;
  EXPECT_TRUE(job_audit_events(job, replay).empty()) << "a replay connects to nobody";
  auto coalesced = result(jobs::Status::kSucceeded, std::nullopt);
  coalesced.served_by = "job-6";
  EXPECT_TRUE(job_audit_events(job, coalesced).empty()) << "job-6's execution used it, once";
  EXPECT_TRUE(job_audit_events(job, result(jobs::Status::kExpired, std::nullopt)).empty());
  EXPECT_TRUE(job_audit_events(job, result(jobs::Status::kRejected, jobs::ErrorCode::kInvalidJob,
                                           "operation is unknown"))
                  .empty());
  EXPECT_TRUE(job_audit_events(AuditedJob{ctx, "", "https://git.example.com/org/app"},
                               result(jobs::Status::kSucceeded, std::nullopt))
                  .empty());
  EXPECT_EQ(names(job_audit_events(job, result(jobs::Status::kFailed, jobs::ErrorCode::kRateLimited,
                                               "host busy until the deadline"))),
            std::vector<std::string>{"rate_limited"});
}

TEST(DaemonAuditEventsTest, ConfigEventsCarryTheConfigWithSecretsMasked) {
  Config config;
  config.kafka_env_secrets = {{"sasl.password", "kafka-SECRET-pw"}};
  config.kafka_properties = {{"sasl.username", "mgitd"}};
  config.otlp_endpoint = "https://user:otlp-SECRET@collector.example:4318/v1/traces";
  const auto line =
      audit::encode(config_event(audit::kConfigLoaded, describe_config(config), false));
  EXPECT_NE(line.find(R"("event":"config_loaded","outcome":"loaded")"), std::string::npos);
  EXPECT_NE(line.find(R"("kafka_env_secrets":["sasl.password"])"), std::string::npos) << line;
  EXPECT_EQ(line.find("kafka-SECRET-pw"), std::string::npos) << line;
  EXPECT_EQ(line.find("otlp-SECRET"), std::string::npos) << line;
}

TEST(DaemonAuditEventsTest, HostOfARepositoryKeyKeepsANonDefaultPort) {
  EXPECT_EQ(jobs::host_of_repository_key("https://git.example.com/org/app"), "git.example.com");
  EXPECT_EQ(jobs::host_of_repository_key("ssh://git.example.com:2222/org/app"),
            "git.example.com:2222");
  EXPECT_EQ(jobs::host_of_repository_key("https://[::1]:8443/x"), "[::1]:8443");
  const auto cooldown =
      audit::encode(host_cooldown_event("git.example.com", std::chrono::seconds(30), "http_429"));
  EXPECT_NE(cooldown.find(R"("host":"git.example.com","cooldown_ms":30000,"reason":"http_429")"),
            std::string::npos)
      << cooldown;
}

}  // namespace
}  // namespace mgit::daemon
