// The GitLab provider on the documentation's own example answer, across pages, and on every
// malformed field it rejects.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "provider_support.hpp"
#include "support/discovery_json_edit.hpp"

namespace mgit::discovery {
namespace {

using test::edit_json;
using test::ok_response;

// The example response of "List a group's projects",
// https://docs.gitlab.com/api/groups/#list-projects (the `//deprecated` comment on tag_list
// dropped: JSON has no comments).
constexpr std::string_view kDocumentedExample = R"json([
  {
    "id": 9,
    "description": "foo",
    "default_branch": "main",
    "tag_list": [],
    "topics": [],
    "archived": false,
    "visibility": "internal",
    "ssh_url_to_repo": "git@gitlab.example.com/html5-boilerplate.git",
    "http_url_to_repo": "http://gitlab.example.com/h5bp/html5-boilerplate.git",
    "web_url": "http://gitlab.example.com/h5bp/html5-boilerplate",
    "name": "Html5 Boilerplate",
    "name_with_namespace": "Experimental / Html5 Boilerplate",
    "path": "html5-boilerplate",
    "path_with_namespace": "h5bp/html5-boilerplate",
    "issues_enabled": true,
    "merge_requests_enabled": true,
    "wiki_enabled": true,
    "jobs_enabled": true,
    "snippets_enabled": true,
    "created_at": "2016-04-05T21:40:50.169Z",
    "last_activity_at": "2016-04-06T16:52:08.432Z",
    "shared_runners_enabled": true,
    "creator_id": 1,
    "namespace": {
      "id": 5,
      "name": "Experimental",
      "path": "h5bp",
      "kind": "group"
    },
    "avatar_url": null,
    "star_count": 1,
    "forks_count": 0,
    "open_issues_count": 3,
    "public_jobs": true,
    "shared_with_groups": [],
    "request_access_enabled": false
  }
])json";

constexpr std::string_view kBase = "https://gitlab.example.com/api/v4";

class GitLabProviderTest : public ::testing::Test {
 protected:
  std::unique_ptr<Provider> provider_ = make_gitlab_provider();
  Query query_{std::string(kBase), "h5bp"};

  [[nodiscard]] ApiRequest first_request() const {
    const auto requests = provider_->first(query_);
    EXPECT_EQ(requests.size(), 1U);
    return requests.front();
  }

  /// One project named `path` in group h5bp, shaped like the documented example.
  static std::string page_of(const std::string& path) {
    std::string json = edit_json(kDocumentedExample, "/0/path", "\"" + path + "\"");
    return edit_json(json, "/0/path_with_namespace", "\"h5bp/" + path + "\"");
  }

  /// The kBadResponse message for the documented example with `pointer` set to
  /// `replacement` (or removed).
  std::string rejection(const char* pointer, std::optional<std::string_view> replacement) {
    const auto page = provider_->parse(
        query_, first_request(), ok_response(edit_json(kDocumentedExample, pointer, replacement)));
    if (page) return "accepted";
    EXPECT_EQ(page.error().code, DiscoveryErrorCode::kBadResponse);
    return page.error().message;
  }
};

TEST_F(GitLabProviderTest, ParsesTheDocumentedExample) {
  const auto page =
      provider_->parse(query_, first_request(), ok_response(std::string(kDocumentedExample)));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->repositories.size(), 1U);
  const Repository& repository = page->repositories.front();
  EXPECT_EQ(repository.full_name, "h5bp/html5-boilerplate");
  EXPECT_EQ(repository.name, "html5-boilerplate");
  EXPECT_EQ(repository.https_url, "http://gitlab.example.com/h5bp/html5-boilerplate.git");
  EXPECT_EQ(repository.ssh_url, "git@gitlab.example.com/html5-boilerplate.git");
  EXPECT_EQ(repository.default_branch, "main");
  EXPECT_EQ(repository.visibility, "internal");
  EXPECT_TRUE(repository.topics.empty());
  EXPECT_FALSE(repository.archived);
  EXPECT_FALSE(repository.fork);
  using namespace std::chrono;
  const auto expected = sys_days{2016y / April / 6} + 16h + 52min + 8s;
  ASSERT_TRUE(repository.pushed_at.has_value());
  EXPECT_EQ(time_point_cast<seconds>(*repository.pushed_at), expected);
  EXPECT_FALSE(page->next.has_value());
  EXPECT_TRUE(page->more.empty());
}

