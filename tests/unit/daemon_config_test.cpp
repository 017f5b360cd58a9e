#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "mgit/daemon/config.hpp"
#include "mgit/daemon/pipeline_settings.hpp"
#include "mgit/transport/kafka_secrets.hpp"
#include "support/config_load_test.hpp"

namespace mgit::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

class ConfigTest : public test_support::ConfigLoadTest {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mgitd_config_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write_file(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigTest, DefaultsMatchTheSpec) {
  const auto result = load({});
  ASSERT_TRUE(result.config) << err_;
  const Config& c = *result.config;
  EXPECT_EQ(c.brokers, "localhost:9092");
  EXPECT_EQ(c.group_id, "mgitd");
  EXPECT_EQ(c.jobs_topic, "mgit.sync.jobs");
  EXPECT_EQ(c.results_topic, "mgit.sync.results");
  EXPECT_EQ(c.dlq_topic, "mgit.sync.dlq");
  EXPECT_TRUE(c.kafka_properties.empty());
  EXPECT_EQ(c.workspace, "/var/lib/mgitd");
  EXPECT_EQ(c.credentials_dir, "/etc/mgitd/credentials");
  EXPECT_EQ(c.workers, 4);
  EXPECT_EQ(c.max_in_flight, 256);
  EXPECT_EQ(c.max_buffered_per_partition, 64);
  EXPECT_EQ(c.max_attempts, 3);
  EXPECT_EQ(c.revoke_grace_seconds, 20);
  EXPECT_EQ(c.startup_broker_timeout_seconds, 60);
  EXPECT_EQ(c.broker_unready_grace_seconds, 60);
  EXPECT_EQ(c.stuck_grace_seconds, 60);
  EXPECT_EQ(c.min_free_disk_percent, 10);
  EXPECT_EQ(c.max_message_bytes, 65536);
  EXPECT_EQ(c.job_timeout_seconds, 600);
  EXPECT_EQ(c.shutdown_grace_seconds, 30);
  EXPECT_EQ(c.http_listen, "0.0.0.0:8080");
  EXPECT_EQ(c.otlp_endpoint, "");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_FALSE(c.embedded_broker);
}

TEST_F(ConfigTest, RelativeWorkspaceBecomesAbsolute) {
  // Workers run in the workspace: a relative path would name another directory there.
  const auto result = load({"--workspace", "relative/./ws"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->workspace, (std::filesystem::current_path() / "relative/ws").string());
}

TEST_F(ConfigTest, AuditSettingsComeFromEverySourceWithTheSamePrecedence) {
  auto result = load({});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->audit_sink, "kafka");
  EXPECT_EQ(result.config->audit_topic, "mgit.audit");
  EXPECT_EQ(result.config->audit_file, "");
  EXPECT_EQ(result.config->audit_buffer_events, 4096);
  EXPECT_EQ(result.config->audit_ack_timeout_seconds, 10);

  const auto file =
      write_file("audit.conf",
                 "audit_sink = \"file\"\naudit_file = \"/var/log/mgitd/audit.jsonl\"\n"
                 "audit_buffer_events = 100\naudit_ack_timeout_seconds = 3\n");
  env_["MGITD_AUDIT_BUFFER_EVENTS"] = "200";
  result = load({"--config", file, "--audit-ack-timeout-seconds", "5"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->audit_sink, "file");
  EXPECT_EQ(result.config->audit_file, "/var/log/mgitd/audit.jsonl");
  EXPECT_EQ(result.config->audit_buffer_events, 200) << "env over file";
  EXPECT_EQ(result.config->audit_ack_timeout_seconds, 5) << "flag over file";
  EXPECT_THAT(describe_config(*result.config),
              HasSubstr(R"("audit_sink":"file","audit_topic":"mgit.audit")"));
}

TEST_F(ConfigTest, FlagBeatsEnvBeatsFile) {
  const auto file = write_file("mgitd.conf", "# comment\nworkers = 2\n");

  // All three sources set workers: the flag wins.
  env_["MGITD_WORKERS"] = "3";
  auto result = load({"--config", file, "--workers", "5"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->workers, 5);

  // File and env: env wins.
  result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->workers, 3);

  // File only.
  env_.clear();
  result = load({"--config=" + file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->workers, 2);
  EXPECT_EQ(result.config->config_file, file);
}

TEST_F(ConfigTest, GitCaFileFromFlagEnvAndFile) {
  EXPECT_EQ(load({}).config->git_ca_file, "") << "none by default: the system's CAs only";
  const auto file = write_file("mgitd.conf", "git_ca_file = \"/etc/mgitd/file-ca.pem\"\n");
  auto result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->git_ca_file, "/etc/mgitd/file-ca.pem");
  env_["MGITD_GIT_CA_FILE"] = "/etc/mgitd/env-ca.pem";
  result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->git_ca_file, "/etc/mgitd/env-ca.pem");
  result = load({"--config", file, "--git-ca-file", "/etc/mgitd/flag-ca.pem"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->git_ca_file, "/etc/mgitd/flag-ca.pem");
  EXPECT_THAT(describe_config(*result.config),
              HasSubstr("\"git_ca_file\":\"/etc/mgitd/flag-ca.pem\""));
}

TEST_F(ConfigTest, ConfigFileNamedByEnvironment) {
  const auto file = write_file("mgitd.conf", "log_level = \"debug\"\nworkers = 7\n");
  env_["MGITD_CONFIG"] = file;
  const auto result = load({});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->log_level, "debug");
  EXPECT_EQ(result.config->workers, 7);
}

TEST_F(ConfigTest, PrecedenceIsPerKey) {
  const auto file =
      write_file("mgitd.conf", "workers = 2\nmax_attempts = 5\ngroup_id = 'from-file'\n");
  env_["MGITD_MAX_ATTEMPTS"] = "6";
  env_["MGITD_BROKERS"] = "kafka-a:9092,kafka-b:9092";
  const auto result = load({"--config", file, "--group-id", "from-flag"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->workers, 2);
  EXPECT_EQ(result.config->max_attempts, 6);
  EXPECT_EQ(result.config->group_id, "from-flag");
  EXPECT_EQ(result.config->brokers, "kafka-a:9092,kafka-b:9092");
}

TEST_F(ConfigTest, EmptyEnvironmentVariableCountsAsUnset) {
  const auto file = write_file("mgitd.conf", "otlp_endpoint = \"http://collector:4318\"\n");
  env_["MGITD_OTLP_ENDPOINT"] = "";
  const auto result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->otlp_endpoint, "http://collector:4318");
}

TEST_F(ConfigTest, KafkaPropertyIsTakenWholeFromTheHighestSource) {
  const auto file = write_file("mgitd.conf",
                               "kafka_property = [\"security.protocol=SASL_SSL\",\n"
                               "                  \"sasl.mechanism=PLAIN\",  # spans lines\n"
                               "                  'client.rack=a']\n");
  env_["MGITD_KAFKA_PROPERTY"] = "security.protocol=SSL,ssl.cipher.suites=A,B";

  auto result = load({"--config", file, "--kafka-property", "socket.timeout.ms=1000",
                      "--kafka-property", "client.id=x"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_THAT(result.config->kafka_properties,
              ElementsAre(Pair("socket.timeout.ms", "1000"), Pair("client.id", "x")));

  result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_THAT(result.config->kafka_properties,
              ElementsAre(Pair("security.protocol", "SSL"), Pair("ssl.cipher.suites", "A,B")));

  env_.clear();
  result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_THAT(result.config->kafka_properties,
              ElementsAre(Pair("security.protocol", "SASL_SSL"), Pair("sasl.mechanism", "PLAIN"),
                          Pair("client.rack", "a")));
}

TEST_F(ConfigTest, SecretKafkaPropertiesAreRefusedFromEverySource) {
  auto result = load({"--kafka-property", "sasl.password=hunter2"});
  EXPECT_FALSE(result.config);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr("sasl.password"));
  EXPECT_THAT(err_, HasSubstr("kafka_secrets_file"));
  EXPECT_THAT(err_, Not(HasSubstr("hunter2")));

  env_["MGITD_KAFKA_PROPERTY"] = "ssl.key.password=hunter2";
  result = load({});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr("MGITD_KAFKA_PROPERTY"));
  EXPECT_THAT(err_, Not(HasSubstr("hunter2")));
  env_.clear();

  const auto file =
      write_file("mgitd.conf", "kafka_property = [\"sasl.oauthbearer.client.secret=x\"]\n");
  result = load({"--config", file});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr("sasl.oauthbearer.client.secret"));

