// The Azure DevOps provider: projects, then each project's repositories, on the
// documentation's example answers, across continuation-token pages, and on every malformed
// field it rejects.
#include <gtest/gtest.h>

#include <string>

#include "mgit/discovery/provider_limits.hpp"
#include "provider_support.hpp"
#include "support/discovery_json_edit.hpp"

namespace mgit::discovery {
namespace {

using test::edit_json;
using test::ok_response;

// The sample response of "Projects - List",
// https://learn.microsoft.com/en-us/rest/api/azure/devops/core/projects/list?view=azure-devops-rest-7.1
constexpr std::string_view kProjectsExample = R"json({
  "count": 3,
  "value": [
    {
      "id": "eb6e4656-77fc-42a1-9181-4c6d8e9da5d1",
      "name": "Fabrikam-Fiber-TFVC",
      "description": "Team Foundation Version Control projects.",
      "url": "https://dev.azure.com/fabrikam/_apis/projects/eb6e4656-77fc-42a1-9181-4c6d8e9da5d1",
      "state": "wellFormed"
    },
    {
      "id": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c",
      "name": "Fabrikam-Fiber-Git",
      "description": "Git projects",
      "url": "https://dev.azure.com/fabrikam/_apis/projects/6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c",
      "state": "wellFormed"
    },
    {
      "id": "281f9a5b-af0d-49b4-a1df-fe6f5e5f84d0",
      "name": "TestGit",
      "url": "https://dev.azure.com/fabrikam/_apis/projects/281f9a5b-af0d-49b4-a1df-fe6f5e5f84d0",
      "state": "wellFormed"
    }
  ]
})json";

// The sample response of "Repositories - List",
// https://learn.microsoft.com/en-us/rest/api/azure/devops/git/repositories/list?view=azure-devops-rest-7.1
// (its first two entries; the sample omits sshUrl, isDisabled, isFork and the project's
// visibility, which the parser therefore treats as optional).
constexpr std::string_view kRepositoriesExample = R"json({
  "count": 3,
  "value": [
    {
      "id": "5febef5a-833d-4e14-b9c0-14cb638f91e6",
      "name": "AnotherRepository",
      "url": "https://dev.azure.com/fabrikam/_apis/git/repositories/5febef5a-833d-4e14-b9c0-14cb638f91e6",
      "project": {
        "id": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c",
        "name": "Fabrikam-Fiber-Git",
        "url": "https://dev.azure.com/fabrikam/_apis/projects/6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c",
        "state": "wellFormed"
      },
      "remoteUrl": "https://dev.azure.com/fabrikam/Fabrikam-Fiber-Git/_git/AnotherRepository"
    },
    {
      "id": "278d5cd2-584d-4b63-824a-2ba458937249",
      "name": "Fabrikam-Fiber-Git",
      "url": "https://dev.azure.com/fabrikam/_apis/git/repositories/278d5cd2-584d-4b63-824a-2ba458937249",
      "project": {
        "id": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c",
        "name": "Fabrikam-Fiber-Git",
        "url": "https://dev.azure.com/fabrikam/_apis/projects/6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c",
        "state": "wellFormed"
      },
      "defaultBranch": "refs/heads/master",
      "remoteUrl": "https://dev.azure.com/fabrikam/_git/Fabrikam-Fiber-Git"
    }
  ]
})json";

constexpr std::string_view kBase = "https://dev.azure.com";
constexpr std::string_view kRepositoriesUrl =
    "https://dev.azure.com/fabrikam/6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c/_apis/git/"
    "repositories?api-version=7.1";

class AzureDevOpsProviderTest : public ::testing::Test {
 protected:
  std::unique_ptr<Provider> provider_ = make_azure_devops_provider();
  Query query_{std::string(kBase), "fabrikam"};

  [[nodiscard]] ApiRequest first_request() const {
    const auto requests = provider_->first(query_);
    EXPECT_EQ(requests.size(), 1U);
    return requests.front();
  }
  [[nodiscard]] static ApiRequest repositories_request() {
    return ApiRequest{std::string(kRepositoriesUrl), {}};
  }

  std::string rejection(const ApiRequest& request, std::string_view example, const char* pointer,
                        std::optional<std::string_view> replacement) {
    const auto page =
        provider_->parse(query_, request, ok_response(edit_json(example, pointer, replacement)));
    if (page) return "accepted";
    EXPECT_EQ(page.error().code, DiscoveryErrorCode::kBadResponse);
    return page.error().message;
  }
};

