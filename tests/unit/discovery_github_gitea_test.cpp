// The GitHub and Gitea parsers on documented example pages: GitHub's own example for
// "List organization repositories" from its OpenAPI description (@octokit/openapi, saved in
// tests/discovery/examples/), and Gitea pages built from its swagger Repository model.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "mgit/discovery/provider.hpp"
#include "provider_support.hpp"

namespace mgit::discovery {
namespace {

std::string read_example(const std::string& name) {
  std::ifstream in(std::string(MGITD_SOURCE_DIR) + "/tests/discovery/examples/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

ApiResponse ok(std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
  ApiResponse response;
  response.status = 200;
  response.body = std::move(body);
  response.headers = std::move(headers);
  return response;
}

const Query kGithub{"https://api.github.com", "octo-org"};

TEST(DiscoveryGithub, FirstRequestAsDocumented) {
  const auto provider = make_provider("github");
  const auto requests = provider->first(kGithub);
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(requests[0].url,
            "https://api.github.com/orgs/octo-org/"
            "repos?per_page=100&type=all&sort=created&direction=asc");
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Accept", "application/vnd.github+json"}, {"X-GitHub-Api-Version", "2022-11-28"}};
  EXPECT_EQ(requests[0].headers, headers);
  EXPECT_EQ(provider->authorization("", "t0k").second, "Bearer t0k");
  EXPECT_EQ(provider->default_api_base(), "https://api.github.com");
  // An org name is one path segment, whatever it holds.
  EXPECT_EQ(provider->first({"https://ghe.example.com/api/v3", "a/b c"})[0].url,
            "https://ghe.example.com/api/v3/orgs/a%2Fb%20c/"
            "repos?per_page=100&type=all&sort=created&direction=asc");
}

TEST(DiscoveryGithub, ParsesGithubsOwnExample) {
  const auto provider = make_provider("github");
  const auto request = provider->first(kGithub)[0];
  const std::string next = "https://api.github.com/organizations/9919/repos?per_page=100&page=2";
  const auto page = provider->parse(
      kGithub, request,
      ok(read_example("github-list-org-repos.json"),
         {{"link",
           "<" + next + ">; rel=\"next\", <https://api.github.com/x?page=5>; rel=\"last\""}}));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->repositories.size(), 1U);
  const auto& repo = page->repositories[0];
  // The values of the example in GitHub's OpenAPI description.
  EXPECT_EQ(repo.full_name, "octocat/Hello-World");
  EXPECT_EQ(repo.name, "Hello-World");
  EXPECT_EQ(repo.https_url, "https://github.com/octocat/Hello-World.git");
  EXPECT_EQ(repo.ssh_url, "git@github.com:octocat/Hello-World.git");
  EXPECT_EQ(repo.default_branch, "master");
  EXPECT_EQ(repo.visibility, "public");
  EXPECT_EQ(repo.topics, (std::vector<std::string>{"octocat", "atom", "electron", "api"}));
  EXPECT_EQ(repo.pushed_at, parse_timestamp("2011-01-26T19:06:43Z"));
  EXPECT_FALSE(repo.archived);
  EXPECT_FALSE(repo.fork);
  ASSERT_TRUE(page->next);
  EXPECT_EQ(page->next->url, next);
  EXPECT_EQ(page->next->headers, request.headers);
}

TEST(DiscoveryGithub, LastPageHasNoNext) {
  const auto provider = make_provider("github");
  const auto page = provider->parse(kGithub, provider->first(kGithub)[0], ok("[]"));
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->repositories.empty());
  EXPECT_FALSE(page->next);
}

TEST(DiscoveryGithub, PrivateWithoutVisibilityAndNullPushedAt) {
  const auto provider = make_provider("github");
  const auto page = provider->parse(
      kGithub, provider->first(kGithub)[0],
      ok(R"([{"full_name":"o/r","name":"r","clone_url":"https://h/o/r.git","private":true,)"
         R"("fork":true,"pushed_at":null,"archived":true}])"));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->repositories[0].visibility, "private");
  EXPECT_FALSE(page->repositories[0].pushed_at);
  EXPECT_TRUE(page->repositories[0].fork);
  EXPECT_TRUE(page->repositories[0].archived);
}

struct BadBody {
  const char* body;
  const char* expected;  ///< in the message
};

class DiscoveryGithubRejects : public testing::TestWithParam<BadBody> {};

TEST_P(DiscoveryGithubRejects, NamesTheProblem) {
  const auto provider = make_provider("github");
  const auto page = provider->parse(kGithub, provider->first(kGithub)[0], ok(GetParam().body));
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().code, DiscoveryErrorCode::kBadResponse);
  EXPECT_NE(page.error().message.find(GetParam().expected), std::string::npos)
      << page.error().message;
}

constexpr const char* kRepo =
    R"("full_name":"o/r","name":"r","clone_url":"https://h/o/r.git","private":false)";