TEST_F(GitLabProviderTest, FirstRequestListsSubgroupsAndPercentEncodesANestedGroup) {
  query_.org = "platform/backend team/core";
  const ApiRequest request = first_request();
  EXPECT_EQ(request.url.rfind(
                std::string(kBase) + "/groups/platform%2Fbackend%20team%2Fcore/projects?", 0),
            0U)
      << request.url;
  EXPECT_NE(request.url.find("include_subgroups=true"), std::string::npos);
  EXPECT_NE(request.url.find("with_shared=false"), std::string::npos);
  EXPECT_NE(request.url.find("per_page=100"), std::string::npos);
}

TEST_F(GitLabProviderTest, DefaultBaseIsGitLabDotCom) {
  EXPECT_EQ(provider_->default_api_base(), "https://gitlab.com/api/v4");
  EXPECT_EQ(provider_->name(), "gitlab");
}

TEST_F(GitLabProviderTest, FollowsXNextPageAcrossThreePages) {
  ApiRequest request = first_request();
  std::vector<std::string> names;
  const std::vector<std::pair<std::string, std::string>> pages = {
      {"alpha", "2"}, {"beta", "3"}, {"gamma", ""}};
  int requests = 0;
  for (const auto& [path, next_page] : pages) {
    ++requests;
    const auto page =
        provider_->parse(query_, request, ok_response(page_of(path), {{"x-next-page", next_page}}));
    ASSERT_TRUE(page) << page.error().message;
    for (const auto& repository : page->repositories) names.push_back(repository.full_name);
    if (next_page.empty()) {
      EXPECT_FALSE(page->next.has_value());
      break;
    }
    ASSERT_TRUE(page->next.has_value());
    // The same listing, one page on: exactly one page parameter, the rest unchanged.
    const std::string& url = page->next->url;
    EXPECT_NE(url.find("page=" + next_page), std::string::npos) << url;
    EXPECT_EQ(url.find("page=" + next_page), url.rfind("page=" + next_page)) << url;
    EXPECT_NE(url.find("include_subgroups=true"), std::string::npos) << url;
    EXPECT_NE(url.find("per_page=100"), std::string::npos) << url;
    request = *page->next;
  }
  EXPECT_EQ(requests, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"h5bp/alpha", "h5bp/beta", "h5bp/gamma"}));
}

TEST_F(GitLabProviderTest, LastPageHasNoNextPageHeader) {
  const auto page = provider_->parse(query_, first_request(), ok_response(page_of("only")));
  ASSERT_TRUE(page);
  EXPECT_FALSE(page->next.has_value());
}

TEST_F(GitLabProviderTest, EmptyGroupIsAnEmptyPage) {
  const auto page =
      provider_->parse(query_, first_request(), ok_response("[]", {{"x-next-page", ""}}));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_TRUE(page->repositories.empty());
  EXPECT_FALSE(page->next.has_value());
}

TEST_F(GitLabProviderTest, ForkTopicsAndOlderServersTagList) {
  std::string json = edit_json(kDocumentedExample, "/0/forked_from_project",
                               R"({"id": 3, "path_with_namespace": "upstream/html5-boilerplate"})");
  json = edit_json(json, "/0/topics", R"(["frontend", "html"])");
  auto page = provider_->parse(query_, first_request(), ok_response(json));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_TRUE(page->repositories.front().fork);
  EXPECT_EQ(page->repositories.front().topics, (std::vector<std::string>{"frontend", "html"}));

  // GitLab before 14.0: no `topics`, only `tag_list`.
  json = edit_json(edit_json(kDocumentedExample, "/0/topics", std::nullopt), "/0/tag_list",
                   R"(["legacy"])");
  json = edit_json(json, "/0/default_branch", "null");  // a project without commits
  page = provider_->parse(query_, first_request(), ok_response(json));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->repositories.front().topics, (std::vector<std::string>{"legacy"}));
  EXPECT_EQ(page->repositories.front().default_branch, "");
  EXPECT_FALSE(page->repositories.front().fork);
}

