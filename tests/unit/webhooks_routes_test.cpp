// The routes file is the allowlist: which pushes make jobs, and which jobs.

#include <gtest/gtest.h>

#include <variant>

#include "mgit/jobs/parse.hpp"
#include "mgit/webhooks/routes.hpp"
#include "mgit/webhooks/webhook_job.hpp"

namespace mgit::webhooks {
namespace {

constexpr std::string_view kRoute = R"(
[[route]]
name = "acme"
provider = "github"
secret_file = "/run/secrets/acme"
repositories = ["acme/*", "platform/infra"]
url = "https://github.com/{repository}.git"
operation = "mirror"
target = "mirrors/{repository}"
credential = "github-acme"
)";

TEST(WebhookRoutesTest, GlobsMatchWithinASegmentOrAcrossWithTwoStars) {
  EXPECT_TRUE(repository_glob_matches("acme/*", "acme/app"));
  EXPECT_FALSE(repository_glob_matches("acme/*", "acme/sub/app"));
  EXPECT_FALSE(repository_glob_matches("acme/*", "acme"));
  EXPECT_FALSE(repository_glob_matches("acme/*", "acmex/app"));
  EXPECT_TRUE(repository_glob_matches("acme/**", "acme/sub/app"));
  EXPECT_TRUE(repository_glob_matches("acme/**", "acme/app"));
  EXPECT_TRUE(repository_glob_matches("*/app", "acme/app"));
  EXPECT_FALSE(repository_glob_matches("*/app", "acme/sub/app"));
  EXPECT_TRUE(repository_glob_matches("acme/svc-*", "acme/svc-billing"));
  EXPECT_FALSE(repository_glob_matches("acme/svc-*", "acme/web-billing"));
  EXPECT_TRUE(repository_glob_matches("platform/infra", "platform/infra"));
  EXPECT_FALSE(repository_glob_matches("platform/infra", "Platform/infra")) << "case-sensitive";
  EXPECT_FALSE(repository_glob_matches("platform/infra", "platform/infra2"));
  EXPECT_TRUE(repository_glob_matches("**", "a/b/c"));
  // Many stars stay linear: this would take ages with naive backtracking.
  EXPECT_FALSE(repository_glob_matches("a*a*a*a*a*a*a*a*a*a*a*b", std::string(200, 'a')));
}

TEST(WebhookRoutesTest, TheJobComesFromTheRouteAndTheRepositoryNameAlone) {
  auto table = RouteTable::parse(kRoute);
  ASSERT_TRUE(table) << table.error();
  const auto* route =
      table->match(Provider::kGitHub, "/run/secrets/acme", "github.com", "acme/app");
  ASSERT_NE(route, nullptr);
  auto job = build_webhook_job(*route, "acme/app", "delivery-1");
  ASSERT_TRUE(job) << job.error();
  EXPECT_EQ(job->job_id, "github:delivery-1");
  EXPECT_EQ(job->correlation_id, "delivery-1");
  EXPECT_EQ(job->repository_key, "https://github.com/acme/app");
  // Read back the way the daemon reads any job.
  const auto parsed = jobs::parse_job(job->payload, "", jobs::ParseLimits{});
  const auto* valid = std::get_if<jobs::Job>(&parsed);
  ASSERT_NE(valid, nullptr) << job->payload;
  EXPECT_EQ(valid->repository_url, "https://github.com/acme/app.git");
  EXPECT_EQ(valid->operation, jobs::Operation::kMirror);
  EXPECT_EQ(valid->target, "mirrors/acme/app");
  EXPECT_EQ(valid->credential, "github-acme");
  EXPECT_EQ(valid->requested_by, "webhook:github");
  EXPECT_TRUE(valid->options.prune);
}

TEST(WebhookRoutesTest, MatchNeedsProviderSecretHostAndAGlob) {
  const auto text = std::string(kRoute) + R"(
[[route]]
name = "enterprise"
provider = "github"
secret_file = "/run/secrets/ghe"
host = "GHE.example.com"
repositories = ["**"]
url = "https://ghe.example.com/{repository}.git"
)";
  auto table = RouteTable::parse(text);
  ASSERT_TRUE(table) << table.error();
  EXPECT_NE(table->match(Provider::kGitHub, "/run/secrets/acme", "", "platform/infra"), nullptr);
  EXPECT_EQ(table->match(Provider::kGitHub, "/run/secrets/acme", "", "platform/other"), nullptr);
  EXPECT_EQ(table->match(Provider::kGitLab, "/run/secrets/acme", "", "acme/app"), nullptr);
  // Another route's secret does not open this route's repositories.
  EXPECT_EQ(
      table->match(Provider::kGitHub, "/run/secrets/ghe", "ghe.example.com", "acme/app")->name,
      "enterprise");
  EXPECT_EQ(table->match(Provider::kGitHub, "/run/secrets/ghe", "github.com", "acme/app"), nullptr)
      << "the host must match (lower-cased)";
}

TEST(WebhookRoutesTest, RefusesRoutesFilesThatCannotBeRight) {
  const auto with = [](const std::string& replace, const std::string& by) {
    auto text = std::string(kRoute);
    const auto at = text.find(replace);
    EXPECT_NE(at, std::string::npos) << replace;
    return text.replace(at, replace.size(), by);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {with(R"(provider = "github")", R"(provider = "bitbucket")"), "provider"},
      {with(R"(secret_file = "/run/secrets/acme")", ""), "secret_file"},
      {with(R"(repositories = ["acme/*", "platform/infra"])", "repositories = []"), "repositories"},
      {with(R"(repositories = ["acme/*", "platform/infra"])", R"(repositories = "acme/*")"),
       "list of strings"},
      {with("{repository}.git", "fixed.git"), "{repository}"},
      {with(R"(operation = "mirror")", R"(operation = "clone")"), "sync or mirror"},
      {with("credential =", "credentail ="), "unknown key 'credentail'"},
      {with("https://github.com", "https://user:pw@github.com"), "invalid jobs"},
      {with("https://github.com", "file:///etc"), "invalid jobs"},
      {with(R"(target = "mirrors/{repository}")", R"(target = "/abs/{repository}")"),
       "invalid jobs"},
      {with(R"(name = "acme")", ""), "name"},
      {std::string(kRoute) + std::string(kRoute), "two routes are named 'acme'"},
      {"", "no [[route]]"},
      {"[route]\nname = 1", "[[route]]"},
      {"routes = 1", "unknown key 'routes'"},
      {"[[route", "routes file"},
  };
  for (const auto& [text, expected] : cases) {
    const auto parsed = RouteTable::parse(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_NE(parsed.error().find(expected), std::string::npos)
        << "error: " << parsed.error() << "\nexpected: " << expected;
  }
}

}  // namespace
}  // namespace mgit::webhooks
