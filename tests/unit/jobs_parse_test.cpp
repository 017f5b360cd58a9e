#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <string>
#include <string_view>
#include <variant>

#include "mgit/jobs/parse.hpp"
#include "mgit/jobs/result_json.hpp"

namespace mgit::jobs {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

// The example of `mgit.sync-job/v1` in the spec, verbatim.
constexpr std::string_view kSpecExample = R"({
  "schema": "mgit.sync-job/v1",
  "job_id": "01JD5Z8Q3V7R",
  "correlation_id": "req-8c1f",
  "operation": "sync",
  "repository": { "url": "https://git.example.com/org/app.git", "credential": "example-token" },
  "ref": "main",
  "target": "org/app",
  "options": { "prune": true, "bare": false, "depth": 0, "timeout_seconds": 600, "submodules": false },
  "not_after": "2026-11-23T10:00:00Z",
  "requested_by": "webhook:github"
})";

constexpr std::string_view kMinimal = R"({
  "schema": "mgit.sync-job/v1",
  "job_id": "job-1",
  "operation": "fetch",
  "repository": { "url": "https://git.example.com/org/app.git" }
})";

std::string serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

/// `base` with the value at JSON pointer `pointer` set to the JSON text `value`.
std::string with(std::string_view base, const char* pointer, std::string_view value) {
  rapidjson::Document doc;
  doc.Parse(base.data(), base.size());
  rapidjson::Document parsed;
  parsed.Parse(value.data(), value.size());
  EXPECT_FALSE(parsed.HasParseError()) << value;
  rapidjson::Value copy;
  copy.CopyFrom(parsed, doc.GetAllocator());
  rapidjson::Pointer(pointer).Set(doc, copy);
  return serialize(doc);
}

std::string with(const char* pointer, std::string_view value) {
  return with(kMinimal, pointer, value);
}

std::string without(std::string_view base, const char* pointer) {
  rapidjson::Document doc;
  doc.Parse(base.data(), base.size());
  rapidjson::Pointer(pointer).Erase(doc);
  return serialize(doc);
}

std::string json_string(std::string_view text) {
  rapidjson::Value value(rapidjson::StringRef(text.data(), text.size()));
  return serialize(value);
}

ParseOutcome parse(std::string_view payload, std::string_view header = "") {
  return parse_job(payload, header, ParseLimits{});
}

Job expect_job(const ParseOutcome& outcome) {
  if (const auto* rejected = std::get_if<Rejected>(&outcome)) {
    ADD_FAILURE() << "rejected: " << rejected->error.message;
    return {};
  }
  if (const auto* unparseable = std::get_if<Unparseable>(&outcome)) {
    ADD_FAILURE() << "unparseable: " << unparseable->reason << ": " << unparseable->message;
    return {};
  }
  return std::get<Job>(outcome);
}

Rejected expect_rejected(const ParseOutcome& outcome) {
  if (std::holds_alternative<Job>(outcome)) {
    ADD_FAILURE() << "parsed as a valid job";
    return {};
  }
  if (const auto* unparseable = std::get_if<Unparseable>(&outcome)) {
    ADD_FAILURE() << "unparseable: " << unparseable->reason << ": " << unparseable->message;
    return {};
  }
  return std::get<Rejected>(outcome);
}

Unparseable expect_unparseable(const ParseOutcome& outcome) {
  if (const auto* unparseable = std::get_if<Unparseable>(&outcome)) return *unparseable;
  ADD_FAILURE() << (std::holds_alternative<Job>(outcome) ? "parsed as a valid job"
                                                         : "rejected instead of unparseable");
  return {};
}

/// The payload is answered `rejected` with `invalid_job` and exactly `message`.
void expect_invalid(const std::string& payload, std::string_view message) {
  SCOPED_TRACE(payload);
  const Rejected rejected = expect_rejected(parse(payload));
  EXPECT_EQ(rejected.error.code, ErrorCode::kInvalidJob);
  EXPECT_EQ(rejected.error.message, message);
  EXPECT_EQ(rejected.job_id, "job-1");
}

system_clock::time_point at_epoch_seconds(std::int64_t value) {
  return system_clock::time_point(
      std::chrono::duration_cast<system_clock::duration>(seconds(value)));
}