  for (const char* key : {"ssl.keystore.password", "ssl.key.pem", "ssl_key",
                          "sasl.oauthbearer.config", "SASL.PASSWORD"}) {
    EXPECT_TRUE(transport::is_secret_kafka_key(key)) << key;
  }
  for (const char* key : {"security.protocol", "sasl.mechanism", "sasl.username", "ssl.ca.location",
                          "ssl.key.location"}) {
    EXPECT_FALSE(transport::is_secret_kafka_key(key)) << key;
  }
}

TEST_F(ConfigTest, KafkaPropertyMustBeKeyValue) {
  const auto result = load({"--kafka-property", "security.protocol"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr("key=value"));
}

TEST_F(ConfigTest, KafkaPropertyWithoutEqualsIsNotEchoed) {
  // A password typed where `key=value` belongs must not reach stderr (or a CI log).
  const auto result = load({"--kafka-property", "sasl.password hunter2secret"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr("key=value"));
  EXPECT_THAT(err_, Not(HasSubstr("hunter2secret")));
}

TEST_F(ConfigTest, SecretsComeFromTheEnvironmentAndTheSecretsFile) {
  const auto secrets = write_file("kafka.secrets",
                                  "# mounted from a Secret\n"
                                  "sasl.username=mgitd\n"
                                  "sasl.password= pa=ss word \n");
  env_["MGITD_KAFKA_SECRETS_FILE"] = secrets;
  env_["MGITD_KAFKA_SECRET_SASL_PASSWORD"] = "from-env";
  const auto result = load({"--kafka-property", "security.protocol=SASL_SSL"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_THAT(result.config->kafka_env_secrets, ElementsAre(Pair("sasl.password", "from-env")));
  EXPECT_THAT(transport::read_kafka_secrets(secrets),
              ElementsAre(Pair("sasl.username", "mgitd"), Pair("sasl.password", "pa=ss word ")));
  // Later entries win when handed to librdkafka in order.
  EXPECT_THAT(kafka_settings(*result.config),
              ElementsAre(Pair("security.protocol", "SASL_SSL"), Pair("sasl.username", "mgitd"),
                          Pair("sasl.password", "pa=ss word "), Pair("sasl.password", "from-env")));

  const auto description = describe_config(*result.config);
  EXPECT_THAT(description, Not(HasSubstr("from-env")));
  EXPECT_THAT(description, Not(HasSubstr("pa=ss")));
  EXPECT_THAT(description, HasSubstr("\"kafka_env_secrets\":[\"sasl.password\"]"));
  EXPECT_THAT(description, HasSubstr("\"security.protocol\":\"SASL_SSL\""));
  EXPECT_THAT(description, HasSubstr("\"workers\":4"));
}

TEST_F(ConfigTest, UnreadableSecretsFileThrows) {
  EXPECT_THROW(transport::read_kafka_secrets((dir_ / "missing").string()), std::runtime_error);
  const auto bad = write_file("bad.secrets", "sasl.password\n");
  try {
    transport::read_kafka_secrets(bad);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("line 1"));
  }
}

TEST_F(ConfigTest, DescribeConfigRedactsUrlsInBrokersAndPropertyValues) {
  Config config;
  config.brokers = "SASL_SSL://svc:brokerpass1@kafka-0:9093,kafka-1:9093";
  config.kafka_properties = {
      {"sasl.oauthbearer.token.endpoint.url", "https://client:idpsecret9@idp.example/token"}};
  const auto description = describe_config(config);
  EXPECT_THAT(description, Not(HasSubstr("brokerpass1")));
  EXPECT_THAT(description, Not(HasSubstr("idpsecret9")));
  EXPECT_THAT(description, HasSubstr("SASL_SSL://kafka-0:9093,kafka-1:9093"));
  EXPECT_THAT(description, HasSubstr("https://idp.example/token"));
}

TEST_F(ConfigTest, DescribeConfigMasksUserinfoAndEscapes) {
  Config config;
  config.otlp_endpoint = "https://user:tok@collector:4318/v1/traces";
  config.workspace = "/var/lib/\"odd\"";
  const auto description = describe_config(config);
  EXPECT_THAT(description, HasSubstr("\"otlp_endpoint\":\"https://collector:4318/v1/traces\""));
  EXPECT_THAT(description, HasSubstr(R"("workspace":"/var/lib/\"odd\"")"));
  EXPECT_EQ(description.front(), '{');
  EXPECT_EQ(description.back(), '}');
}

struct InvalidCase {
  std::vector<std::string> args;
  std::string message;
};

TEST_F(ConfigTest, InvalidValuesExitWithTwo) {
  const std::vector<InvalidCase> cases{
      {{"--workers", "0"}, "--workers"},
      {{"--workers", "257"}, "--workers"},
      {{"--workers", "many"}, "--workers"},
      {{"--workers", "8", "--max-in-flight", "4"}, "max_in_flight"},
      {{"--max-buffered-per-partition", "0"}, "--max-buffered-per-partition"},
      {{"--max-attempts", "21"}, "--max-attempts"},
      {{"--min-free-disk-percent", "100"}, "--min-free-disk-percent"},
      {{"--max-message-bytes", "1023"}, "--max-message-bytes"},
      {{"--max-message-bytes", "10485761"}, "--max-message-bytes"},
      {{"--log-level", "verbose"}, "--log-level"},
      {{"--http-listen", "0.0.0.0:70000"}, "port"},
      {{"--http-listen", "localhost"}, "HOST:PORT"},
      {{"--brokers", "a:9092,,b:9092"}, "empty broker"},
      {{"--results-topic", "mgit.sync.jobs"}, "must differ"},
      {{"--audit-sink", "syslog"}, "--audit-sink"},
      {{"--audit-sink", "file"}, "audit_sink = file needs audit_file"},
      {{"--audit-topic", "mgit.sync.results"}, "audit_topic (mgit.sync.results) must differ"},
      {{"--audit-buffer-events", "15"}, "--audit-buffer-events"},
      {{"--audit-ack-timeout-seconds", "0"}, "--audit-ack-timeout-seconds"},
      {{"--jobs-topic", "bad/topic"}, "topic"},
      {{"--otlp-endpoint", "collector:4318"}, "http"},
      {{"--no-such-flag"}, "no-such-flag"},
      {{"--config", "/nonexistent/mgitd.conf"}, "cannot be read"},
  };
  for (const auto& c : cases) {
    const auto result = load(c.args);
    EXPECT_FALSE(result.config) << c.args.front();
    EXPECT_EQ(result.exit_code, 2) << c.args.front();
    EXPECT_THAT(err_, HasSubstr(c.message)) << c.args.front();
  }
}

TEST_F(ConfigTest, InvalidEnvironmentValueNamesTheVariable) {
  env_["MGITD_MAX_ATTEMPTS"] = "0";
  const auto result = load({});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr("MGITD_MAX_ATTEMPTS"));
}

TEST_F(ConfigTest, EnvironmentValueOverriddenByAFlagIsNotValidated) {
  env_["MGITD_WORKERS"] = "zero";
  const auto result = load({"--workers", "3"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->workers, 3);
}

TEST_F(ConfigTest, UnknownOrMalformedFileKeysAreErrors) {
  auto file = write_file("unknown.conf", "workers = 2\nworker_count = 3\n");
  auto result = load({"--config", file});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr("line 2"));
  EXPECT_THAT(err_, HasSubstr("unknown key 'worker_count'"));

  file = write_file("dashed.conf", "max-attempts = 2\n");
  result = load({"--config", file});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr("underscores"));

  // TOML itself refuses a key set twice, so a repeated kafka_property no longer appends.
  file = write_file("twice.conf", "workers = 2\nworkers = 3\n");
  result = load({"--config", file});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr(file + " line 2: not valid TOML"));
  EXPECT_THAT(err_, HasSubstr("workers"));

  file = write_file("section.conf", "[kafka]\nbrokers = \"x:1\"\n");
  result = load({"--config", file});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr(file + " line 1: 'kafka' is a table"));
  EXPECT_THAT(err_, HasSubstr("flat"));

  file = write_file("range.conf", "# workers\n\nworkers = 0\n");
  result = load({"--config", file});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr("config file " + file + " line 3 (workers)"));
  EXPECT_THAT(err_, HasSubstr("--workers"));

  file = write_file("unterminated.conf", "workers = 2\ngroup_id = \"abc\n");
  result = load({"--config", file});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr(file + " line 2: not valid TOML"));
}

