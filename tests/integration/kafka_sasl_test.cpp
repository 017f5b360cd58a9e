// mgitd and mgitctl against the real broker's SASL_SSL listener (scripts/kafka start --sasl):
// TLS with the CA the script made, SASL users whose passwords come from secrets files, ACLs
// and a quota set with the commands of docs/security/hardening.md.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "support/pipeline_fixture.hpp"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
using mgit::test_support::required_env;
using mgit::test_support::shell_quote;

struct Outcome {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr
};

Outcome run_shell(const std::string& command) {
  Outcome out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    out.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string password_in(const std::filesystem::path& secrets_file) {
  std::ifstream in(secrets_file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("sasl.password="))
      return line.substr(std::string("sasl.password=").size());
  }
  throw std::runtime_error("no sasl.password in " + secrets_file.string());
}

class KafkaSaslTest : public mgit::test_support::PipelineFixture {
 protected:
  void SetUp() override {
    PipelineFixture::SetUp();
    kafka_dir_ = required_env("MGITD_TEST_KAFKA_DIR");
    sasl_dir_ = kafka_dir_ / "sasl";
    std::ifstream(sasl_dir_ / "bootstrap") >> sasl_brokers_;
    ASSERT_FALSE(sasl_brokers_.empty()) << "broker not started with --sasl: " << kafka_dir_;
    for (const char* user : {"admin", "mgitd", "producer", "outsider"}) {
      passwords_.push_back(password_in(sasl_dir_ / (std::string(user) + ".secrets")));
    }
    // TearDown greps this test's logs, results, DLQ, audit records and spans for them too.
    secrets_.insert(secrets_.end(), passwords_.begin(), passwords_.end());
    secrets_.emplace_back(kWrongPassword);
  }

  /// mgitd's arguments with the SASL_SSL listener in place of the PLAINTEXT one.
  std::vector<std::string> sasl_daemon_args(const std::string& mechanism,
                                            const std::filesystem::path& secrets) const {
    auto args = daemon_args();
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--brokers") args[i + 1] = sasl_brokers_;
      // Long: only a refused authentication can end startup early.
      if (args[i] == "--startup-broker-timeout-seconds") args[i + 1] = "120";
    }
    args.insert(args.end(), {"--kafka-property", "security.protocol=SASL_SSL", "--kafka-property",
                             "sasl.mechanism=" + mechanism, "--kafka-property",
                             "ssl.ca.location=" + (sasl_dir_ / "ca.pem").string(),
                             "--kafka-secrets-file", secrets.string()});
    return args;
  }

  /// An mgitctl command line over SASL_SSL as the user whose secrets file is given.
  std::string mgitctl(const std::filesystem::path& secrets, const std::string& args) const {
    return std::string(MGITCTL_BINARY) + " --brokers " + sasl_brokers_ + " --jobs-topic " +
           jobs_topic_ + " --results-topic " + results_topic_ + " --dlq-topic " + dlq_topic_ +
           " --kafka-property security.protocol=SASL_SSL --kafka-property sasl.mechanism=PLAIN" +
           " --kafka-property ssl.ca.location=" + shell_quote((sasl_dir_ / "ca.pem").string()) +
           " --kafka-secrets-file " + shell_quote(secrets.string()) + " " + args;
  }

  /// A Kafka CLI tool as docs/security/hardening.md writes it, as the super user admin.
  std::string kafka_tool(const std::string& tool, const std::string& args) const {
    return shell_quote(std::string(MGITD_SOURCE_DIR) + "/scripts/kafka") + " tool " +
           shell_quote(kafka_dir_.string()) + " " + tool + " --bootstrap-server " + sasl_brokers_ +
           " --command-config " + shell_quote((sasl_dir_ / "admin.properties").string()) + " " +
           args;
  }

  void expect_no_password(const std::string& text, const std::string& where) const {
    for (const auto& password : passwords_) {
      EXPECT_THAT(text, Not(HasSubstr(password))) << "a password in " << where;
    }
  }

  std::filesystem::path wrong_password_file() const {
    const auto path = dir_->path() / "wrong.secrets";
    std::ofstream(path) << "sasl.username=mgitd\nsasl.password=" << kWrongPassword << "\n";
    return path;
  }

  static constexpr const char* kWrongPassword = "not-the-Passw0rd-of-mgitd";
  std::filesystem::path kafka_dir_;
  std::filesystem::path sasl_dir_;
  std::string sasl_brokers_;
  std::vector<std::string> passwords_;
};

