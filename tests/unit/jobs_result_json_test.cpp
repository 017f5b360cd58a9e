#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <string>

#include "mgit/jobs/result_json.hpp"

namespace mgit::jobs {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text;
  EXPECT_TRUE(doc.IsObject()) << text;
  return doc;
}

std::string oid(char fill) { return std::string(40, fill); }

JobResult succeeded_sync() {
  JobResult result;
  result.job_id = "01JD5Z8Q3V7R";
  result.correlation_id = "req-8c1f";
  result.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  result.status = Status::kSucceeded;
  result.operation = Operation::kSync;
  result.repository_url = "https://git.example.com/org/app.git";
  result.target = "org/app";
  result.report.head_ref = "refs/heads/main";
  result.report.head_oid = "9fceb02d0ae598e95dc970b74767f19372d61af8";
  result.report.refs_updated = {{"refs/heads/main", oid('a'), oid('b')},
                                {"refs/tags/v1", "", oid('c')},
                                {"refs/heads/old", oid('d'), ""}};
  result.report.received_objects = 12;
  result.report.received_bytes = 4096;
  result.queue_ms = 3;
  result.duration_ms = 41;
  result.attempts = 1;
  result.worker = "mgitd-7d9f-abc12";
  result.source = {"mgit.sync.jobs", 3, 1207};
  // 2026-11-23T09:41:07Z is 1795426867 s after the epoch (date -u -d ... +%s).
  result.finished_at = system_clock::time_point(
      std::chrono::duration_cast<system_clock::duration>(seconds(1795426867) + milliseconds(512)));
  return result;
}