TEST_F(AzureDevOpsProviderTest, FirstRequestListsTheOrganisationsProjects) {
  EXPECT_EQ(first_request().url,
            "https://dev.azure.com/fabrikam/_apis/projects?api-version=7.1&$top=100");
  // Azure DevOps Server: the collection stands where the organisation does.
  query_ = Query{"https://tfs.example.com/tfs", "Default Collection"};
  EXPECT_EQ(
      first_request().url,
      "https://tfs.example.com/tfs/Default%20Collection/_apis/projects?api-version=7.1&$top=100");
  EXPECT_EQ(provider_->default_api_base(), "https://dev.azure.com");
  EXPECT_EQ(provider_->name(), "azure-devops");
}

TEST_F(AzureDevOpsProviderTest, EachDocumentedProjectBecomesARepositoryListing) {
  const auto page =
      provider_->parse(query_, first_request(), ok_response(std::string(kProjectsExample)));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_TRUE(page->repositories.empty());
  EXPECT_FALSE(page->next.has_value());
  std::vector<std::string> urls;
  for (const auto& request : page->more) urls.push_back(request.url);
  EXPECT_EQ(urls, (std::vector<std::string>{
                      "https://dev.azure.com/fabrikam/eb6e4656-77fc-42a1-9181-4c6d8e9da5d1/_apis/"
                      "git/repositories?api-version=7.1",
                      std::string(kRepositoriesUrl),
                      "https://dev.azure.com/fabrikam/281f9a5b-af0d-49b4-a1df-fe6f5e5f84d0/_apis/"
                      "git/repositories?api-version=7.1"}));
}

TEST_F(AzureDevOpsProviderTest, ParsesTheDocumentedRepositories) {
  const auto page = provider_->parse(query_, repositories_request(),
                                     ok_response(std::string(kRepositoriesExample)));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->repositories.size(), 2U);
  const Repository& first = page->repositories[0];
  EXPECT_EQ(first.full_name, "Fabrikam-Fiber-Git/AnotherRepository");
  EXPECT_EQ(first.name, "AnotherRepository");
  EXPECT_EQ(first.https_url,
            "https://dev.azure.com/fabrikam/Fabrikam-Fiber-Git/_git/AnotherRepository");
  EXPECT_EQ(first.ssh_url, "");
  EXPECT_EQ(first.default_branch, "");  // no defaultBranch: a repository without commits
  EXPECT_EQ(first.visibility, "private");
  EXPECT_FALSE(first.archived);
  EXPECT_FALSE(first.fork);
  EXPECT_TRUE(first.topics.empty());
  EXPECT_FALSE(first.pushed_at.has_value());
  const Repository& second = page->repositories[1];
  EXPECT_EQ(second.full_name, "Fabrikam-Fiber-Git/Fabrikam-Fiber-Git");
  EXPECT_EQ(second.default_branch, "master");  // refs/heads/master
  EXPECT_EQ(second.https_url, "https://dev.azure.com/fabrikam/_git/Fabrikam-Fiber-Git");
  EXPECT_FALSE(page->next.has_value());
  EXPECT_TRUE(page->more.empty());
}

TEST_F(AzureDevOpsProviderTest, ReadsTheFieldsTheSampleOmits) {
  std::string json = edit_json(kRepositoriesExample, "/value/0/isDisabled", "true");
  json = edit_json(json, "/value/0/isFork", "true");
  json = edit_json(json, "/value/0/sshUrl",
                   "\"git@ssh.dev.azure.com:v3/fabrikam/Fabrikam-Fiber-Git/AnotherRepository\"");
  json = edit_json(
      json, "/value/0/remoteUrl",
      "\"https://fabrikam@dev.azure.com/fabrikam/Fabrikam-Fiber-Git/_git/AnotherRepository\"");
  json = edit_json(json, "/value/0/project/visibility", "\"public\"");
  json = edit_json(json, "/value/1/project/visibility", "\"organization\"");
  const auto page = provider_->parse(query_, repositories_request(), ok_response(json));
  ASSERT_TRUE(page) << page.error().message;
  const Repository& first = page->repositories[0];
  EXPECT_TRUE(first.archived);  // a disabled repository cannot be fetched
  EXPECT_TRUE(first.fork);
  EXPECT_EQ(first.ssh_url,
            "git@ssh.dev.azure.com:v3/fabrikam/Fabrikam-Fiber-Git/AnotherRepository");
  // The organisation-as-user-name is not the job's credential.
  EXPECT_EQ(first.https_url,
            "https://dev.azure.com/fabrikam/Fabrikam-Fiber-Git/_git/AnotherRepository");
  EXPECT_EQ(first.visibility, "public");
  EXPECT_EQ(page->repositories[1].visibility, "internal");
}