// --- valid jobs -----------------------------------------------------------------------------

TEST(ParseJob, SpecExample) {
  const Job job = expect_job(parse(kSpecExample, "header-id"));
  EXPECT_EQ(job.job_id, "01JD5Z8Q3V7R");
  EXPECT_EQ(job.correlation_id, "req-8c1f");
  EXPECT_EQ(job.operation, Operation::kSync);
  EXPECT_EQ(job.repository_url, "https://git.example.com/org/app.git");
  EXPECT_EQ(job.credential, "example-token");
  EXPECT_EQ(job.repository_key, "https://git.example.com/org/app");
  EXPECT_EQ(job.ref, "main");
  EXPECT_EQ(job.target, "org/app");
  EXPECT_TRUE(job.options.prune);
  EXPECT_FALSE(job.options.bare);
  EXPECT_EQ(job.options.depth, 0);
  EXPECT_EQ(job.options.timeout_seconds, 600);
  EXPECT_FALSE(job.options.submodules);
  ASSERT_TRUE(job.not_after.has_value());
  EXPECT_EQ(*job.not_after, at_epoch_seconds(1795428000));  // date -u -d 2026-11-23T10:00:00Z +%s
  EXPECT_EQ(job.requested_by, "webhook:github");
}

TEST(ParseJob, MinimalJobGetsDefaults) {
  const Job job = expect_job(parse(kMinimal));
  EXPECT_EQ(job.job_id, "job-1");
  EXPECT_EQ(job.correlation_id, "job-1");
  EXPECT_EQ(job.operation, Operation::kFetch);
  EXPECT_EQ(job.credential, "");
  EXPECT_EQ(job.repository_key, "https://git.example.com/org/app");
  EXPECT_EQ(job.ref, "");
  EXPECT_EQ(job.target, "git.example.com/org/app");
  EXPECT_TRUE(job.options.prune);
  EXPECT_FALSE(job.options.bare);
  EXPECT_EQ(job.options.depth, 0);
  EXPECT_FALSE(job.options.timeout_seconds.has_value());
  EXPECT_FALSE(job.options.submodules);
  EXPECT_FALSE(job.not_after.has_value());
  EXPECT_EQ(job.requested_by, "");
}

TEST(ParseJob, NullMeansAbsentForOptionalFields) {
  std::string payload(kMinimal);
  for (const char* pointer : {"/correlation_id", "/ref", "/target", "/options", "/not_after",
                              "/requested_by", "/repository/credential"}) {
    payload = with(payload, pointer, "null");
  }
  const Job job = expect_job(parse(payload));
  EXPECT_EQ(job.correlation_id, "job-1");
  EXPECT_EQ(job.target, "git.example.com/org/app");
  EXPECT_EQ(job.credential, "");
  EXPECT_FALSE(job.not_after.has_value());
}

TEST(ParseJob, UnknownFieldsAreIgnored) {
  std::string payload = with("/extra", R"({"nested": [1, 2, {"x": null}]})");
  payload = with(payload, "/options/turbo", "true");
  payload = with(payload, "/repository/mirror_of", R"("elsewhere")");
  const Job job = expect_job(parse(payload));
  EXPECT_EQ(job.job_id, "job-1");
  EXPECT_EQ(job.repository_key, "https://git.example.com/org/app");
}

TEST(ParseJob, EveryOperation) {
  EXPECT_EQ(expect_job(parse(with("/operation", R"("clone")"))).operation, Operation::kClone);
  EXPECT_EQ(expect_job(parse(with("/operation", R"("fetch")"))).operation, Operation::kFetch);
  EXPECT_EQ(expect_job(parse(with("/operation", R"("sync")"))).operation, Operation::kSync);
  EXPECT_EQ(expect_job(parse(with("/operation", R"("mirror")"))).operation, Operation::kMirror);
}

TEST(ParseJob, ScpLikeUrlWithUserAndCredential) {
  std::string payload = with("/repository/url", R"("git@git.example.com:org/app.git")");
  payload = with(payload, "/repository/credential", R"("deploy-key.v2")");
  const Job job = expect_job(parse(payload));
  EXPECT_EQ(job.repository_url, "git@git.example.com:org/app.git");
  EXPECT_EQ(job.repository_key, "ssh://git.example.com/org/app");
  EXPECT_EQ(job.credential, "deploy-key.v2");
  EXPECT_EQ(job.target, "git.example.com/org/app");
}