TEST_F(KafkaSaslTest, AJobFlowsOverSaslSslWithinTheAclsAndAnUnlistedPrincipalIsRefused) {
  // The audit topic is mgitd's --audit-topic when the fixture names one.
  std::string audit_topic = "mgit.audit";
  const auto args = daemon_args();
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--audit-topic") audit_topic = args[i + 1];
  }
  // The ACLs and the quota of docs/security/hardening.md, for this test's topics; the JVM
  // tools start side by side.
  const std::vector<std::string> commands = {
      kafka_tool("kafka-acls.sh", "--add --allow-principal User:mgitd --operation Read --topic " +
                                      jobs_topic_ + " --group " + group_),
      kafka_tool("kafka-acls.sh", "--add --allow-principal User:mgitd --operation Write --topic " +
                                      results_topic_ + " --topic " + dlq_topic_ + " --topic " +
                                      audit_topic),
      kafka_tool("kafka-acls.sh",
                 "--add --allow-principal User:producer --operation Write --topic " + jobs_topic_),
      kafka_tool("kafka-acls.sh",
                 "--add --allow-principal User:producer --operation Read --topic " +
                     results_topic_ + " --group mgitctl- --resource-pattern-type prefixed"),
      // outsider may read the jobs (say, an auditor), so it sees the topic, but not write.
      kafka_tool("kafka-acls.sh",
                 "--add --allow-principal User:outsider --operation Read --topic " + jobs_topic_),
      kafka_tool("kafka-configs.sh",
                 "--alter --add-config 'producer_byte_rate=1048576,request_percentage=25' "
                 "--entity-type users --entity-name producer"),
  };
  std::string all;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    all += "( " + commands[i] + " ) >" + shell_quote((dir_->path() / std::to_string(i)).string()) +
           " 2>&1 & ";
  }
  const auto setup = run_shell(all +
                               "fail=0; for p in $(jobs -p); do wait $p || fail=1; done; "
                               "cat " +
                               shell_quote(dir_->path().string()) + "/[0-9]; " + "exit $fail");
  ASSERT_EQ(setup.exit_code, 0) << setup.output;
  expect_no_password(setup.output, "the tools' output");
  // The quota reaches the broker's metadata asynchronously after --alter: await it.
  const auto quota_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto quota = run_shell(
      kafka_tool("kafka-configs.sh", "--describe --entity-type users --entity-name producer"));
  while (quota.output.find("request_percentage=25.0") == std::string::npos &&
         std::chrono::steady_clock::now() < quota_deadline) {
    quota = run_shell(
        kafka_tool("kafka-configs.sh", "--describe --entity-type users --entity-name producer"));
  }
  ASSERT_EQ(quota.exit_code, 0) << quota.output;
  EXPECT_THAT(quota.output, HasSubstr("producer_byte_rate=1048576.0"));
  EXPECT_THAT(quota.output, HasSubstr("request_percentage=25.0"));

  const auto head = create_repo("sasl-" + suffix_);
  auto daemon = std::make_unique<mgit::test_support::DaemonProcess>(
      MGITD_BINARY, sasl_daemon_args("PLAIN", sasl_dir_ / "mgitd.secrets"),
      dir_->path() / "mgitd.log");

  const auto enqueued = run_shell(mgitctl(sasl_dir_ / "producer.secrets",
                                          "enqueue --job-id sasl-job --credential gitserver "
                                          "--target t/sasl --wait --timeout 120 --url " +
                                              repo_url("sasl-" + suffix_)));
  EXPECT_EQ(enqueued.exit_code, 0) << enqueued.output << daemon->log_text();
  EXPECT_THAT(enqueued.output, HasSubstr(R"("job_id":"sasl-job")"));
  EXPECT_THAT(enqueued.output, HasSubstr(R"("status":"succeeded")"));
  EXPECT_THAT(enqueued.output, HasSubstr(head));

  // Authenticated, but no ACL lets outsider write jobs: refused, and nothing is written.
  const auto refused =
      run_shell(mgitctl(sasl_dir_ / "outsider.secrets",
                        "enqueue --job-id intruder --url " + repo_url("sasl-" + suffix_)));
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  // With no Write ACL anywhere, the broker refuses outsider even the idempotent producer id
  // that comes before any record (KIP-679: Write on some topic grants it).
  EXPECT_THAT(refused.output, HasSubstr("Broker: Cluster authorization failed"));
  std::int64_t jobs_written = 0;
  for (const auto& [partition, end] : kafka_->end_offsets(jobs_topic_)) jobs_written += end;
  EXPECT_EQ(jobs_written, 1) << "only the producer's job";

  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0) << daemon->log_text();
  expect_no_password(daemon->log_text(), "mgitd's log");
  expect_no_password(enqueued.output, "mgitctl's output");
  expect_no_password(refused.output, "mgitctl's output");
}

