#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <fstream>
#include <sstream>
#include <string>

#include "mgit/jobs/repository_key.hpp"
#include "mgit/jobs/target.hpp"

namespace mgit::jobs {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(RepositoryKeyVectors, EveryVectorNormalizesAsDocumented) {
  const std::string text = read_file(MGITD_SOURCE_DIR "/docs/repository-key-vectors.json");
  ASSERT_FALSE(text.empty()) << "docs/repository-key-vectors.json is missing";
  rapidjson::Document vectors;
  vectors.Parse(text.data(), text.size());
  ASSERT_FALSE(vectors.HasParseError());
  ASSERT_TRUE(vectors.IsArray());
  ASSERT_GE(vectors.Size(), 30u);
  int keys = 0;
  int errors = 0;
  for (const auto& vector : vectors.GetArray()) {
    const std::string url(vector["url"].GetString(), vector["url"].GetStringLength());
    SCOPED_TRACE("url: " + url);
    const auto key = normalize_repository_url(url);
    if (vector.HasMember("key")) {
      ++keys;
      ASSERT_TRUE(key.has_value()) << key.error().message;
      EXPECT_EQ(*key, vector["key"].GetString());
      if (vector.HasMember("target")) {
        EXPECT_EQ(default_target(*key), vector["target"].GetString());
        EXPECT_TRUE(validate_target(default_target(*key)).has_value());
      }
      if (vector.HasMember("target_error")) {
        const auto target = validate_target(default_target(*key));
        ASSERT_FALSE(target.has_value()) << "default target " << *target << " was accepted";
        EXPECT_EQ(to_string(target.error().code), vector["target_error"].GetString());
      }
      // A key normalizes to itself, except where only one of several `.git` was stripped.
      const auto again = normalize_repository_url(*key);
      ASSERT_TRUE(again.has_value()) << again.error().message;
      if (!key->ends_with(".git")) {
        EXPECT_EQ(*again, *key);
      }
    } else {
      ++errors;
      ASSERT_FALSE(key.has_value()) << "normalized to " << *key;
      EXPECT_EQ(to_string(key.error().code), vector["error"].GetString()) << key.error().message;
      EXPECT_TRUE(key.error().message.starts_with("repository.url: ")) << key.error().message;
    }
  }
  EXPECT_GT(keys, 0);
  EXPECT_GT(errors, 0);
}

TEST(RepositoryKey, CredentialMessageNeverEchoesTheSecret) {
  const auto key = normalize_repository_url("https://user:hunter2@git.example.com/org/app.git");
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().code, ErrorCode::kPolicyDenied);
  EXPECT_EQ(key.error().message,
            "repository.url: credentials in the URL are not allowed; use repository.credential");
  EXPECT_EQ(key.error().message.find("hunter2"), std::string::npos);
}

TEST(RepositoryKey, AtSignInsideATokenDoesNotMoveTheHost) {
  // The last '@' ends the userinfo, so the token's '@' cannot make "evil.com" the host.
  const auto key = normalize_repository_url("https://to@ken@git.example.com/org/app");
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().code, ErrorCode::kPolicyDenied);
}

TEST(RepositoryKey, ScpLikeUrlHasOneAtSignBeforeTheHost) {
  // The host a credential check reads and the host a connection goes to must be the same:
  // a second '@' would let `evil.example` and `good.example` both claim to be it.
  const auto key = normalize_repository_url("user@evil.example:path@good.example");
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().code, ErrorCode::kInvalidJob);
  EXPECT_EQ(key.error().message, "repository.url: an scp-like URL has one '@', before the host");
}

TEST(RepositoryKey, OptionLikeUsersAndPathsAndShellSyntaxAreRefused) {
  const struct {
    std::string url;
    std::string message;
  } cases[] = {
      {"ssh://-u@git.example.com/r", "repository.url: user name must not start with '-'"},
      {"git@git.example.com:-oProxyCommand=x/app.git",
       "repository.url: path must not start with '-'"},
      {"git@git.example.com:org/a;b",
       "repository.url: ssh path must not contain shell metacharacters"},
      {"ssh://git.example.com/org/$(id)",
       "repository.url: ssh path must not contain shell metacharacters"},
      {"javascript:alert(1)",
       "repository.url: not a supported git URL; use https, http, ssh or user@host:path"},
      {"https://git.example.com/org/app?x=1",
       "repository.url: must not contain a query or fragment ('?' or '#')"},
      {"https://git.example.com/org/app#main",
       "repository.url: must not contain a query or fragment ('?' or '#')"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    const auto key = normalize_repository_url(c.url);
    ASSERT_FALSE(key.has_value()) << *key;
    EXPECT_EQ(key.error().code, ErrorCode::kInvalidJob);
    EXPECT_EQ(key.error().message, c.message);
  }
}

TEST(RepositoryKey, LengthLimit) {
  const std::string base = "https://git.example.com/";
  const std::string fits = base + std::string(2048 - base.size(), 'a');
  EXPECT_TRUE(normalize_repository_url(fits).has_value());
  const auto too_long = normalize_repository_url(fits + "a");
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().code, ErrorCode::kInvalidJob);
}