// --- unparseable ----------------------------------------------------------------------------

TEST(ParseJob, OversizeIsCheckedBeforeParsing) {
  const ParseLimits limits{.max_message_bytes = 100};
  const std::string garbage(101, '{');
  const Unparseable over = expect_unparseable(parse_job(garbage, "", limits));
  EXPECT_EQ(over.reason, "oversize");
  EXPECT_NE(over.message.find("101"), std::string::npos);

  std::string valid(kMinimal);
  const ParseLimits exact{.max_message_bytes = valid.size()};
  expect_job(parse_job(valid, "", exact));
  valid += ' ';
  EXPECT_EQ(expect_unparseable(parse_job(valid, "", exact)).reason, "oversize");
}

TEST(ParseJob, NotJson) {
  for (std::string_view payload :
       {std::string_view(""), std::string_view("{"), std::string_view("nope"),
        std::string_view(R"({"job_id": "a"} trailing)"), std::string_view(R"({"job_id": 'a'})"),
        std::string_view("{\"job_id\": \"a\xff\"}"), std::string_view("\0{}", 3)}) {
    SCOPED_TRACE(payload);
    const Unparseable unparseable = expect_unparseable(parse(payload));
    EXPECT_EQ(unparseable.reason, "not_json");
    EXPECT_FALSE(unparseable.message.empty());
  }
}

TEST(ParseJob, NotObject) {
  for (std::string_view payload : {"[]", R"("job")", "42", "null", "true", R"([{"job_id":"a"}])"}) {
    SCOPED_TRACE(payload);
    EXPECT_EQ(expect_unparseable(parse(payload)).reason, "not_object");
  }
}

TEST(ParseJob, NoUsableJobId) {
  const std::string missing = without(kMinimal, "/job_id");
  for (const std::string& payload :
       {missing, with("/job_id", "42"), with("/job_id", "null"), with("/job_id", R"("")"),
        with("/job_id", json_string(std::string(129, 'a'))), with("/job_id", R"("a b")"),
        with("/job_id", R"("a/b")"), with("/job_id", R"("caf\u00e9")"),
        with("/job_id", R"("a\u0000")")}) {
    SCOPED_TRACE(payload);
    EXPECT_EQ(expect_unparseable(parse(payload)).reason, "no_job_id");
  }
  // The boundary and the whole alphabet are accepted.
  expect_job(parse(with("/job_id", json_string(std::string(128, 'a')))));
  expect_job(parse(with("/job_id", R"("AZaz09._:-")")));
}

TEST(ParseJob, DeepNestingDoesNotExhaustTheStack) {
  const ParseLimits limits{.max_message_bytes = 4 * 1024 * 1024};
  const std::string unbalanced(1'000'000, '[');
  EXPECT_EQ(expect_unparseable(parse_job(unbalanced, "", limits)).reason, "not_json");

  const int depth = 500'000;
  const std::string nested = std::string(depth, '[') + std::string(depth, ']');
  std::string payload(kMinimal);
  payload.pop_back();  // the closing brace
  payload += R"(, "deep": )" + nested + "}";
  const Job job = expect_job(parse_job(payload, "", limits));
  EXPECT_EQ(job.job_id, "job-1");
}

// --- rejected: schema, ids ------------------------------------------------------------------

TEST(ParseJob, Schema) {
  expect_invalid(without(kMinimal, "/schema"), "schema: is required");
  expect_invalid(with("/schema", "1"), "schema: must be a string");
  for (std::string_view schema :
       {R"("mgit.sync-job/v2")", R"("mgit.sync-job/v10")", R"("mgit.sync-job/v1.")",
        R"("mgit.sync-job/v1.x")", R"("mgit.sync-job")", R"("other/v1")", R"("")"}) {
    expect_invalid(with("/schema", schema),
                   "schema: unsupported schema; expected mgit.sync-job/v1");
  }
  expect_job(parse(with("/schema", R"("mgit.sync-job/v1.3")")));
}