TEST_F(AzureDevOpsProviderTest, FollowsContinuationTokensAcrossThreePages) {
  ApiRequest request = first_request();
  std::vector<std::string> listings;
  const std::vector<std::pair<std::string, std::string>> pages = {
      {"11111111-0000-0000-0000-000000000001", "1"},
      {"11111111-0000-0000-0000-000000000002", "2"},
      {"11111111-0000-0000-0000-000000000003", ""}};
  int requests = 0;
  for (const auto& [id, token] : pages) {
    ++requests;
    const std::string body = R"({"count": 1, "value": [{"id": ")" + id + R"(", "name": "P)" + id +
                             R"(", "state": "wellFormed"}]})";
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("x-ms-continuationtoken", token);
    const auto page = provider_->parse(query_, request, ok_response(body, headers));
    ASSERT_TRUE(page) << page.error().message;
    ASSERT_EQ(page->more.size(), 1U);
    listings.push_back(page->more.front().url);
    if (token.empty()) {
      EXPECT_FALSE(page->next.has_value());
      break;
    }
    ASSERT_TRUE(page->next.has_value());
    const std::string& url = page->next->url;
    EXPECT_NE(url.find("continuationToken=" + token), std::string::npos) << url;
    EXPECT_EQ(url.find("continuationToken="), url.rfind("continuationToken=")) << url;
    EXPECT_NE(url.find("$top=100"), std::string::npos) << url;
    request = *page->next;
  }
  EXPECT_EQ(requests, 3);
  ASSERT_EQ(listings.size(), 3U);
  EXPECT_NE(
      listings[2].find("/fabrikam/11111111-0000-0000-0000-000000000003/_apis/git/repositories"),
      std::string::npos);
}

TEST_F(AzureDevOpsProviderTest, EmptyOrganisationAndEmptyProject) {
  const auto projects =
      provider_->parse(query_, first_request(), ok_response(R"({"count": 0, "value": []})"));
  ASSERT_TRUE(projects) << projects.error().message;
  EXPECT_TRUE(projects->more.empty());
  EXPECT_FALSE(projects->next.has_value());
  const auto repositories =
      provider_->parse(query_, repositories_request(), ok_response(R"({"count": 0, "value": []})"));
  ASSERT_TRUE(repositories) << repositories.error().message;
  EXPECT_TRUE(repositories->repositories.empty());
}

TEST_F(AzureDevOpsProviderTest, RejectsEachMalformedProjectField) {
  const ApiRequest request = first_request();
  EXPECT_NE(rejection(request, kProjectsExample, "/value", std::nullopt).find("value is missing"),
            std::string::npos);
  EXPECT_NE(rejection(request, kProjectsExample, "/value", "{}").find("value is not an array"),
            std::string::npos);
  EXPECT_NE(rejection(request, kProjectsExample, "/value/1", "7").find("value[1] is not an object"),
            std::string::npos);
  EXPECT_NE(rejection(request, kProjectsExample, "/value/1/id", std::nullopt)
                .find("value[1].id is missing"),
            std::string::npos);
  EXPECT_NE(
      rejection(request, kProjectsExample, "/value/1/id", "42").find("value[1].id is not a string"),
      std::string::npos);
  EXPECT_NE(rejection(request, kProjectsExample, "/value/2/name", std::nullopt)
                .find("value[2].name is missing"),
            std::string::npos);
}

TEST_F(AzureDevOpsProviderTest, RejectsEachMalformedRepositoryField) {
  struct Case {
    const char* pointer;
    std::optional<std::string_view> replacement;
    const char* named;
  };
  const Case cases[] = {
      {"/value", std::nullopt, "value is missing"},
      {"/value", "\"none\"", "value is not an array"},
      {"/value/0", "[]", "value[0] is not an object"},
      {"/value/0/name", std::nullopt, "value[0].name is missing"},
      {"/value/0/name", "1", "value[0].name is not a string"},
      {"/value/0/remoteUrl", std::nullopt, "value[0].remoteUrl is missing"},
      {"/value/0/remoteUrl", "\"\"", "value[0].remoteUrl is empty"},
      {"/value/0/sshUrl", "3", "value[0].sshUrl is not a string"},
      {"/value/1/defaultBranch", "true", "value[1].defaultBranch is not a string"},
      {"/value/0/isDisabled", "\"no\"", "value[0].isDisabled is not a boolean"},
      {"/value/0/isFork", "0", "value[0].isFork is not a boolean"},
      {"/value/0/project", std::nullopt, "value[0].project is missing"},
      {"/value/0/project", "\"Fabrikam\"", "value[0].project is not an object"},
      {"/value/0/project/name", std::nullopt, "value[0].project.name is missing"},
      {"/value/0/project/visibility", "\"everyone\"", "value[0].project.visibility is not one of"},
      {"/value/0/project/visibility", "2", "value[0].project.visibility is not a string"},
  };
  for (const Case& c : cases) {
    const std::string message =
        rejection(repositories_request(), kRepositoriesExample, c.pointer, c.replacement);
    EXPECT_NE(message.find(c.named), std::string::npos) << c.pointer << " -> " << message;
    EXPECT_EQ(message.rfind("azure-devops API: ", 0), 0U) << message;
  }
  for (const std::string body : {"", "[]", "not json", "{\"value\": [1"}) {
    const auto page = provider_->parse(query_, repositories_request(), ok_response(body));
    ASSERT_FALSE(page) << body;
    EXPECT_EQ(page.error().code, DiscoveryErrorCode::kBadResponse);
  }
}