TEST(RepositoryKey, RejectionMessagesNameTheProblem) {
  EXPECT_EQ(normalize_repository_url("file:///srv/app.git").error().message,
            "repository.url: unsupported scheme; use https, http or ssh");
  EXPECT_EQ(normalize_repository_url("https://git.example.com/").error().message,
            "repository.url: repository path is missing");
  EXPECT_EQ(normalize_repository_url("https://git.example.com/a/../b").error().message,
            "repository.url: path must not contain '.' or '..' segments");
  EXPECT_EQ(normalize_repository_url("https://git.example.com:70000/a").error().message,
            "repository.url: port out of range");
}

TEST(DefaultTarget, HostAndPathOfTheKey) {
  EXPECT_EQ(default_target("https://git.example.com/org/app"), "git.example.com/org/app");
  EXPECT_EQ(default_target("ssh://host/org/app"), "host/org/app");
  EXPECT_EQ(default_target("https://host:8443/org/app"), "host_8443/org/app");
  EXPECT_EQ(default_target("https://[::1]/org/app"), "__1/org/app");
}

TEST(ValidateTarget, AcceptsRelativePaths) {
  EXPECT_EQ(validate_target("org/app").value(), "org/app");
  EXPECT_EQ(validate_target("app").value(), "app");
  EXPECT_EQ(validate_target("git.example.com_8443/org/app.v2").value(),
            "git.example.com_8443/org/app.v2");
  EXPECT_EQ(validate_target("a/..b/c..").value(), "a/..b/c..");
  EXPECT_EQ(validate_target(".hidden/app").value(), ".hidden/app");
  // Only a whole `.git` segment is the git dir; names that merely contain it are fine.
  EXPECT_EQ(validate_target("org/app.git").value(), "org/app.git");
  EXPECT_EQ(validate_target("org/.github/x.git").value(), "org/.github/x.git");
  EXPECT_EQ(validate_target("org/.gitx").value(), "org/.gitx");
}

TEST(ValidateTarget, RejectsEscapesAndMalformedPaths) {
  const struct {
    std::string target;
    std::string message;
  } cases[] = {
      {"", "target: must not be empty"},
      {"/srv/app", "target: must be relative to the workspace"},
      {"..", "target: must not contain '.' or '..' segments"},
      {"../app", "target: must not contain '.' or '..' segments"},
      {"a/../b", "target: must not contain '.' or '..' segments"},
      {"a/..", "target: must not contain '.' or '..' segments"},
      {"./a", "target: must not contain '.' or '..' segments"},
      {"a/./b", "target: must not contain '.' or '..' segments"},
      {"a//b", "target: must not contain empty segments"},
      {"a/b/", "target: must not contain empty segments"},
      {"a\nb", "target: must not contain control characters"},
      {std::string("a\0b", 3), "target: must not contain control characters"},
      {"a\x7f", "target: must not contain control characters"},
      {"a/" + std::string(256, 'x'), "target: path segment longer than 255 bytes"},
      {std::string(1025, 'x'), "target: longer than 1024 bytes"},
      {".git", "target: '.git' segments are not allowed"},
      {"org/app/.git", "target: '.git' segments are not allowed"},
      {"org/app/.GIT/hooks", "target: '.git' segments are not allowed"},
      {".Git/app", "target: '.git' segments are not allowed"},
      {"org/.gIt", "target: '.git' segments are not allowed"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.target);
    const auto result = validate_target(c.target);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidJob);
    EXPECT_EQ(result.error().message, c.message);
  }
  // The total limit is checked in bytes, independently of the per-segment limit.
  std::string exactly_1024;
  for (int i = 0; i < 4; ++i) exactly_1024 += std::string(200, 'x') + "/";
  exactly_1024 += std::string(220, 'y');
  ASSERT_EQ(exactly_1024.size(), 1024u);
  EXPECT_TRUE(validate_target(exactly_1024).has_value());
  EXPECT_FALSE(validate_target(exactly_1024 + "y").has_value());
}

}  // namespace
}  // namespace mgit::jobs
