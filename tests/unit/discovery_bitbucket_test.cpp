// The Bitbucket Cloud provider on a page shaped like the documentation's examples, across
// `next` links, and on every malformed field it rejects.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "provider_support.hpp"
#include "support/discovery_json_edit.hpp"

namespace mgit::discovery {
namespace {

using test::edit_json;
using test::ok_response;

// The paginated envelope of https://developer.atlassian.com/cloud/bitbucket/rest/intro/#pagination
// (size, page, pagelen, next, values) around repository objects with the fields of
// https://developer.atlassian.com/cloud/bitbucket/rest/api-group-repositories/#api-repositories-workspace-get
// (the repository schema: links.clone, mainbranch, is_private, parent, updated_on).
constexpr std::string_view kExample = R"json({
  "pagelen": 2,
  "size": 5,
  "page": 1,
  "next": "https://api.bitbucket.org/2.0/repositories/atlassian_tutorial?pagelen=2&page=2",
  "values": [
    {
      "type": "repository",
      "full_name": "atlassian_tutorial/geordi",
      "name": "Geordi",
      "slug": "geordi",
      "uuid": "{85d08b4e-571d-44e9-a507-fa476535aa98}",
      "scm": "git",
      "is_private": false,
      "fork_policy": "allow_forks",
      "language": "python",
      "created_on": "2018-05-15T21:50:40.474335+00:00",
      "updated_on": "2018-08-22T19:29:57.402497+00:00",
      "mainbranch": {"type": "branch", "name": "main"},
      "links": {
        "self": {"href": "https://api.bitbucket.org/2.0/repositories/atlassian_tutorial/geordi"},
        "html": {"href": "https://bitbucket.org/atlassian_tutorial/geordi"},
        "clone": [
          {"name": "https", "href": "https://alice@bitbucket.org/atlassian_tutorial/geordi.git"},
          {"name": "ssh", "href": "git@bitbucket.org:atlassian_tutorial/geordi.git"}
        ]
      }
    },
    {
      "type": "repository",
      "full_name": "atlassian_tutorial/geordi-fork",
      "name": "geordi-fork",
      "slug": "geordi-fork",
      "scm": "git",
      "is_private": true,
      "updated_on": "2019-01-02T03:04:05+00:00",
      "mainbranch": null,
      "parent": {
        "type": "repository",
        "full_name": "atlassian_tutorial/geordi",
        "name": "Geordi"
      },
      "links": {
        "clone": [
          {"name": "ssh", "href": "git@bitbucket.org:atlassian_tutorial/geordi-fork.git"},
          {"name": "https", "href": "https://bitbucket.org/atlassian_tutorial/geordi-fork.git"}
        ]
      }
    }
  ]
})json";

constexpr std::string_view kBase = "https://api.bitbucket.org/2.0";

class BitbucketProviderTest : public ::testing::Test {
 protected:
  std::unique_ptr<Provider> provider_ = make_bitbucket_provider();
  Query query_{std::string(kBase), "atlassian_tutorial"};

  [[nodiscard]] ApiRequest first_request() const {
    const auto requests = provider_->first(query_);
    EXPECT_EQ(requests.size(), 1U);
    return requests.front();
  }

  std::string rejection(const char* pointer, std::optional<std::string_view> replacement) {
    const auto page = provider_->parse(query_, first_request(),
                                       ok_response(edit_json(kExample, pointer, replacement)));
    if (page) return "accepted";
    EXPECT_EQ(page.error().code, DiscoveryErrorCode::kBadResponse);
    return page.error().message;
  }
};

TEST_F(BitbucketProviderTest, FirstRequestListsTheWorkspace) {
  EXPECT_EQ(first_request().url,
            "https://api.bitbucket.org/2.0/repositories/atlassian_tutorial?pagelen=100");
  query_.org = "{85d08b4e-571d}";  // a workspace may be named by its UUID
  EXPECT_EQ(first_request().url,
            "https://api.bitbucket.org/2.0/repositories/%7B85d08b4e-571d%7D?pagelen=100");
  EXPECT_EQ(provider_->default_api_base(), "https://api.bitbucket.org/2.0");
  EXPECT_EQ(provider_->name(), "bitbucket");
}