struct FileErrorCase {
  std::string text;
  std::string message;  ///< expected after "config file PATH "
};

TEST_F(ConfigTest, FileValuesMustHaveTheKeysTomlType) {
  const std::vector<FileErrorCase> cases{
      {"workers = \"four\"\n", "line 1: 'workers' takes an integer, not a string"},
      {"\nworkers = 4.5\n", "line 2: 'workers' takes an integer, not a floating-point number"},
      {"max_message_bytes = true\n", "line 1: 'max_message_bytes' takes an integer, not a boolean"},
      {"embedded_broker = \"true\"\n", "line 1: 'embedded_broker' takes a boolean"},
      {"embedded_broker = 1\n",
       "line 1: 'embedded_broker' takes a boolean (true or false), not an "
       "integer"},
      {"brokers = 9092\n", "line 1: 'brokers' takes a string (in quotes), not an integer"},
      {"log_level = [\"info\"]\n", "line 1: 'log_level' takes a string (in quotes), not an array"},
      {"kafka_property = \"a=b\"\n",
       "line 1: 'kafka_property' takes an array of strings, not a string"},
      {"kafka_property = [\"a=b\",\n  3]\n",
       "line 2: 'kafka_property' takes an array of strings, but an element is an integer"},
      {"workers.count = 4\n", "line 1: 'workers' takes an integer, not a table"},
      {"[workers]\ncount = 4\n", "line 1: 'workers' takes an integer, not a table"},
      {"group_id = 1979-05-27\n", "line 1: 'group_id' takes a string (in quotes), not a date"},
      {"config = \"other.toml\"\n", "line 1: 'config' cannot be set inside a config file"},
      // Bare words and on/off were accepted before the file became TOML.
      {"workers = 2\nlog_level = info\n", "line 2: not valid TOML"},
      {"embedded_broker = on\n", "line 1: not valid TOML"},
      // The first problem in file order is reported, not the first key in sorted order.
      {"zz_unknown = 1\nworkers = \"four\"\n", "line 1: unknown key 'zz_unknown'"},
  };
  for (const auto& c : cases) {
    const auto file = write_file("mgitd.toml", c.text);
    const auto result = load({"--config", file});
    EXPECT_FALSE(result.config) << c.text;
    EXPECT_EQ(result.exit_code, 2) << c.text;
    EXPECT_THAT(err_, HasSubstr("config file " + file + " " + c.message)) << c.text;
  }
}