TEST(ParseJob, CorrelationIdFallsBackToHeaderThenJobId) {
  const std::string body = with("/correlation_id", R"("from-body")");
  EXPECT_EQ(expect_job(parse(body, "from-header")).correlation_id, "from-body");
  EXPECT_EQ(expect_job(parse(kMinimal, "from-header")).correlation_id, "from-header");
  EXPECT_EQ(expect_job(parse(kMinimal, "")).correlation_id, "job-1");
  // An empty body value counts as absent; an unusable header is skipped, not fatal.
  EXPECT_EQ(expect_job(parse(with("/correlation_id", R"("")"), "h")).correlation_id, "h");
  EXPECT_EQ(expect_job(parse(kMinimal, std::string(129, 'h'))).correlation_id, "job-1");
  EXPECT_EQ(expect_job(parse(kMinimal, "bad\nheader")).correlation_id, "job-1");
}

TEST(ParseJob, CorrelationIdValidation) {
  expect_invalid(with("/correlation_id", "7"), "correlation_id: must be a string");
  expect_invalid(with("/correlation_id", json_string(std::string(129, 'c'))),
                 "correlation_id: must be at most 128 printable ASCII characters");
  expect_invalid(with("/correlation_id", R"("a\tb")"),
                 "correlation_id: must be at most 128 printable ASCII characters");
  EXPECT_EQ(
      expect_job(parse(with("/correlation_id", json_string(std::string(128, 'c'))))).correlation_id,
      std::string(128, 'c'));
  // A rejected job still answers under the best correlation id available.
  const Rejected rejected = expect_rejected(parse(with("/correlation_id", "7"), "from-header"));
  EXPECT_EQ(rejected.correlation_id, "from-header");
  EXPECT_EQ(expect_rejected(parse(with("/operation", R"("x")"), "from-header")).correlation_id,
            "from-header");
  const std::string both = with(with("/operation", R"("x")"), "/correlation_id", R"("body")");
  EXPECT_EQ(expect_rejected(parse(both, "from-header")).correlation_id, "body");
  EXPECT_EQ(expect_rejected(parse(with("/operation", R"("x")"))).correlation_id, "job-1");
}

TEST(ParseJob, Operation) {
  expect_invalid(without(kMinimal, "/operation"), "operation: is required");
  for (std::string_view operation : {R"("pull")", R"("SYNC")", R"("")", "1", "[]"}) {
    expect_invalid(with("/operation", operation),
                   "operation: must be one of clone, fetch, sync, mirror");
  }
}

// --- rejected: repository -------------------------------------------------------------------

TEST(ParseJob, Repository) {
  expect_invalid(without(kMinimal, "/repository"), "repository: is required");
  expect_invalid(with("/repository", R"("https://git.example.com/org/app")"),
                 "repository: must be an object");
  expect_invalid(without(kMinimal, "/repository/url"), "repository.url: is required");
  expect_invalid(with("/repository/url", "5"), "repository.url: must be a string");
  expect_invalid(with("/repository/url", R"("file:///srv/app.git")"),
                 "repository.url: unsupported scheme; use https, http or ssh");
  const std::string base = "https://git.example.com/";
  expect_invalid(with("/repository/url", json_string(base + std::string(2049 - base.size(), 'a'))),
                 "repository.url: longer than 2048 bytes");
}

TEST(ParseJob, DuplicateKeysAreInvalid) {
  // Readers disagree on which copy of a key wins; mgitd refuses to pick one.
  expect_invalid(R"({"schema": "mgit.sync-job/v1", "job_id": "job-1", "operation": "fetch",
      "repository": {"url": "https://git.example.com/org/app.git"},
      "repository": {"url": "https://evil.example/org/app.git"}})",
                 "duplicate key repository: each key may appear only once");
  expect_invalid(R"({"schema": "mgit.sync-job/v1", "job_id": "job-1", "operation": "fetch",
      "repository": {"url": "https://git.example.com/org/app.git",
                     "url": "https://evil.example/org/app.git"}})",
                 "duplicate key repository.url: each key may appear only once");
  expect_invalid(R"({"schema": "mgit.sync-job/v1", "job_id": "job-1", "operation": "fetch",
      "repository": {"url": "https://git.example.com/org/app.git"},
      "extra": [{"a": 1}, {"b": 1, "b": 2}]})",
                 "duplicate key extra[].b: each key may appear only once");
  // A key that is not printable ASCII is not echoed.
  expect_invalid(R"({"schema": "mgit.sync-job/v1", "job_id": "job-1", "operation": "fetch",
      "repository": {"url": "https://git.example.com/org/app.git"}, "\n": 1, "\n": 2})",
                 "duplicate key …: each key may appear only once");
}