TEST_F(KafkaSaslTest, AWrongPasswordStopsMgitdAtOnceAndMgitctlWithAnAuthenticationError) {
  const auto args = sasl_daemon_args("PLAIN", wrong_password_file());
  const auto started = std::chrono::steady_clock::now();
  mgit::test_support::DaemonProcess daemon(MGITD_BINARY, args, dir_->path() / "mgitd.log");
  const auto exit_code = daemon.wait_exit(60s);
  ASSERT_TRUE(exit_code.has_value()) << "still running after 60 s:\n" << daemon.log_text();
  EXPECT_EQ(*exit_code, 1) << daemon.log_text();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
  EXPECT_THAT(daemon.log_text(),
              HasSubstr("mgitd: Kafka authentication failed at " + sasl_brokers_ + ": "));
  EXPECT_THAT(daemon.log_text(), HasSubstr("Invalid username or password"));
  EXPECT_THAT(daemon.log_text(), Not(HasSubstr(kWrongPassword)));
  expect_no_password(daemon.log_text(), "mgitd's log");

  const auto ctl = run_shell(mgitctl(wrong_password_file(), "topics check"));
  EXPECT_NE(ctl.exit_code, 0) << ctl.output;
  EXPECT_THAT(ctl.output, HasSubstr("SASL authentication error")) << ctl.output;
  EXPECT_THAT(ctl.output, Not(HasSubstr(kWrongPassword)));
}

TEST_F(KafkaSaslTest, ScramSha512WithTheRightPasswordNamesLibrdkafkasLimitWithKafka4) {
  // The listener takes SCRAM-SHA-512 (scripts/kafka --sasl; its Java clients use it), but
  // librdkafka before 2.6.1 fails SCRAM against Kafka 4 brokers. Once the library is new
  // enough, the same setting must reach the broker instead.
  const auto args = sasl_daemon_args("SCRAM-SHA-512", sasl_dir_ / "mgitd.secrets");
  mgit::test_support::DaemonProcess daemon(MGITD_BINARY, args, dir_->path() / "mgitd.log");
  if (rd_kafka_version() < 0x020601ff) {
    const auto exit_code = daemon.wait_exit(60s);
    ASSERT_TRUE(exit_code.has_value()) << daemon.log_text();
    EXPECT_EQ(*exit_code, 1);
    EXPECT_THAT(daemon.log_text(), HasSubstr("Kafka authentication failed"));
    EXPECT_THAT(daemon.log_text(), HasSubstr(std::string("librdkafka ") + rd_kafka_version_str() +
                                             " cannot use SCRAM with them (fixed in 2.6.1)"));
  } else {
    // Authenticated: with no ACL on this test's topics, mgitd cannot see them.
    EXPECT_TRUE(daemon.wait_for_log("topic '" + jobs_topic_ + "' does not exist", 60s))
        << daemon.log_text();
    EXPECT_THAT(daemon.log_text(), Not(HasSubstr("Kafka authentication failed")));
  }
  expect_no_password(daemon.log_text(), "mgitd's log");
}

}  // namespace