TEST_F(ConfigTest, TomlSyntaxErrorsCarryTheParsersDescription) {
  const auto file = write_file("mgitd.toml", "workers = 2\n\nmax_attempts = = 3\n");
  const auto result = load({"--config", file});
  EXPECT_EQ(result.exit_code, 2);
  // Anything after the "not valid TOML: " prefix comes from toml++.
  EXPECT_THAT(err_, HasSubstr(file + " line 3: not valid TOML: "));
  EXPECT_GT(err_.size(), err_.find("not valid TOML: ") + 17);
  EXPECT_THAT(err_, Not(HasSubstr("strings need quotes")));

  // The format before TOML had bare words and on/off: the error says what to write instead.
  for (const char* text : {"log_level = debug\n", "embedded_broker = off\n"}) {
    const auto old = write_file("old.conf", text);
    EXPECT_EQ(load({"--config", old}).exit_code, 2) << text;
    EXPECT_THAT(err_, HasSubstr(old + " line 1: not valid TOML: ")) << text;
    EXPECT_THAT(err_,
                HasSubstr("(strings need quotes: key = \"value\"; booleans are true or false)"))
        << text;
  }
}

TEST_F(ConfigTest, FileReadsTomlStringsIntegersBooleansAndArrays) {
  const auto file = write_file("mgitd.toml",
                               "brokers = 'k1:9092,k2:9092'  # literal string\n"
                               "group_id = \"tab\\there\"\n"
                               "max_message_bytes = 1_048_576\n"
                               "embedded_broker = false\n"
                               "kafka_property = []\n"
                               "otlp_endpoint = \"\"\n");
  const auto result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->brokers, "k1:9092,k2:9092");
  EXPECT_EQ(result.config->group_id, "tab\there");
  EXPECT_EQ(result.config->max_message_bytes, 1048576);
  EXPECT_FALSE(result.config->embedded_broker);
  EXPECT_TRUE(result.config->kafka_properties.empty());
  EXPECT_EQ(result.config->otlp_endpoint, "");
}

