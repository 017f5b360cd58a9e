// Providers' proofs and push payloads: signatures against published vectors, payloads from
// the providers' documentation (tests/webhooks/payloads).

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "mgit/webhooks/push_event.hpp"
#include "mgit/webhooks/signature.hpp"
#include "mgit/webhooks/webhook_job.hpp"

namespace mgit::webhooks {
namespace {

std::string payload(const std::string& name) {
  std::ifstream in(std::string(MGITD_SOURCE_DIR) + "/tests/webhooks/payloads/" + name);
  EXPECT_TRUE(in) << name;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(WebhookProofTest, HmacMatchesRfc4231AndGitHubsPublishedExample) {
  // RFC 4231, test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // docs.github.com, "Validating webhook deliveries": the values GitHub publishes for testing.
  EXPECT_TRUE(proves_secret(
      Provider::kGitHub, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
      "Hello, World!", "It's a Secret to Everybody"));
}

TEST(WebhookProofTest, GitHubSignatureMustMatchTheBodyTheSecretAndTheScheme) {
  const std::string body = R"({"ref":"refs/heads/main"})";
  const std::string secret = "a-secret-of-some-length";
  const auto good = "sha256=" + hmac_sha256_hex(secret, body);
  EXPECT_TRUE(proves_secret(Provider::kGitHub, good, body, secret));
  EXPECT_FALSE(proves_secret(Provider::kGitHub, good, body + " ", secret));
  EXPECT_FALSE(proves_secret(Provider::kGitHub, good, body, secret + "x"));
  EXPECT_FALSE(proves_secret(Provider::kGitHub, hmac_sha256_hex(secret, body), body, secret))
      << "without the sha256= scheme";
  EXPECT_FALSE(
      proves_secret(Provider::kGitHub, "sha1=" + hmac_sha256_hex(secret, body), body, secret));
  EXPECT_FALSE(proves_secret(Provider::kGitHub, good.substr(0, good.size() - 1), body, secret));
  EXPECT_FALSE(proves_secret(Provider::kGitHub, "", body, secret));
  EXPECT_FALSE(proves_secret(Provider::kGitHub, "sha256=" + hmac_sha256_hex("", body), body, ""))
      << "an empty secret proves nothing";
}

TEST(WebhookProofTest, AProofOfTheWrongShapeIsRefusedBeforeAnyDigest) {
  const auto hex = hmac_sha256_hex("k", "b");
  EXPECT_TRUE(well_formed_proof(Provider::kGitHub, "sha256=" + hex));
  EXPECT_FALSE(well_formed_proof(Provider::kGitHub, "sha256=" + hex.substr(1)));
  EXPECT_FALSE(well_formed_proof(Provider::kGitHub, "sha256=" + hex + "0"));
  EXPECT_FALSE(well_formed_proof(Provider::kGitHub, "sha256=" + std::string(64, 'g')));
  EXPECT_FALSE(well_formed_proof(Provider::kGitHub, hex));
  EXPECT_TRUE(well_formed_proof(Provider::kGitea, hex));
  EXPECT_FALSE(well_formed_proof(Provider::kGitea, "sha256=" + hex));
  EXPECT_TRUE(well_formed_proof(Provider::kGitLab, "any-token"));
  EXPECT_FALSE(well_formed_proof(Provider::kGitLab, ""));
  EXPECT_FALSE(well_formed_proof(Provider::kGitLab, std::string(1025, 't')));
}

TEST(WebhookProofTest, GitLabTokenAndGiteaSignature) {
  const std::string body = R"({"ref":"refs/heads/main"})";
  const std::string secret = "gitlab-token-0123456789";
  EXPECT_TRUE(proves_secret(Provider::kGitLab, secret, body, secret));
  EXPECT_FALSE(proves_secret(Provider::kGitLab, secret + " ", body, secret));
  EXPECT_FALSE(proves_secret(Provider::kGitLab, "", body, secret));
  const auto signature = hmac_sha256_hex(secret, body);
  EXPECT_TRUE(proves_secret(Provider::kGitea, signature, body, secret));
  EXPECT_FALSE(proves_secret(Provider::kGitea, "sha256=" + signature, body, secret));
  EXPECT_FALSE(proves_secret(Provider::kGitea, signature, body, "another-secret-123456"));
  // A GitLab token is not a signature: a Gitea proof for the body is not a GitLab token.
  EXPECT_FALSE(proves_secret(Provider::kGitLab, signature, body, secret));
}

TEST(WebhookProofTest, ReadsTheProvidersDocumentedPushPayloads) {
  const auto gitlab = parse_push_event(Provider::kGitLab, payload("gitlab-push.json"));
  ASSERT_TRUE(gitlab) << gitlab.error();
  EXPECT_EQ(gitlab->repository, "mike/diaspora");
  EXPECT_EQ(gitlab->host, "example.com");
  EXPECT_EQ(gitlab->ref, "refs/heads/master");
  EXPECT_EQ(gitlab->after, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
  EXPECT_FALSE(gitlab->deleted);
  const auto tag = parse_push_event(Provider::kGitLab, payload("gitlab-tag-push.json"));
  ASSERT_TRUE(tag) << tag.error();
  EXPECT_EQ(tag->repository, "jsmith/example");
  EXPECT_EQ(tag->ref, "refs/tags/v1.0.0");
  const auto gitea = parse_push_event(Provider::kGitea, payload("gitea-push.json"));
  ASSERT_TRUE(gitea) << gitea.error();
  EXPECT_EQ(gitea->repository, "gitea/webhooks");
  EXPECT_EQ(gitea->host, "localhost");
  EXPECT_EQ(gitea->ref, "refs/heads/develop");
}

TEST(WebhookProofTest, AnAllZeroAfterIsADeletion) {
  const auto event = parse_push_event(
      Provider::kGitHub,
      R"({"ref":"refs/heads/gone","after":"0000000000000000000000000000000000000000",)"
      R"("repository":{"full_name":"org/app","html_url":"https://GitHub.com:443/org/app"}})");
  ASSERT_TRUE(event) << event.error();
  EXPECT_TRUE(event->deleted);
  EXPECT_EQ(event->host, "github.com");
}

TEST(WebhookProofTest, RefusesPayloadsWithoutAUsableRepositoryName) {
  const auto with_name = [](const std::string& name) {
    return R"({"ref":"refs/heads/main","repository":{"full_name":")" + name + R"("}})";
  };
  for (const std::string name :
       {"", "app", "org/../app", "org/./app", "-org/app", "org//app", "org/app/", "/org/app",
        "org/ap p", "org/app?x", "org/app#x", "org/a%2e", "org/app\\\\x", "org/\\u00e9"}) {
    const auto parsed = parse_push_event(Provider::kGitHub, with_name(name));
    if (name == "app") {
      EXPECT_TRUE(parsed) << "a single segment is a valid name";
      continue;
    }
    EXPECT_FALSE(parsed) << name;
  }
  EXPECT_FALSE(parse_push_event(Provider::kGitHub, with_name(std::string(256, 'a'))));
  EXPECT_FALSE(parse_push_event(Provider::kGitHub, R"({"ref":"refs/heads/main"})"));
  EXPECT_FALSE(parse_push_event(Provider::kGitHub, R"({"repository":{"full_name":"o/a"}})"));
  EXPECT_FALSE(parse_push_event(Provider::kGitHub, "not json"));
  EXPECT_FALSE(parse_push_event(Provider::kGitHub, "[]"));
  EXPECT_FALSE(parse_push_event(Provider::kGitLab, with_name("org/app")))
      << "GitLab names the project, not a repository";
  // Deep nesting is refused without recursion (the listener's thread has a normal stack).
  EXPECT_FALSE(parse_push_event(Provider::kGitHub, std::string(200000, '[')));
}

TEST(WebhookProofTest, JobIdsComeFromTheDeliveryId) {
  EXPECT_EQ(webhook_job_id(Provider::kGitHub, "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            "github:72d3162e-cc78-11e3-81ab-4c9367dc0958");
  EXPECT_EQ(webhook_job_id(Provider::kGitLab, "x"), "gitlab:x");
  // Outside the job-id alphabet or too long: a digest, the same for the same delivery.
  const auto odd = webhook_job_id(Provider::kGitea, "id with spaces/and slashes");
  EXPECT_EQ(odd.rfind("gitea:sha256-", 0), 0U) << odd;
  EXPECT_EQ(odd.size(), std::string("gitea:sha256-").size() + 40);
  EXPECT_EQ(odd, webhook_job_id(Provider::kGitea, "id with spaces/and slashes"));
  EXPECT_NE(odd, webhook_job_id(Provider::kGitea, "id with spaces/and slashes!"));
  EXPECT_EQ(webhook_job_id(Provider::kGitHub, std::string(101, 'a')).rfind("github:sha256-", 0),
            0U);
}

}  // namespace
}  // namespace mgit::webhooks