TEST(ParseJob, DuplicateJobIdLeavesNoUsableJobId) {
  const Unparseable unparseable = expect_unparseable(parse(
      R"({"schema": "mgit.sync-job/v1", "job_id": "job-1", "job_id": "job-2", "operation": "fetch",
          "repository": {"url": "https://git.example.com/org/app.git"}})"));
  EXPECT_EQ(unparseable.reason, "no_job_id");
  EXPECT_EQ(unparseable.message, "job_id appears more than once");
  // Another key given twice before it does not hide the doubled job_id.
  const Unparseable behind = expect_unparseable(
      parse(R"({"a": 1, "a": 2, "job_id": "job-1", "job_id": "job-2", "operation": "fetch",
          "repository": {"url": "https://git.example.com/org/app.git"}})"));
  EXPECT_EQ(behind.reason, "no_job_id");
  EXPECT_EQ(behind.message, "job_id appears more than once");
}

TEST(ParseJob, RejectedUrlIsKeptAsGivenForTheResultToRedact) {
  const std::string url = R"("https://oauth2:glpat-s3cret#x@gitlab.example.com/org/app")";
  const Rejected rejected = expect_rejected(parse(with("/repository/url", url)));
  EXPECT_EQ(rejected.error.code, ErrorCode::kInvalidJob);
  EXPECT_EQ(rejected.error.message.find("s3cret"), std::string::npos);
  EXPECT_EQ(json_string(rejected.repository_url), url);
}