TEST_F(BitbucketProviderTest, ParsesTheExamplePage) {
  const auto page = provider_->parse(query_, first_request(), ok_response(std::string(kExample)));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->repositories.size(), 2U);
  const Repository& first = page->repositories[0];
  EXPECT_EQ(first.full_name, "atlassian_tutorial/geordi");
  EXPECT_EQ(first.name, "geordi");  // the slug, not the display name
  // The API caller's user name is dropped from the https clone URL.
  EXPECT_EQ(first.https_url, "https://bitbucket.org/atlassian_tutorial/geordi.git");
  EXPECT_EQ(first.ssh_url, "git@bitbucket.org:atlassian_tutorial/geordi.git");
  EXPECT_EQ(first.default_branch, "main");
  EXPECT_EQ(first.visibility, "public");
  EXPECT_FALSE(first.fork);
  EXPECT_FALSE(first.archived);
  EXPECT_TRUE(first.topics.empty());
  using namespace std::chrono;
  ASSERT_TRUE(first.pushed_at.has_value());
  EXPECT_EQ(time_point_cast<seconds>(*first.pushed_at),
            sys_days{2018y / August / 22} + 19h + 29min + 57s);
  const Repository& second = page->repositories[1];
  EXPECT_EQ(second.visibility, "private");
  EXPECT_TRUE(second.fork);
  EXPECT_EQ(second.default_branch, "");  // mainbranch null: no commits yet
  EXPECT_EQ(second.https_url, "https://bitbucket.org/atlassian_tutorial/geordi-fork.git");
  ASSERT_TRUE(page->next.has_value());
  EXPECT_EQ(page->next->url,
            "https://api.bitbucket.org/2.0/repositories/atlassian_tutorial?pagelen=2&page=2");
}

TEST_F(BitbucketProviderTest, FollowsNextAcrossThreePages) {
  ApiRequest request = first_request();
  std::vector<std::string> names;
  const std::vector<std::pair<std::string, std::string>> pages = {
      {"one", std::string(kBase) + "/repositories/atlassian_tutorial?pagelen=100&page=2"},
      {"two", std::string(kBase) + "/repositories/atlassian_tutorial?pagelen=100&page=3"},
      {"three", ""}};
  int requests = 0;
  for (const auto& [slug, next] : pages) {
    ++requests;
    std::string body = edit_json(kExample, "/values/1", std::nullopt);
    body = edit_json(body, "/values/0/slug", "\"" + slug + "\"");
    body = next.empty() ? edit_json(body, "/next", std::nullopt)
                        : edit_json(body, "/next", "\"" + next + "\"");
    const auto page = provider_->parse(query_, request, ok_response(body));
    ASSERT_TRUE(page) << page.error().message;
    for (const auto& repository : page->repositories) names.push_back(repository.name);
    if (next.empty()) {
      EXPECT_FALSE(page->next.has_value());
      break;
    }
    ASSERT_TRUE(page->next.has_value());
    EXPECT_EQ(page->next->url, next);
    request = *page->next;
  }
  EXPECT_EQ(requests, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"one", "two", "three"}));
}

TEST_F(BitbucketProviderTest, EmptyWorkspace) {
  const auto page =
      provider_->parse(query_, first_request(),
                       ok_response(R"({"pagelen": 100, "size": 0, "page": 1, "values": []})"));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_TRUE(page->repositories.empty());
  EXPECT_FALSE(page->next.has_value());
}

TEST_F(BitbucketProviderTest, NameFallsBackWhenThereIsNoSlug) {
  const auto page = provider_->parse(
      query_, first_request(), ok_response(edit_json(kExample, "/values/0/slug", std::nullopt)));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->repositories[0].name, "Geordi");
}