TEST_F(AzureDevOpsProviderTest, RejectsARepeatedOrOversizedContinuationToken) {
  ApiRequest request = first_request();
  request.url += "&continuationToken=5";
  auto page = provider_->parse(
      query_, request,
      ok_response(std::string(kProjectsExample), {{"x-ms-continuationtoken", "5"}}));
  ASSERT_FALSE(page);
  EXPECT_NE(page.error().message.find("repeats"), std::string::npos);
  page = provider_->parse(query_, first_request(),
                          ok_response(std::string(kProjectsExample),
                                      {{"x-ms-continuationtoken", std::string(5000, 'a')}}));
  ASSERT_FALSE(page);
  EXPECT_NE(page.error().message.find("too long"), std::string::npos);
}

TEST_F(AzureDevOpsProviderTest, RejectsListingsOffTheApiOrigin) {
  // A projects page fetched from elsewhere (a bug, a redirect) yields no next page there.
  ApiRequest request = first_request();
  request.url.replace(0, kBase.size(), "http://dev.azure.com");
  const auto page = provider_->parse(
      query_, request,
      ok_response(std::string(kProjectsExample), {{"x-ms-continuationtoken", "9"}}));
  ASSERT_FALSE(page);
  EXPECT_NE(page.error().message.find("not on the API's origin"), std::string::npos);
}

TEST_F(AzureDevOpsProviderTest, RefusesARequestItDidNotMake) {
  const auto page =
      provider_->parse(query_, ApiRequest{"https://dev.azure.com/fabrikam/_apis/wit", {}},
                       ok_response(std::string(kProjectsExample)));
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().code, DiscoveryErrorCode::kUsage);
}

TEST_F(AzureDevOpsProviderTest, AuthorizationIsBasicWithAnEmptyUserName) {
  // base64(":pat-Secret_1"), computed outside the code under test.
  EXPECT_EQ(provider_->authorization("", "pat-Secret_1"),
            (std::pair<std::string, std::string>{"Authorization", "Basic OnBhdC1TZWNyZXRfMQ=="}));
  EXPECT_EQ(provider_->authorization("someone", "abc"),
            (std::pair<std::string, std::string>{"Authorization", "Basic OmFiYw=="}));
}

TEST(DiscoveryProviderLimitsTest, FiltersAProviderCannotAnswerAreRefusedByName) {
  const auto azure_topic = unanswerable_filter("azure-devops", true, false);
  ASSERT_TRUE(azure_topic.has_value());
  EXPECT_NE(azure_topic->find("--topic"), std::string::npos);
  EXPECT_NE(azure_topic->find("azure-devops"), std::string::npos);
  const auto azure_pushed = unanswerable_filter("azure-devops", false, true);
  ASSERT_TRUE(azure_pushed.has_value());
  EXPECT_NE(azure_pushed->find("--pushed-since"), std::string::npos);
  EXPECT_TRUE(unanswerable_filter("bitbucket", true, false).has_value());
  // Bitbucket's updated_on stands in for the push time; GitLab's last_activity_at does.
  EXPECT_FALSE(unanswerable_filter("bitbucket", false, true).has_value());
  EXPECT_FALSE(unanswerable_filter("gitlab", true, true).has_value());
  EXPECT_FALSE(unanswerable_filter("github", true, true).has_value());
  EXPECT_FALSE(unanswerable_filter("azure-devops", false, false).has_value());
  EXPECT_FALSE(limits_of("bitbucket").archived);
}

}  // namespace
}  // namespace mgit::discovery
