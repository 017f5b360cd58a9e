// mgitctl against the real broker: topic admin, keyed enqueue with headers, --wait, validate.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "mgitctl_harness.hpp"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
using namespace mgit::test_support::mgitctl;

TEST_F(MgitctlTest, TopicsCreateThenCheckPassesWithReplicationFactorOne) {
  auto result = run({"topics", "create", "--partitions", "4", "--replication-factor", "1"});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  for (const auto& topic : {jobs_topic_, results_topic_, dlq_topic_, audit_topic_}) {
    EXPECT_THAT(result.out, HasSubstr("created " + topic +
                                      " partitions=4 replication-factor=1 min.insync.replicas=1"));
    EXPECT_EQ(end_offsets(topic).size(), 4u) << topic;
  }

  // Existing topics are fine.
  result = run({"topics", "create", "--partitions", "4", "--replication-factor", "1"});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("exists " + jobs_topic_));

  result = run({"topics", "check"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr(results_topic_ +
                                    " partitions=4 replication-factor=1 min.insync.replicas=1"));
  EXPECT_THAT(result.out, HasSubstr(audit_topic_ + " partitions=4 replication-factor=1"))
      << "checked";
  EXPECT_THAT(result.out, HasSubstr("below the recommended 3"));

  // A replication factor of 1 is only a warning, unless --strict.
  result = run({"topics", "check", "--strict"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
}

TEST_F(MgitctlTest, TopicsCreateSizesTheDlqForACopyOfTheLargestJobsRecord) {
  // A jobs topic that exists already, with its own limit: the DLQ follows it.
  kafka_.create_topic(jobs_topic_, 2, {{"max.message.bytes", "2000000"}});
  auto result = run({"topics", "create", "--partitions", "2", "--replication-factor", "1"});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("exists " + jobs_topic_));
  EXPECT_THAT(result.out, HasSubstr("created " + dlq_topic_ +
                                    " partitions=2 replication-factor=1 min.insync.replicas=1"
                                    " max.message.bytes=2065536\n"));
  EXPECT_EQ(kafka_.topic_config(dlq_topic_, "max.message.bytes"), "2065536");
  EXPECT_EQ(kafka_.topic_config(jobs_topic_, "max.message.bytes"), "2000000") << "left alone";

  result = run({"topics", "check"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out,
              HasSubstr(dlq_topic_ + " partitions=2 replication-factor=1 "
                                     "min.insync.replicas=1 max.message.bytes=2065536"));
  EXPECT_THAT(result.out, Not(HasSubstr("for mgitd's headers"))) << "the DLQ is large enough";
}

TEST_F(MgitctlTest, TopicsCheckWarnsWhenTheDlqCannotHoldACopyOfTheLargestJobsRecord) {
  // All three with the broker's default limit, as a plain `kafka-topics --create` makes them.
  for (const auto& topic : {jobs_topic_, results_topic_, dlq_topic_, audit_topic_}) {
    kafka_.create_topic(topic, 1);
  }
  const auto limit = kafka_.topic_config(jobs_topic_, "max.message.bytes");
  ASSERT_TRUE(limit.has_value());
  const auto result = run({"topics", "check"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("warn " + dlq_topic_));
  EXPECT_THAT(result.out,
              HasSubstr("warning: max.message.bytes " + *limit + " is below the jobs topic's " +
                        *limit + " plus 65536 for mgitd's headers"));
}

TEST_F(MgitctlTest, TopicsCheckFailsOnAMissingTopic) {
  create_topics();
  const std::string absent = "mgitctl-test-" + suffix_ + ".absent";
  const auto result =
      run({"--brokers", brokers_, "--jobs-topic", jobs_topic_, "--results-topic", results_topic_,
           "--dlq-topic", absent, "--audit-topic", audit_topic_, "topics", "check"},
          false);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("missing " + absent));
  EXPECT_THAT(result.out, Not(HasSubstr("missing " + jobs_topic_)));
}

TEST_F(MgitctlTest, EnqueueFileSendsJobsKeyedByRepositoryWithHeaders) {
  create_topics();
  // job id -> (line as sent, expected key, expected correlation-id header)
  struct Expected {
    std::string line;
    std::string key;
    std::string correlation_id;
  };
  const std::map<std::string, Expected> expected{
      {"job-1",
       {job_line("job-1", "https://Git.Example.COM/org/app.git"), "https://git.example.com/org/app",
        "job-1"}},
      {"job-2",
       {job_line("job-2", "git@git.example.com:org/tool.git", R"(,"correlation_id":"req-2")"),
        "ssh://git.example.com/org/tool", "req-2"}},
      {"job-3",
       {job_line("job-3", "https://git.example.com:443/org/lib/"),
        "https://git.example.com/org/lib", "job-3"}},
      {"job-4",
       {job_line("job-4", "http://git.example.com:8080/org/x.git"),
        "http://git.example.com:8080/org/x", "job-4"}},
      {"job-5",
       {job_line("job-5", "ssh://git@git.example.com/org/y.git"), "ssh://git.example.com/org/y",
        "job-5"}},
  };
  std::string text;
  for (const auto& [id, e] : expected) text += e.line + "\n\n";  // blank lines are skipped
  const auto result = run({"enqueue", "--file", write("jobs.jsonl", text)});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;

  const auto records = kafka_.read_until(
      jobs_topic_, [&](const auto& read) { return read.size() >= expected.size(); }, 30s);
  ASSERT_EQ(records.size(), expected.size());
  const std::regex traceparent("00-[0-9a-f]{32}-[0-9a-f]{16}-01");
  for (const auto& record : records) {
    const auto id_at = record.value.find("\"job_id\":\"") + 10;
    const std::string id = record.value.substr(id_at, record.value.find('"', id_at) - id_at);
    ASSERT_TRUE(expected.count(id)) << record.value;
    const auto& e = expected.at(id);
    EXPECT_EQ(record.value, e.line);
    ASSERT_TRUE(record.key.has_value()) << id;
    EXPECT_EQ(*record.key, e.key);
    EXPECT_EQ(record.header("correlation-id"), e.correlation_id);
    EXPECT_EQ(record.header("content-type"), "application/json");
    EXPECT_EQ(record.header("mgit-schema"), "mgit.sync-job/v1");
    ASSERT_TRUE(record.header("traceparent").has_value()) << id;
    EXPECT_TRUE(std::regex_match(*record.header("traceparent"), traceparent));
    EXPECT_THAT(result.out,
                HasSubstr("enqueued " + id + " partition=" + std::to_string(record.partition) +
                          " offset=" + std::to_string(record.offset) + "\n"));
  }
}

TEST_F(MgitctlTest, EnqueueSendsNothingWhenALineIsInvalidUnlessAllowed) {
  create_topics();
  const auto file =
      write("mixed.jsonl", job_line("good-1", "https://git.example.com/org/app.git") + "\n" +
                               job_line("bad-2", "ftp://git.example.com/org/app") + "\n" +
                               "not json at all\n");
  auto result = run({"enqueue", "--file", file});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.err, HasSubstr("line 2: rejected invalid_job"));
  EXPECT_THAT(result.err, HasSubstr("line 3: unparseable not_json"));
  for (const auto& [partition, end] : end_offsets(jobs_topic_)) {
    EXPECT_EQ(end, 0) << "partition " << partition;
  }

  result = run({"enqueue", "--allow-invalid", "--file", file});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  const auto records = kafka_.read_until(
      jobs_topic_, [](const auto& read) { return read.size() >= 3; }, 30s);
  ASSERT_EQ(records.size(), 3u);
  std::map<std::string, mgit::test_support::TestRecord> by_value;
  for (const auto& record : records) by_value[record.value] = record;
  const auto& bad = by_value.at(job_line("bad-2", "ftp://git.example.com/org/app"));
  EXPECT_EQ(bad.key, "ftp://git.example.com/org/app");
  const auto& garbage = by_value.at("not json at all");
  EXPECT_FALSE(garbage.key.has_value());
  EXPECT_THAT(result.out, HasSubstr("enqueued bad-2 "));
  EXPECT_THAT(result.out, HasSubstr("enqueued line:3 "));
}

TEST_F(MgitctlTest, EnqueueWaitPrintsTheResultAndExitsOnItsStatus) {
  create_topics(1);
  // An unrelated result published before the wait starts must not count.
  kafka_.produce(results_topic_,
                 {{std::string("k"), R"({"job_id":"wait-1","status":"failed"})", {}}});
  Mgitctl waiting(
      [&] {
        auto args = common_args();
        args.insert(args.end(), {"enqueue", "--url", "https://git.example.com/org/app.git",
                                 "--job-id", "wait-1", "--correlation-id", "req-w", "--ref", "main",
                                 "--timeout", "60", "--wait"});
        return args;
      }(),
      dir_.path());

  // Answer like mgitd would, once the job is on the intake topic.
  const auto jobs = kafka_.read_until(
      jobs_topic_, [](const auto& read) { return !read.empty(); }, 30s);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_THAT(jobs[0].value, HasSubstr(R"("ref":"main")"));
  EXPECT_EQ(jobs[0].header("correlation-id"), "req-w");
  const std::string answer = R"({"job_id":"wait-1","status":"succeeded"})";
  kafka_.produce(results_topic_, {{jobs[0].key, R"({"job_id":"other","status":"failed"})", {}},
                                  {jobs[0].key, answer, {}}});

  const auto result = waiting.finish();
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("enqueued wait-1 partition=0 offset=0\n"));
  EXPECT_THAT(result.out, HasSubstr(answer + "\n"));
  EXPECT_THAT(result.out, Not(HasSubstr("failed")));
}