TEST(ResultJson, SucceededResultHasEveryField) {
  const std::string json = result_to_json(succeeded_sync());
  const rapidjson::Document doc = parse_json(json);
  EXPECT_STREQ(doc["schema"].GetString(), "mgit.sync-result/v1");
  EXPECT_STREQ(doc["job_id"].GetString(), "01JD5Z8Q3V7R");
  EXPECT_STREQ(doc["correlation_id"].GetString(), "req-8c1f");
  EXPECT_STREQ(doc["trace_id"].GetString(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_STREQ(doc["status"].GetString(), "succeeded");
  EXPECT_TRUE(doc["error"].IsNull());
  EXPECT_STREQ(doc["operation"].GetString(), "sync");
  EXPECT_STREQ(doc["repository"]["url"].GetString(), "https://git.example.com/org/app.git");
  EXPECT_STREQ(doc["target"].GetString(), "org/app");
  EXPECT_STREQ(doc["head"]["ref"].GetString(), "refs/heads/main");
  EXPECT_STREQ(doc["head"]["oid"].GetString(), "9fceb02d0ae598e95dc970b74767f19372d61af8");

  const auto& refs = doc["refs_updated"];
  ASSERT_TRUE(refs.IsArray());
  ASSERT_EQ(refs.Size(), 3u);
  EXPECT_STREQ(refs[0]["ref"].GetString(), "refs/heads/main");
  EXPECT_EQ(refs[0]["old"].GetString(), oid('a'));
  EXPECT_EQ(refs[0]["new"].GetString(), oid('b'));
  EXPECT_TRUE(refs[1]["old"].IsNull());  // created
  EXPECT_EQ(refs[1]["new"].GetString(), oid('c'));
  EXPECT_EQ(refs[2]["old"].GetString(), oid('d'));
  EXPECT_TRUE(refs[2]["new"].IsNull());  // pruned
  EXPECT_FALSE(doc.HasMember("refs_updated_total"));

  EXPECT_EQ(doc["stats"]["received_objects"].GetUint64(), 12u);
  EXPECT_EQ(doc["stats"]["received_bytes"].GetUint64(), 4096u);
  EXPECT_EQ(doc["stats"]["queue_ms"].GetInt64(), 3);
  EXPECT_EQ(doc["stats"]["duration_ms"].GetInt64(), 41);
  EXPECT_EQ(doc["attempts"].GetInt(), 1);
  EXPECT_STREQ(doc["worker"].GetString(), "mgitd-7d9f-abc12");
  EXPECT_STREQ(doc["source"]["topic"].GetString(), "mgit.sync.jobs");
  EXPECT_EQ(doc["source"]["partition"].GetInt(), 3);
  EXPECT_EQ(doc["source"]["offset"].GetInt64(), 1207);
  EXPECT_STREQ(doc["finished_at"].GetString(), "2026-11-23T09:41:07.512Z");
  EXPECT_FALSE(doc.HasMember("recloned"));   // only present when the target was re-cloned
  EXPECT_FALSE(doc.HasMember("served_by"));  // only present when another job's execution answered
}

TEST(ResultJson, ACoalescedJobNamesTheJobWhoseExecutionAnsweredIt) {
  JobResult result = succeeded_sync();
  result.served_by = "01JD5Z8Q3V7Q";
  const rapidjson::Document doc = parse_json(result_to_json(result));
  ASSERT_TRUE(doc.HasMember("served_by"));
  EXPECT_STREQ(doc["served_by"].GetString(), "01JD5Z8Q3V7Q");
  EXPECT_STREQ(doc["job_id"].GetString(), "01JD5Z8Q3V7R");  // its own id stays
}

TEST(ResultJson, RecloneOfACorruptTargetIsSaid) {
  JobResult result = succeeded_sync();
  result.report.recloned = true;
  const rapidjson::Document doc = parse_json(result_to_json(result));
  ASSERT_TRUE(doc.HasMember("recloned"));
  EXPECT_TRUE(doc["recloned"].IsBool());
  EXPECT_TRUE(doc["recloned"].GetBool());
  EXPECT_STREQ(doc["status"].GetString(), "succeeded");
}

TEST(ResultJson, AForcedUpdateNamesItsBackupAndADeletionHasNoNew) {
  JobResult result = succeeded_sync();
  jobs::RefUpdate moved{"refs/heads/main", std::string(40, 'a'), std::string(40, 'b')};
  moved.forced = true;
  moved.backup_ref = "refs/mgitd/backup/refs/heads/main/20261206T114501Z";
  jobs::RefUpdate deleted{"refs/heads/gone", std::string(40, 'c'), ""};
  deleted.forced = true;
  jobs::RefUpdate plain{"refs/heads/ff", std::string(40, 'd'), std::string(40, 'e')};
  result.report.refs_updated = {moved, deleted, plain};
  const rapidjson::Document doc = parse_json(result_to_json(result));
  const auto& refs = doc["refs_updated"];
  ASSERT_EQ(refs.Size(), 3u);
  EXPECT_TRUE(refs[0]["forced"].GetBool());
  EXPECT_STREQ(refs[0]["backup_ref"].GetString(),
               "refs/mgitd/backup/refs/heads/main/20261206T114501Z");
  EXPECT_TRUE(refs[1]["new"].IsNull());
  EXPECT_TRUE(refs[1]["forced"].GetBool());
  EXPECT_FALSE(refs[1].HasMember("backup_ref"));
  // A fast-forward carries neither field: v1 consumers see what they saw before.
  EXPECT_FALSE(refs[2].HasMember("forced"));
  EXPECT_FALSE(refs[2].HasMember("backup_ref"));
}

TEST(ResultJson, RejectedResultBeforeTheJobWasKnown) {
  JobResult result;
  result.job_id = "j";
  result.correlation_id = "j";
  result.status = Status::kRejected;
  result.error = JobError{ErrorCode::kPolicyDenied, "repository.url: credentials in the URL"};
  result.repository_url = "https://user:s3cret@git.example.com/org/app.git";
  result.finished_at = system_clock::time_point{};
  const std::string json = result_to_json(result);
  EXPECT_EQ(json.find("s3cret"), std::string::npos) << json;
  const rapidjson::Document doc = parse_json(json);
  EXPECT_STREQ(doc["status"].GetString(), "rejected");
  EXPECT_STREQ(doc["error"]["code"].GetString(), "policy_denied");
  EXPECT_STREQ(doc["error"]["message"].GetString(), "repository.url: credentials in the URL");
  EXPECT_FALSE(doc["error"]["retryable"].GetBool());
  EXPECT_TRUE(doc["operation"].IsNull());
  EXPECT_STREQ(doc["repository"]["url"].GetString(), "https://git.example.com/org/app.git");
  EXPECT_TRUE(doc["target"].IsNull());
  EXPECT_TRUE(doc["head"].IsNull());
  EXPECT_EQ(doc["refs_updated"].Size(), 0u);
  EXPECT_TRUE(doc["source"].IsNull());
  EXPECT_STREQ(doc["finished_at"].GetString(), "1970-01-01T00:00:00.000Z");
}

TEST(ResultJson, RetryableFollowsTheCode) {
  JobResult result = succeeded_sync();
  result.status = Status::kFailed;
  result.error = JobError{ErrorCode::kNetwork, "connection reset"};
  EXPECT_TRUE(parse_json(result_to_json(result))["error"]["retryable"].GetBool());
  result.error = JobError{ErrorCode::kAuthFailed, "authentication failed"};
  EXPECT_FALSE(parse_json(result_to_json(result))["error"]["retryable"].GetBool());
}

TEST(ResultJson, UserinfoIsStrippedFromEveryUrlForm) {
  JobResult result = succeeded_sync();
  result.repository_url = "ssh://git@git.example.com:2222/org/app.git";
  EXPECT_STREQ(parse_json(result_to_json(result))["repository"]["url"].GetString(),
               "ssh://git.example.com:2222/org/app.git");
  result.repository_url = "git@git.example.com:org/app.git";
  EXPECT_STREQ(parse_json(result_to_json(result))["repository"]["url"].GetString(),
               "git.example.com:org/app.git");
  result.repository_url = "https://x-access-token:ghp_abc@git.example.com/org/app";
  EXPECT_STREQ(parse_json(result_to_json(result))["repository"]["url"].GetString(),
               "https://git.example.com/org/app");
  // A token holding '#' must not end the userinfo early and leak.
  result.repository_url = "https://oauth2:glpat-SECRET#x@gitlab.example.com/org/app.git";
  EXPECT_STREQ(parse_json(result_to_json(result))["repository"]["url"].GetString(),
               "https://gitlab.example.com/org/app.git");
}

TEST(ResultJson, StringsAreEscaped) {
  JobResult result = succeeded_sync();
  result.error = JobError{ErrorCode::kInternal, "quote \" backslash \\ newline \n tab \t"};
  const rapidjson::Document doc = parse_json(result_to_json(result));
  EXPECT_STREQ(doc["error"]["message"].GetString(), "quote \" backslash \\ newline \n tab \t");
}

TEST(ResultJson, DetachedHeadHasNullRef) {
  JobResult result = succeeded_sync();
  result.report.head_ref.clear();
  const rapidjson::Document doc = parse_json(result_to_json(result));
  EXPECT_TRUE(doc["head"]["ref"].IsNull());
  EXPECT_STREQ(doc["head"]["oid"].GetString(), "9fceb02d0ae598e95dc970b74767f19372d61af8");
}

TEST(ResultJson, TimestampsKeepMillisecondsAndFloorBeforeTheEpoch) {
  JobResult result = succeeded_sync();
  // 2000-02-29T23:59:59.999Z is 951868799 s; sub-millisecond parts are truncated.
  result.finished_at = system_clock::time_point(std::chrono::duration_cast<system_clock::duration>(
      seconds(951868799) + std::chrono::microseconds(999999)));
  EXPECT_STREQ(parse_json(result_to_json(result))["finished_at"].GetString(),
               "2000-02-29T23:59:59.999Z");
  result.finished_at = system_clock::time_point(
      std::chrono::duration_cast<system_clock::duration>(milliseconds(-1)));
  EXPECT_STREQ(parse_json(result_to_json(result))["finished_at"].GetString(),
               "1969-12-31T23:59:59.999Z");
}

TEST(ResultJson, TenThousandRefsAreTruncatedToFit) {
  JobResult result = succeeded_sync();
  result.report.refs_updated.clear();
  for (int i = 0; i < 10000; ++i) {
    result.report.refs_updated.push_back(
        {"refs/heads/branch-" + std::to_string(i), oid('a'), oid('b')});
  }
  constexpr std::size_t kLimit = 64 * 1024;
  const std::string json = result_to_json(result, kLimit);
  EXPECT_LE(json.size(), kLimit);
  const rapidjson::Document doc = parse_json(json);
  EXPECT_EQ(doc["refs_updated_total"].GetUint64(), 10000u);
  const auto& refs = doc["refs_updated"];
  ASSERT_GT(refs.Size(), 0u);
  ASSERT_LT(refs.Size(), 10000u);
  // The kept refs are the first ones, in order, and as many as fit: one more would not.
  for (rapidjson::SizeType i = 0; i < refs.Size(); ++i) {
    ASSERT_EQ(refs[i]["ref"].GetString(), "refs/heads/branch-" + std::to_string(i));
  }
  JobResult one_more = result;
  one_more.report.refs_updated.resize(refs.Size() + 1);
  const std::string untruncated = result_to_json(one_more, 10 * 1024 * 1024);
  const std::string total_field = R"(,"refs_updated_total":10000)";
  EXPECT_GT(untruncated.size() + total_field.size(), kLimit);
  // Everything else survives truncation.
  EXPECT_STREQ(doc["job_id"].GetString(), "01JD5Z8Q3V7R");
  EXPECT_STREQ(doc["finished_at"].GetString(), "2026-11-23T09:41:07.512Z");
}

TEST(ResultJson, UntruncatedWhenItFitsExactly) {
  const JobResult result = succeeded_sync();
  const std::string full = result_to_json(result);
  EXPECT_EQ(result_to_json(result, full.size()), full);
  const std::string smaller = result_to_json(result, full.size() - 1);
  EXPECT_LE(smaller.size(), full.size() - 1);
  EXPECT_EQ(parse_json(smaller)["refs_updated_total"].GetUint64(), 3u);
  EXPECT_EQ(parse_json(smaller)["refs_updated"].Size(), 2u);
}

TEST(ResultJson, StatusNames) {
  EXPECT_EQ(to_string(Status::kSucceeded), "succeeded");
  EXPECT_EQ(to_string(Status::kFailed), "failed");
  EXPECT_EQ(to_string(Status::kRejected), "rejected");
  EXPECT_EQ(to_string(Status::kExpired), "expired");
}

TEST(ErrorCodes, NamesRetryabilityAndRejection) {
  const struct {
    ErrorCode code;
    const char* name;
    bool retryable;
    bool rejection;
  } cases[] = {
      {ErrorCode::kInvalidJob, "invalid_job", false, true},
      {ErrorCode::kPolicyDenied, "policy_denied", false, true},
      {ErrorCode::kAuthFailed, "auth_failed", false, false},
      {ErrorCode::kNotFound, "not_found", false, false},
      {ErrorCode::kNetwork, "network", true, false},
      {ErrorCode::kTimeout, "timeout", true, false},
      {ErrorCode::kConflict, "conflict", false, true},
      {ErrorCode::kDiskFull, "disk_full", false, false},
      {ErrorCode::kRateLimited, "rate_limited", true, false},
      {ErrorCode::kInternal, "internal", false, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(to_string(c.code), c.name);
    EXPECT_EQ(is_retryable(c.code), c.retryable);
    EXPECT_EQ(is_rejection(c.code), c.rejection);
  }
}

TEST(Operations, RoundTrip) {
  for (const Operation operation :
       {Operation::kClone, Operation::kFetch, Operation::kSync, Operation::kMirror}) {
    EXPECT_EQ(parse_operation(to_string(operation)), operation);
  }
  EXPECT_EQ(to_string(Operation::kMirror), "mirror");
  EXPECT_FALSE(parse_operation("Sync").has_value());
  EXPECT_FALSE(parse_operation("").has_value());
}

}  // namespace
}  // namespace mgit::jobs