TEST_F(GitLabProviderTest, RejectsEachMalformedField) {
  struct Case {
    const char* pointer;
    std::optional<std::string_view> replacement;
    const char* named;
  };
  const Case cases[] = {
      {"/0/path_with_namespace", std::nullopt, "[0].path_with_namespace is missing"},
      {"/0/path_with_namespace", "7", "[0].path_with_namespace is not a string"},
      {"/0/path_with_namespace", "\"\"", "[0].path_with_namespace is empty"},
      {"/0/path", std::nullopt, "[0].path is missing"},
      {"/0/http_url_to_repo", std::nullopt, "[0].http_url_to_repo is missing"},
      {"/0/http_url_to_repo", "[]", "[0].http_url_to_repo is not a string"},
      {"/0/ssh_url_to_repo", "false", "[0].ssh_url_to_repo is not a string"},
      {"/0/default_branch", "{}", "[0].default_branch is not a string"},
      {"/0/visibility", std::nullopt, "[0].visibility is missing"},
      {"/0/visibility", "\"everyone\"", "[0].visibility is not one of"},
      {"/0/topics", "\"frontend\"", "[0].topics is not an array"},
      {"/0/topics", "[1]", "[0].topics[0] is not a string"},
      {"/0/last_activity_at", std::nullopt, "[0].last_activity_at is missing"},
      {"/0/last_activity_at", "\"yesterday\"", "[0].last_activity_at is not an RFC 3339"},
      {"/0/archived", std::nullopt, "[0].archived is missing"},
      {"/0/archived", "\"false\"", "[0].archived is not a boolean"},
      {"/0/forked_from_project", "5", "[0].forked_from_project is not an object"},
      {"/0", "\"h5bp/html5-boilerplate\"", "[0] is not an object"},
  };
  for (const Case& c : cases) {
    EXPECT_NE(rejection(c.pointer, c.replacement).find(c.named), std::string::npos)
        << c.pointer << " -> " << rejection(c.pointer, c.replacement);
  }
  // tag_list is read when topics is absent, and checked then.
  const std::string legacy = edit_json(kDocumentedExample, "/0/topics", std::nullopt);
  const auto page = provider_->parse(query_, first_request(),
                                     ok_response(edit_json(legacy, "/0/tag_list", "{}")));
  ASSERT_FALSE(page);
  EXPECT_NE(page.error().message.find("[0].tag_list is not an array"), std::string::npos);
}

TEST_F(GitLabProviderTest, RejectsABodyThatIsNotAnArrayOfProjects) {
  for (const std::string body :
       {"", "not json", "{\"message\": \"404 Group Not Found\"}", "null", "[1, 2]", "[{}"}) {
    const auto page = provider_->parse(query_, first_request(), ok_response(body));
    ASSERT_FALSE(page) << body;
    EXPECT_EQ(page.error().code, DiscoveryErrorCode::kBadResponse) << body;
    EXPECT_EQ(page.error().message.rfind("gitlab API: ", 0), 0U) << page.error().message;
  }
}

TEST_F(GitLabProviderTest, NeverEchoesAFieldValue) {
  const std::string message = rejection("/0/visibility", "\"leaked-value-1234\"");
  EXPECT_EQ(message.find("leaked-value-1234"), std::string::npos) << message;
}

TEST_F(GitLabProviderTest, RejectsAMalformedOrBackwardNextPage) {
  ApiRequest second = first_request();
  second.url += "&page=2";
  for (const auto& [request, header] :
       std::vector<std::pair<ApiRequest, std::string>>{{first_request(), "two"},
                                                       {first_request(), "-3"},
                                                       {first_request(), "1"},
                                                       {second, "2"},
                                                       {second, "1"},
                                                       {first_request(), "99999999999"}}) {
    const auto page =
        provider_->parse(query_, request, ok_response(page_of("x"), {{"x-next-page", header}}));
    ASSERT_FALSE(page) << header;
    EXPECT_EQ(page.error().code, DiscoveryErrorCode::kBadResponse);
    EXPECT_NE(page.error().message.find("X-Next-Page"), std::string::npos);
  }
}

TEST_F(GitLabProviderTest, RejectsANextPageOffTheApiOrigin) {
  // A request that (by a bug or a redirect) left the API's origin never yields a next page
  // that carries the token on.
  ApiRequest request = first_request();
  request.url.replace(0, std::string("https://gitlab.example.com").size(),
                      "https://gitlab.example.com:8443");
  const auto page =
      provider_->parse(query_, request, ok_response(page_of("x"), {{"x-next-page", "2"}}));
  ASSERT_FALSE(page);
  EXPECT_NE(page.error().message.find("not on the API's origin"), std::string::npos);
}

TEST_F(GitLabProviderTest, AuthorizationHeaderShape) {
  EXPECT_EQ(provider_->authorization("", "glpat-abc"),
            (std::pair<std::string, std::string>{"PRIVATE-TOKEN", "glpat-abc"}));
  EXPECT_EQ(provider_->authorization("deploy", "glpat-abc"),
            (std::pair<std::string, std::string>{"PRIVATE-TOKEN", "glpat-abc"}));
  // OAuth tokens (git's user name `oauth2`) only work as a Bearer token.
  EXPECT_EQ(provider_->authorization("oauth2", "oauth-xyz"),
            (std::pair<std::string, std::string>{"Authorization", "Bearer oauth-xyz"}));
}

}  // namespace
}  // namespace mgit::discovery