TEST_F(MgitctlTest, EnqueueWaitTimesOutWithExitThree) {
  create_topics(1);
  const auto result =
      run({"enqueue", "--url", "https://git.example.com/org/app", "--wait", "--timeout", "2"});
  EXPECT_EQ(result.exit_code, 3) << result.out << result.err;
  EXPECT_THAT(result.err, HasSubstr("timed out"));
}

TEST_F(MgitctlTest, ValidateReportsEachLine) {
  const auto file = write(
      "validate.jsonl",
      job_line("ok-1", "https://git.example.com/org/app.git") + "\n" +
          job_line("bad-2", "https://user:pw@git.example.com/org/app") + "\n" + "{\"job_id\": \n" +
          job_line("bad-4", "https://git.example.com/a", R"(,"options":{"depth":1})") + "\n");
  auto result = run({"validate", file}, false);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("ok ok-1\n"));
  EXPECT_THAT(result.out, HasSubstr("line 2: rejected policy_denied: "));
  EXPECT_THAT(result.out, Not(HasSubstr("pw@")));
  EXPECT_THAT(result.out, HasSubstr("line 3: unparseable not_json: "));
  EXPECT_THAT(result.out, HasSubstr("line 4: rejected invalid_job: "));

  const auto good = write("one.json",
                          "{\n  \"schema\": \"mgit.sync-job/v1\",\n  \"job_id\": \"pretty\",\n"
                          "  \"operation\": \"mirror\",\n"
                          "  \"repository\": {\"url\": \"https://git.example.com/org/app\"}\n}\n");
  result = run({"validate", good}, false);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out, "ok pretty\n");
}