INSTANTIATE_TEST_SUITE_P(
    Bodies, DiscoveryGithubRejects,
    testing::Values(
        BadBody{R"({"message":"x"})", "not a JSON array"}, BadBody{"[1]", "not an object"},
        BadBody{"[{", "not JSON"},
        BadBody{R"([{"name":"r","clone_url":"u","private":false,"fork":false}])",
                "\"full_name\" is missing"},
        BadBody{R"([{"full_name":"o/r","name":"r","private":false,"fork":false}])",
                "\"clone_url\" is missing"},
        BadBody{R"([{"full_name":7,"name":"r","clone_url":"u","private":false,"fork":false}])",
                "\"full_name\" is not a string"},
        BadBody{R"([{"full_name":"o/r","name":"r","clone_url":"u","private":false}])",
                "\"fork\" is missing"},
        BadBody{R"([{"full_name":"o/r","name":"r","clone_url":"u","private":"no","fork":false}])",
                "\"private\" is not a boolean"},
        BadBody{
            R"([{"full_name":"o/r","name":"r","clone_url":"u","private":false,"fork":false,"topics":"a"}])",
            "\"topics\" is not an array"},
        BadBody{
            R"([{"full_name":"o/r","name":"r","clone_url":"u","private":false,"fork":false,"topics":[1]}])",
            "\"topics\" holds a non-string"},
        BadBody{
            R"([{"full_name":"o/r","name":"r","clone_url":"u","private":false,"fork":false,"pushed_at":"yesterday"}])",
            "\"pushed_at\" is not an RFC 3339 time"},
        BadBody{
            R"([{"full_name":"o/r","name":"r","clone_url":"u","private":false,"fork":false,"archived":1}])",
            "\"archived\" is not a boolean"}));

TEST(DiscoveryGithub, NextLinkOffOriginIsRefused) {
  const auto provider = make_provider("github");
  for (const char* next :
       {"https://evil.example.com/orgs/x/repos?page=2", "http://api.github.com/orgs/x/repos?page=2",
        "https://api.github.com:8443/orgs/x/repos?page=2"}) {
    const auto page = provider->parse(kGithub, provider->first(kGithub)[0],
                                      ok(std::string("[{") + kRepo + R"(,"fork":false}])",
                                         {{"link", std::string("<") + next + ">; rel=\"next\""}}));
    ASSERT_FALSE(page) << next;
    EXPECT_EQ(page.error().code, DiscoveryErrorCode::kBadResponse);
    EXPECT_NE(page.error().message.find("off the API's origin"), std::string::npos);
  }
}

TEST(DiscoveryGithub, DeeplyNestedBodyIsAnErrorNotACrash) {
  const auto provider = make_provider("github");
  const std::string body = std::string(200000, '[') + std::string(200000, ']');
  const auto page = provider->parse(kGithub, provider->first(kGithub)[0], ok(body));
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().code, DiscoveryErrorCode::kBadResponse);
}

const Query kGitea{"https://gitea.example.com", "infra"};

// The fields of Gitea's swagger `Repository` model (docs.gitea.com/api/1.22) that the parser
// reads, as Gitea 1.22 sends them.
std::string gitea_repo(const std::string& name, bool is_private, bool internal) {
  return R"({"id":3,"owner":{"id":7,"login":"infra"},"name":")" + name +
         R"(","full_name":"infra/)" + name + R"(","private":)" + (is_private ? "true" : "false") +
         R"(,"internal":)" + (internal ? "true" : "false") +
         R"(,"fork":false,"archived":false,"html_url":"https://gitea.example.com/infra/)" + name +
         R"(","ssh_url":"git@gitea.example.com:infra/)" + name +
         R"(.git","clone_url":"https://gitea.example.com/infra/)" + name +
         R"(.git","default_branch":"main","updated_at":"2024-05-06T07:08:09+02:00","topics":["ops"]})";
}

TEST(DiscoveryGitea, FirstRequestAndAuthorization) {
  const auto provider = make_provider("gitea");
  EXPECT_EQ(provider->first(kGitea)[0].url,
            "https://gitea.example.com/api/v1/orgs/infra/repos?limit=50&page=1");
  EXPECT_EQ(provider->authorization("", "t0k"),
            (std::pair<std::string, std::string>{"Authorization", "token t0k"}));
  EXPECT_TRUE(provider->default_api_base().empty());
}

TEST(DiscoveryGitea, ParsesVisibilityAndPaging) {
  const auto provider = make_provider("gitea");
  const std::string next = "https://gitea.example.com/api/v1/orgs/infra/repos?limit=50&page=2";
  const auto page =
      provider->parse(kGitea, provider->first(kGitea)[0],
                      ok("[" + gitea_repo("a", false, false) + "," + gitea_repo("b", true, false) +
                             "," + gitea_repo("c", true, true) + "]",
                         {{"x-total-count", "3"}, {"link", "<" + next + ">; rel=\"next\""}}));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->repositories.size(), 3U);
  EXPECT_EQ(page->repositories[0].visibility, "public");
  EXPECT_EQ(page->repositories[1].visibility, "private");
  EXPECT_EQ(page->repositories[2].visibility, "internal");
  EXPECT_EQ(page->repositories[2].https_url, "https://gitea.example.com/infra/c.git");
  EXPECT_EQ(page->repositories[2].pushed_at, parse_timestamp("2024-05-06T05:08:09Z"));
  EXPECT_EQ(page->repositories[0].topics, std::vector<std::string>{"ops"});
  ASSERT_TRUE(page->next);
  EXPECT_EQ(page->next->url, next);
}

TEST(DiscoveryGitea, EmptyPageEndsTheListingAndBadFieldsAreNamed) {
  const auto provider = make_provider("gitea");
  const auto empty = provider->parse(
      kGitea, provider->first(kGitea)[0],
      ok("[]",
         {{"link", "<https://gitea.example.com/api/v1/orgs/infra/repos?page=2>; rel=\"next\""}}));
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->next);
  const auto bad = provider->parse(kGitea, provider->first(kGitea)[0],
                                   ok(R"([{"full_name":"a/b","name":"b","clone_url":"u",)"
                                      R"("private":false,"internal":"no","fork":false}])"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("\"internal\" is not a boolean"), std::string::npos);
}

}  // namespace
}  // namespace mgit::discovery