TEST_F(ConfigTest, FileValuesKeepHashesInsideQuotesAndBooleansParse) {
  const auto file = write_file("mgitd.conf",
                               "group_instance_id = \"pod#1\"  # trailing comment\n"
                               "embedded_broker = true\n"
                               "brokers = \"k1:9092,k2:9092\"\n");
  auto result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->group_instance_id, "pod#1");
  EXPECT_TRUE(result.config->embedded_broker);
  EXPECT_EQ(result.config->brokers, "k1:9092,k2:9092");

  env_["MGITD_EMBEDDED_BROKER"] = "false";
  result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_FALSE(result.config->embedded_broker);

  result = load({"--config", file, "--embedded-broker"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_TRUE(result.config->embedded_broker);
}

TEST_F(ConfigTest, HelpListsEveryOptionWithDefaultsAndPrecedence) {
  const auto result = load({"--help"});
  EXPECT_FALSE(result.config);
  EXPECT_EQ(result.exit_code, 0);
  for (const char* flag : {"--brokers",
                           "--group-id",
                           "--jobs-topic",
                           "--results-topic",
                           "--dlq-topic",
                           "--kafka-property",
                           "--kafka-secrets-file",
                           "--workspace",
                           "--credentials-dir",
                           "--workers",
                           "--group-instance-id",
                           "--max-in-flight",
                           "--max-buffered-per-partition",
                           "--max-attempts",
                           "--revoke-grace-seconds",
                           "--startup-broker-timeout-seconds",
                           "--broker-unready-grace-seconds",
                           "--stuck-grace-seconds",
                           "--min-free-disk-percent",
                           "--max-message-bytes",
                           "--job-timeout-seconds",
                           "--shutdown-grace-seconds",
                           "--git-ca-file",
                           "--http-listen",
                           "--otlp-endpoint",
                           "--log-level",
                           "--embedded-broker",
                           "--config",
                           "--version"}) {
    EXPECT_THAT(out_, HasSubstr(flag));
  }
  EXPECT_THAT(out_, HasSubstr("mgit.sync.results"));
  EXPECT_THAT(out_, HasSubstr("65536"));
  EXPECT_THAT(out_, HasSubstr("MGITD_X_Y"));
  EXPECT_THAT(out_, HasSubstr("precedence"));
  EXPECT_THAT(out_, HasSubstr("TOML config file"));
}

TEST_F(ConfigTest, VersionExitsZero) {
  const auto result = load({"--version"});
  EXPECT_FALSE(result.config);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(out_, HasSubstr("mgitd"));
}

TEST_F(ConfigTest, NetworkPolicySettingsComeFromEverySource) {
  auto result = load({});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_TRUE(result.config->network_allow.empty());
  EXPECT_FALSE(result.config->allow_plain_http);
  EXPECT_EQ(result.config->follow_redirects, "none");
  EXPECT_EQ(result.config->git_proxy, "");
  EXPECT_EQ(result.config->connect_timeout_seconds, 10);
  EXPECT_EQ(result.config->socket_timeout_seconds, 300);

  const auto file = write_file("mgitd.conf",
                               "network_allow = [\"git.internal.example\", \"10.20.0.0/16\"]\n"
                               "allow_plain_http = true\nfollow_redirects = \"same_host\"\n"
                               "git_proxy = \"http://proxy.internal:3128\"\n"
                               "connect_timeout_seconds = 5\nsocket_timeout_seconds = 60\n");
  result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_THAT(result.config->network_allow, ElementsAre("git.internal.example", "10.20.0.0/16"));
  EXPECT_TRUE(result.config->allow_plain_http);
  EXPECT_EQ(result.config->follow_redirects, "same_host");
  EXPECT_EQ(result.config->git_proxy, "http://proxy.internal:3128");
  EXPECT_EQ(result.config->connect_timeout_seconds, 5);
  EXPECT_EQ(result.config->socket_timeout_seconds, 60);

  // The list is taken whole from the highest source: env (a comma list) over the file, a
  // repeated flag over both.
  env_["MGITD_NETWORK_ALLOW"] = "*.corp.example, fd12::/48";
  result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_THAT(result.config->network_allow, ElementsAre("*.corp.example", "fd12::/48"));
  result = load({"--config", file, "--network-allow", "127.0.0.1/32", "--network-allow", "::1"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_THAT(result.config->network_allow, ElementsAre("127.0.0.1/32", "::1"));
}

TEST_F(ConfigTest, InvalidNetworkPolicySettingsExitWithTwo) {
  const std::vector<InvalidCase> cases{
      {{"--network-allow", "10.0.0.1/8"}, "bits set after the prefix"},
      {{"--network-allow", "git.example:443"}, "neither a host name"},
      {{"--network-allow", "0x7f.1"}, "neither a host name"},
      {{"--follow-redirects", "all"}, "--follow-redirects"},
      {{"--git-proxy", "socks5://proxy:1080"}, "http:// or https://"},
      {{"--git-proxy", "http://proxy:99999"}, "port"},
      {{"--connect-timeout-seconds", "0"}, "--connect-timeout-seconds"},
      {{"--socket-timeout-seconds", "0"}, "--socket-timeout-seconds"},
  };
  for (const auto& c : cases) {
    const auto result = load(c.args);
    EXPECT_FALSE(result.config) << c.args[1];
    EXPECT_EQ(result.exit_code, 2) << c.args[1];
    EXPECT_THAT(err_, HasSubstr(c.message)) << c.args[1];
  }
  // A proxy password is refused without being echoed.
  const auto result = load({"--git-proxy", "http://user:hunter2@proxy:3128"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(err_, HasSubstr("must not carry a user or password"));
  EXPECT_THAT(err_, Not(HasSubstr("hunter2")));
}

TEST_F(ConfigTest, RefBackupSettingsComeFromEverySource) {
  auto result = load({});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_TRUE(result.config->ref_backup);
  EXPECT_THAT(result.config->ref_backup_namespaces, ElementsAre("refs/heads/", "refs/tags/"));
  EXPECT_EQ(result.config->ref_backup_keep, 10);
  EXPECT_EQ(result.config->ref_backup_max_age_days, 90);

  const auto file = write_file("backup.conf",
                               "ref_backup = false\nref_backup_namespaces = [\"refs/heads/\"]\n"
                               "ref_backup_keep = 3\nref_backup_max_age_days = 0\n");
  result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_FALSE(result.config->ref_backup);
  EXPECT_THAT(result.config->ref_backup_namespaces, ElementsAre("refs/heads/"));
  EXPECT_EQ(result.config->ref_backup_keep, 3);
  EXPECT_EQ(result.config->ref_backup_max_age_days, 0);

  // flag > env > file, the list taken whole from one source.
  env_["MGITD_REF_BACKUP"] = "true";
  env_["MGITD_REF_BACKUP_NAMESPACES"] = "refs/heads/,refs/pull/";
  env_["MGITD_REF_BACKUP_KEEP"] = "5";
  result = load({"--config", file});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_TRUE(result.config->ref_backup);
  EXPECT_THAT(result.config->ref_backup_namespaces, ElementsAre("refs/heads/", "refs/pull/"));
  EXPECT_EQ(result.config->ref_backup_keep, 5);
  result = load({"--config", file, "--ref-backup=false", "--ref-backup-namespaces", "refs/tags/",
                 "--ref-backup-keep", "0"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_FALSE(result.config->ref_backup);
  EXPECT_THAT(result.config->ref_backup_namespaces, ElementsAre("refs/tags/"));
  EXPECT_EQ(result.config->ref_backup_keep, 0);

  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--ref-backup-namespaces", "refs/mgitd/"}, "refs/mgitd/ holds the backups"},
           {{"--ref-backup-namespaces", "heads/"}, "not a ref prefix under refs/"},
           {{"--ref-backup-namespaces", "refs/a*"}, "characters a ref name cannot hold"},
           {{"--ref-backup-keep", "-1"}, "--ref-backup-keep"},
           {{"--ref-backup-max-age-days", "36501"}, "--ref-backup-max-age-days"}}) {
    const auto refused = load(args);
    EXPECT_EQ(refused.exit_code, 2) << args[1];
    EXPECT_THAT(err_, HasSubstr(message)) << args[1];
  }
}

TEST_F(ConfigTest, CoalescingIsOnByDefaultAndEachSourceTurnsItOff) {
  auto result = load({});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_TRUE(result.config->coalesce);
  EXPECT_TRUE(pipeline_settings(*result.config).scheduler.coalesce);

  const auto off = write_file("off.conf", "coalesce = false\n");
  result = load({"--config", off});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_FALSE(result.config->coalesce);
  EXPECT_FALSE(pipeline_settings(*result.config).scheduler.coalesce);

  // flag > env > file.
  env_["MGITD_COALESCE"] = "true";
  result = load({"--config", off});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_TRUE(result.config->coalesce);
  result = load({"--config", off, "--coalesce=false"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_FALSE(result.config->coalesce);
}

}  // namespace
}  // namespace mgit::daemon