TEST_F(MgitctlTest, CredentialsCheckListsEveryProblemOfEveryFile) {
  const auto dir = dir_.path() / "credentials";
  std::filesystem::create_directories(dir);
  const std::string secret = "ghp_S3cret-" + mgit::test_support::random_suffix();
  std::ofstream(dir / "good") << "token=" << secret << "\nhosts=github.com\n";
  std::ofstream(dir / "old") << "token=" << secret << "\n";
  std::ofstream(dir / "typo") << "token=" << secret << "\nhots=github.com\n";
  std::ofstream(dir / "deploy.key") << "KEY";
  std::ofstream(dir / "known_hosts") << "# ok\ngit.example.com ssh-ed25519\n";
  std::ofstream(dir / "deploy")
      << "ssh_private_key=deploy.key\nknown_hosts=known_hosts\nhosts=git.example.com\n";
  auto result = run({"credentials", "check", dir.string()}, false);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_EQ(result.out,
            "deploy: credential \"deploy\": known_hosts file 'known_hosts' line 2 cannot be "
            "parsed by libssh2\n"
            "old: credential \"old\" has no hosts= line; add hosts=<git host> "
            "(docs/credentials.md)\n"
            "typo: credential 'typo': line 2: unknown key\n"
            "ok good\n");
  EXPECT_THAT(result.err, HasSubstr("3 problem(s)"));
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(secret)));

  std::filesystem::remove(dir / "old");
  std::filesystem::remove(dir / "typo");
  std::ofstream(dir / "known_hosts") << "# nothing trusted yet\n";
  result = run({"credentials", "check", dir.string()}, false);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out, "ok deploy\nok good\n");
}

}  // namespace