TEST(ParseJob, CredentialsInUrlArePolicyDenied) {
  for (std::string_view url : {R"("https://user:s3cret@git.example.com/org/app.git")",
                               R"("https://s3cret@git.example.com/org/app.git")",
                               R"("ssh://git:s3cret@git.example.com/org/app.git")"}) {
    SCOPED_TRACE(url);
    const Rejected rejected = expect_rejected(parse(with("/repository/url", url)));
    EXPECT_EQ(rejected.error.code, ErrorCode::kPolicyDenied);
    EXPECT_EQ(rejected.error.message,
              "repository.url: credentials in the URL are not allowed; use repository.credential");
    EXPECT_EQ(rejected.error.message.find("s3cret"), std::string::npos);
    EXPECT_EQ(rejected.job_id, "job-1");
    EXPECT_EQ(rejected.operation, Operation::kFetch);
    EXPECT_EQ(json_string(rejected.repository_url), url);  // as given; the result strips it
    EXPECT_EQ(rejected.repository_key, "");
    EXPECT_EQ(rejected.target, "");
    EXPECT_FALSE(rejected.error.retryable());
  }
}

TEST(ParseJob, CredentialName) {
  const std::string message =
      "repository.credential: must be 1-128 characters of [A-Za-z0-9._-], not starting with '.'";
  for (std::string_view name :
       {R"("")", R"(".hidden")", R"("a/b")", R"("../etc")", R"("a b")", R"("tok:en")"}) {
    expect_invalid(with("/repository/credential", name), message);
  }
  expect_invalid(with("/repository/credential", json_string(std::string(129, 'k'))), message);
  expect_invalid(with("/repository/credential", R"({"name": "x"})"),
                 "repository.credential: must be a string");
  EXPECT_EQ(expect_job(parse(with("/repository/credential", json_string(std::string(128, 'k')))))
                .credential,
            std::string(128, 'k'));
  EXPECT_EQ(expect_job(parse(with("/repository/credential", R"("a.b_c-D9")"))).credential,
            "a.b_c-D9");
}

// --- rejected: ref, target ------------------------------------------------------------------

TEST(ParseJob, Ref) {
  for (std::string_view ref : {"main", "refs/heads/feature/x", "v1.2", "release-2024.01",
                               "9fceb02d0ae598e95dc970b74767f19372d61af8"}) {
    EXPECT_EQ(expect_job(parse(with("/ref", json_string(ref)))).ref, ref);
  }
  const std::string message = "ref: must be a valid git ref name of at most 255 characters";
  for (std::string_view ref :
       {"",     "-main", "a b",       "a..b", "a~1",   "a^",          "a:b",
        "a?",   "a*",    "a[b",       "a\\b", "a\tb",  "refs/heads/", "/main",
        "a//b", "main.", "main.lock", "@",    "a@{1}", ".hidden",     "refs/.hidden"}) {
    SCOPED_TRACE(ref);
    expect_invalid(with("/ref", json_string(ref)), message);
  }
  expect_invalid(with("/ref", json_string(std::string(256, 'r'))), message);
  EXPECT_EQ(expect_job(parse(with("/ref", json_string(std::string(255, 'r'))))).ref,
            std::string(255, 'r'));
  expect_invalid(with("/ref", R"(["main"])"), "ref: must be a string");
}

TEST(ParseJob, Target) {
  EXPECT_EQ(expect_job(parse(with("/target", R"("team/app")"))).target, "team/app");
  expect_invalid(with("/target", "3"), "target: must be a string");
  expect_invalid(with("/target", R"("../outside")"),
                 "target: must not contain '.' or '..' segments");
  expect_invalid(with("/target", R"("/abs/path")"), "target: must be relative to the workspace");
  expect_invalid(with("/target", R"("a/../b")"), "target: must not contain '.' or '..' segments");
  expect_invalid(with("/target", R"("a\u0001b")"), "target: must not contain control characters");
  expect_invalid(with("/target", R"("")"), "target: must not be empty");
}

TEST(ParseJob, GitDirTargetsAreRejected) {
  for (const char* target :
       {R"(".git")", R"("org/app/.git")", R"("org/.GIT/hooks")", R"("org/app/.Git")"}) {
    expect_invalid(with("/target", target), "target: '.git' segments are not allowed");
  }
  // A URL naming the work tree's `.git` is the repository itself, with the usual default.
  const Job job = expect_job(parse(with("/repository/url", R"("https://host/org/app/.git")")));
  EXPECT_EQ(job.repository_key, "https://host/org/app");
  EXPECT_EQ(job.target, "host/org/app");
  // A `.git` segment that stays in the key leaves no usable default target ...
  expect_invalid(with("/repository/url", R"("https://host/org/app/.GIT")"),
                 "target: cannot derive a default from repository.url (target: '.git' segments "
                 "are not allowed); set target explicitly");
  expect_invalid(with("/repository/url", R"("https://host/org/.git/app")"),
                 "target: cannot derive a default from repository.url (target: '.git' segments "
                 "are not allowed); set target explicitly");
  // ... but an explicit target still works.
  const std::string named =
      with(with("/repository/url", R"("https://host/org/.git/app")"), "/target", R"("org/app")");
  EXPECT_EQ(expect_job(parse(named)).target, "org/app");
}

TEST(ParseJob, RejectedCarriesWhatCouldBeRead) {
  const Rejected rejected = expect_rejected(parse(with("/options/depth", "1"), "h"));
  EXPECT_EQ(rejected.job_id, "job-1");
  EXPECT_EQ(rejected.correlation_id, "h");
  EXPECT_EQ(rejected.operation, Operation::kFetch);
  EXPECT_EQ(rejected.repository_url, "https://git.example.com/org/app.git");
  EXPECT_EQ(rejected.repository_key, "https://git.example.com/org/app");
  EXPECT_EQ(rejected.target, "git.example.com/org/app");

  const Rejected bad_target = expect_rejected(parse(with("/target", R"("../x")")));
  EXPECT_EQ(bad_target.target, "");  // an invalid target is not echoed
  const Rejected bad_operation = expect_rejected(parse(with("/operation", R"("pull")")));
  EXPECT_FALSE(bad_operation.operation.has_value());
}

TEST(ParseJob, RejectedUrlLeavesNoSecretInTheResult) {
  // Where the URL does not parse, its structure cannot say where a password ends: a '/' in
  // it, a missing slash or a '#' would otherwise leave the secret in the rejected result.
  for (const std::string_view url :
       {R"("https://user:pa/ss@host.example/x")", R"("https:/user:pass@host.example/x")",
        R"("git:tok3n@host:org/app?next=https://x")",
        R"("https://oauth2:glpat-tok3n#x@gitlab.example.com/org/app")"}) {
    const Rejected rejected = expect_rejected(parse(with("/repository/url", url)));
    EXPECT_EQ(rejected.repository_key, "") << url;
    JobResult result;
    result.job_id = rejected.job_id;
    result.status = Status::kRejected;
    result.repository_url = rejected.repository_url;
    result.error = rejected.error;
    const std::string json = result_to_json(result);
    for (const std::string_view secret : {"user", "pa/", "pass", "tok3n", "oauth2"}) {
      EXPECT_EQ(json.find(secret), std::string::npos) << json;
    }
  }
}

// --- rejected: options ----------------------------------------------------------------------

TEST(ParseJob, Options) {
  expect_invalid(with("/options", "[]"), "options: must be an object");
  expect_invalid(with("/options/prune", R"("yes")"), "options.prune: must be a boolean");
  expect_invalid(with("/options/bare", "1"), "options.bare: must be a boolean");
  expect_invalid(with("/options/submodules", R"("no")"), "options.submodules: must be a boolean");
  expect_invalid(with("/options/submodules", "true"),
                 "options.submodules: submodules are not supported");
  EXPECT_FALSE(expect_job(parse(with("/options/prune", "false"))).options.prune);
  EXPECT_TRUE(expect_job(parse(with("/options/bare", "true"))).options.bare);
  expect_invalid(with("/options/ref_backup", "0"), "options.ref_backup: must be a boolean");
  EXPECT_TRUE(expect_job(parse(with("/options/prune", "true"))).options.ref_backup);
  EXPECT_FALSE(expect_job(parse(with("/options/ref_backup", "false"))).options.ref_backup);
}

TEST(ParseJob, DepthOtherThanZeroIsRejected) {
  for (std::string_view depth : {"1", "-1", "2147483648", "18446744073709551615"}) {
    expect_invalid(with("/options/depth", depth),
                   "options.depth: shallow fetches are not supported");
  }
  for (std::string_view depth : {R"("0")", "0.5", "true"}) {
    expect_invalid(with("/options/depth", depth), "options.depth: must be an integer");
  }
  EXPECT_EQ(expect_job(parse(with("/options/depth", "0"))).options.depth, 0);
}

TEST(ParseJob, TimeoutSeconds) {
  const std::string message = "options.timeout_seconds: must be an integer between 1 and 86400";
  for (std::string_view timeout : {"0", "-5", "86401", "1.5", R"("600")", "9223372036854775808"}) {
    expect_invalid(with("/options/timeout_seconds", timeout), message);
  }
  EXPECT_EQ(expect_job(parse(with("/options/timeout_seconds", "1"))).options.timeout_seconds, 1);
  EXPECT_EQ(expect_job(parse(with("/options/timeout_seconds", "86400"))).options.timeout_seconds,
            86400);
}

TEST(ParseJob, MirrorIsAlwaysBare) {
  const std::string mirror = with("/operation", R"("mirror")");
  EXPECT_TRUE(expect_job(parse(mirror)).options.bare);
  EXPECT_TRUE(expect_job(parse(with(mirror, "/options/prune", "false"))).options.bare);
  EXPECT_TRUE(expect_job(parse(with(mirror, "/options/bare", "true"))).options.bare);
  const Rejected rejected = expect_rejected(parse(with(mirror, "/options/bare", "false")));
  EXPECT_EQ(rejected.error.code, ErrorCode::kInvalidJob);
  EXPECT_EQ(rejected.error.message, "options.bare: a mirror is always bare");
  EXPECT_EQ(rejected.operation, Operation::kMirror);
}

// --- rejected: not_after, requested_by ------------------------------------------------------

TEST(ParseJob, NotAfterParsesRfc3339) {
  const auto not_after = [](std::string_view text) {
    return expect_job(parse(with("/not_after", json_string(text)))).not_after.value();
  };
  const auto base = at_epoch_seconds(1795428000);  // 2026-11-23T10:00:00Z
  EXPECT_EQ(not_after("2026-11-23T10:00:00Z"), base);
  EXPECT_EQ(not_after("2026-11-23t10:00:00z"), base);
  EXPECT_EQ(not_after("2026-11-23T12:00:00+02:00"), base);
  EXPECT_EQ(not_after("2026-11-23T04:30:00-05:30"), base);
  EXPECT_EQ(not_after("2026-11-23T10:00:00.5Z"), base + std::chrono::milliseconds(500));
  EXPECT_EQ(not_after("2026-11-23T10:00:00.123456789Z"),
            base + std::chrono::nanoseconds(123456789));
  EXPECT_EQ(not_after("2026-11-23T10:00:00.1234567891234Z"),
            base + std::chrono::nanoseconds(123456789));
  EXPECT_EQ(not_after("2028-02-29T00:00:00Z"), at_epoch_seconds(1835395200));
  EXPECT_EQ(not_after("1970-01-01T00:00:00Z"), at_epoch_seconds(0));
}

TEST(ParseJob, NotAfterRejectsMalformedTimestamps) {
  const std::string message =
      "not_after: must be an RFC 3339 timestamp such as 2026-11-23T10:00:00Z";
  for (std::string_view text :
       {"", "2026-11-23", "2026-11-23 10:00:00Z", "2026-11-23T10:00:00", "2026-11-23T10:00Z",
        "2026-11-23T10:00:00+0200", "2026-11-23T10:00:00+02", "2026-11-23T10:00:00.Z",
        "2026-11-23T10:00:00ZZ", "2026-02-30T00:00:00Z", "2027-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-11-23T24:00:00Z",
        "2026-11-23T10:60:00Z", "2026-11-23T10:00:61Z", "2026-11-23T10:00:00+24:00",
        "+2026-11-23T10:00:00Z", "1795428000"}) {
    SCOPED_TRACE(text);
    expect_invalid(with("/not_after", json_string(text)), message);
  }
  expect_invalid(with("/not_after", "1795428000"), "not_after: must be a string");
  expect_invalid(with("/not_after", R"("9999-12-31T23:59:59Z")"),
                 "not_after: year must be between 1970 and 2200");
  expect_invalid(with("/not_after", R"("1969-12-31T23:59:59Z")"),
                 "not_after: year must be between 1970 and 2200");
}

TEST(ParseJob, RequestedBy) {
  EXPECT_EQ(
      expect_job(parse(with("/requested_by", json_string(std::string(256, 'r'))))).requested_by,
      std::string(256, 'r'));
  expect_invalid(with("/requested_by", json_string(std::string(257, 'r'))),
                 "requested_by: longer than 256 bytes");
  expect_invalid(with("/requested_by", "{}"), "requested_by: must be a string");
  expect_invalid(with("/requested_by", R"("a\nb")"),
                 "requested_by: must not contain control characters");
}

TEST(ParseJob, FirstInvalidFieldIsReported) {
  // Both operation and options are wrong: fields are checked in document order of the spec.
  const std::string payload = with(with("/operation", R"("x")"), "/options/depth", "3");
  EXPECT_EQ(expect_rejected(parse(payload)).error.message,
            "operation: must be one of clone, fetch, sync, mirror");
}

TEST(ParseJob, WrongTypesNeverThrow) {
  // Every known field with every JSON type: the outcome is always a Job or a Rejected.
  const char* pointers[] = {"/schema",
                            "/correlation_id",
                            "/operation",
                            "/repository",
                            "/repository/url",
                            "/repository/credential",
                            "/ref",
                            "/target",
                            "/options",
                            "/options/prune",
                            "/options/bare",
                            "/options/depth",
                            "/options/timeout_seconds",
                            "/options/submodules",
                            "/not_after",
                            "/requested_by"};
  const char* values[] = {"null",  "true",  "false",  "0",  "-1", "1.5",
                          "1e300", R"("")", R"("x")", "[]", "{}", R"([1,"a",{}])"};
  for (const char* pointer : pointers) {
    for (const char* value : values) {
      SCOPED_TRACE(std::string(pointer) + " = " + value);
      const std::string payload = with(kSpecExample, pointer, value);
      const ParseOutcome outcome = parse(payload);
      ASSERT_FALSE(std::holds_alternative<Unparseable>(outcome));
      if (const auto* rejected = std::get_if<Rejected>(&outcome)) {
        EXPECT_EQ(rejected->job_id, "01JD5Z8Q3V7R");
        EXPECT_FALSE(rejected->error.message.empty());
      }
    }
  }
}

}  // namespace
}  // namespace mgit::jobs