TEST_F(BitbucketProviderTest, RejectsEachMalformedField) {
  struct Case {
    const char* pointer;
    std::optional<std::string_view> replacement;
    const char* named;
  };
  const Case cases[] = {
      {"/values", std::nullopt, "values is missing"},
      {"/values", "{}", "values is not an array"},
      {"/values/0", "\"geordi\"", "values[0] is not an object"},
      {"/values/0/full_name", std::nullopt, "values[0].full_name is missing"},
      {"/values/0/full_name", "1", "values[0].full_name is not a string"},
      {"/values/0/slug", "[]", "values[0].slug is not a string"},
      {"/values/0/links", std::nullopt, "values[0].links is missing"},
      {"/values/0/links", "[]", "values[0].links is not an object"},
      {"/values/0/links/clone", std::nullopt, "values[0].links.clone is missing"},
      {"/values/0/links/clone", "{}", "values[0].links.clone is not an array"},
      {"/values/0/links/clone/0", "\"https\"", "values[0].links.clone[0] is not an object"},
      {"/values/0/links/clone/0/name", std::nullopt, "values[0].links.clone[0].name is missing"},
      {"/values/0/links/clone/0/href", "7", "values[0].links.clone[0].href is not a string"},
      {"/values/0/links/clone/0/name", "\"http\"", "values[0].links.clone has no \"https\" entry"},
      {"/values/0/mainbranch", "\"main\"", "values[0].mainbranch is not an object"},
      {"/values/0/mainbranch/name", std::nullopt, "values[0].mainbranch.name is missing"},
      {"/values/0/is_private", std::nullopt, "values[0].is_private is missing"},
      {"/values/0/is_private", "\"false\"", "values[0].is_private is not a boolean"},
      {"/values/1/parent", "true", "values[1].parent is not an object"},
      {"/values/0/updated_on", std::nullopt, "values[0].updated_on is missing"},
      {"/values/0/updated_on", "\"last week\"", "values[0].updated_on is not an ISO 8601"},
      // Outside what system_clock holds (found by tests/fuzz/discovery_parse_fuzz.cpp).
      {"/values/0/updated_on", "\"1378-01-02T03:04:05+00:00\"",
       "values[0].updated_on is not an ISO 8601"},
      {"/values/0/updated_on", "\"9999-12-31T23:59:59Z\"",
       "values[0].updated_on is not an ISO 8601"},
      {"/next", "42", "next is not a string"},
  };
  for (const Case& c : cases) {
    const std::string message = rejection(c.pointer, c.replacement);
    EXPECT_NE(message.find(c.named), std::string::npos) << c.pointer << " -> " << message;
    EXPECT_EQ(message.rfind("bitbucket API: ", 0), 0U) << message;
  }
  // Both the slug and the name missing.
  const std::string nameless = edit_json(edit_json(kExample, "/values/0/slug", std::nullopt),
                                         "/values/0/name", std::nullopt);
  const auto page = provider_->parse(query_, first_request(), ok_response(nameless));
  ASSERT_FALSE(page);
  EXPECT_NE(page.error().message.find("values[0].name is missing"), std::string::npos);
  for (const std::string body : {"", "[]", "null", "{\"values\": ["}) {
    const auto bad = provider_->parse(query_, first_request(), ok_response(body));
    ASSERT_FALSE(bad) << body;
    EXPECT_EQ(bad.error().code, DiscoveryErrorCode::kBadResponse);
  }
}

TEST_F(BitbucketProviderTest, RejectsANextLinkOffTheApiOrigin) {
  for (const char* next :
       {"\"https://attacker.example/2.0/repositories/atlassian_tutorial?page=2\"",
        "\"http://api.bitbucket.org/2.0/repositories/atlassian_tutorial?page=2\"",
        "\"https://api.bitbucket.org:444/2.0/repositories/x\"",
        "\"/2.0/repositories/atlassian_tutorial?page=2\""}) {
    const std::string message = rejection("/next", next);
    EXPECT_NE(message.find("next is not on the API's origin"), std::string::npos)
        << next << " -> " << message;
  }
}

TEST_F(BitbucketProviderTest, RejectsANextLinkThatRepeatsThePage) {
  const std::string json = edit_json(kExample, "/next", "\"" + first_request().url + "\"");
  const auto page = provider_->parse(query_, first_request(), ok_response(json));
  ASSERT_FALSE(page);
  EXPECT_NE(page.error().message.find("repeats"), std::string::npos);
}

TEST_F(BitbucketProviderTest, AuthorizationHeaderShape) {
  // An access token alone is a Bearer token; a user name makes it an app password or API
  // token, sent with HTTP Basic. base64("alice:app") computed outside the code under test.
  EXPECT_EQ(provider_->authorization("", "tok-1"),
            (std::pair<std::string, std::string>{"Authorization", "Bearer tok-1"}));
  EXPECT_EQ(provider_->authorization("alice", "app"),
            (std::pair<std::string, std::string>{"Authorization", "Basic YWxpY2U6YXBw"}));
}

}  // namespace
}  // namespace mgit::discovery
