#include "mgit/audit/audit_event.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

namespace mgit::audit {
namespace {

rapidjson::Document parse(const std::string& line) {
  rapidjson::Document doc;
  doc.Parse(line.c_str(), line.size());
  return doc;
}

TEST(AuditEventTest, EncodesTheCommonFieldsThenTheEventFieldsOnOneLine) {
  AuditEvent event;
  event.event = kCredentialUse;
  event.outcome = "succeeded";
  event.correlation_id = "req-1";
  event.job_id = "job-1";
  event.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  event.ts = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764979200123));
  event.fields = {{"credential", std::string("org-token")},
                  {"attempts", std::int64_t{2}},
                  {"restart_needed", false},
                  {"config", RawJson{R"({"workers":4})"}}};
  const auto line = encode(event);
  EXPECT_EQ(
      line,
      R"({"ts":"2025-12-06T00:00:00.123Z","event":"credential_use","outcome":"succeeded",)"
      R"("correlation_id":"req-1","job_id":"job-1","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",)"
      R"("credential":"org-token","attempts":2,"restart_needed":false,"config":{"workers":4}})");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(AuditEventTest, TextFromAJobIsEscapedIntoValidJson) {
  AuditEvent event;
  event.event = kPolicyDenied;
  event.outcome = "denied";
  event.job_id = "a\"b";
  event.fields = {{"message", std::string("line\nbreak \"quoted\" \x01 \xff")}};
  const auto doc = parse(encode(event));
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["job_id"].GetString(), "a\"b");
  EXPECT_EQ(std::string(doc["message"].GetString()).substr(0, 10), "line\nbreak");
}

TEST(AuditEventTest, UserinfoInAnyTextFieldNeverReachesTheLine) {
  // The builders redact already; the encoder is the last guard for every text field.
  AuditEvent event;
  event.event = kPolicyDenied;
  event.outcome = "denied";
  event.fields = {
      {"repository", std::string("https://oauth2:glpat-SECRET1#x@gitlab.example.com/org/app.git")},
      {"message", std::string("connect to https://x-access-token:ghp_SECRET2@evil.example/x.git")}};
  const auto line = encode(event);
  EXPECT_EQ(line.find("SECRET1"), std::string::npos) << line;
  EXPECT_EQ(line.find("SECRET2"), std::string::npos) << line;
  EXPECT_NE(line.find("gitlab.example.com/org/app.git"), std::string::npos) << line;
}

}  // namespace
}  // namespace mgit::audit
