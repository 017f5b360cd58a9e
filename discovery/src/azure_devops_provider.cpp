// Azure DevOps (Services, and Server at https://host/tfs with the collection as --org): the
// projects of an organisation, then the Git repositories of each project.
//
// Followed documentation:
// - Projects - List:
// https://learn.microsoft.com/en-us/rest/api/azure/devops/core/projects/list?view=azure-devops-rest-7.1
//   (`GET {org}/_apis/projects?api-version=7.1`, `$top`, `continuationToken`; the next
//   batch's token comes in the `x-ms-continuationtoken` response header).
// - Repositories - List:
// https://learn.microsoft.com/en-us/rest/api/azure/devops/git/repositories/list?view=azure-devops-rest-7.1
//   (`GET {org}/{project}/_apis/git/repositories?api-version=7.1`, not paged; GitRepository:
//   name, remoteUrl, sshUrl, defaultBranch as a full ref, isDisabled, isFork, project).
// - Personal access tokens:
// https://learn.microsoft.com/en-us/azure/devops/organizations/accounts/use-personal-access-tokens-to-authenticate
//   (HTTP Basic with an empty user name and the token as the password).
// The API has neither topics nor a push time: Repository::topics stays empty and pushed_at
// unset (mgitctl discover refuses --topic and --pushed-since for this provider).
#include <rapidjson/document.h>

#include "provider_support.hpp"
#include "response_fields.hpp"

namespace mgit::discovery {

namespace {

constexpr std::string_view kName = "azure-devops";
constexpr std::string_view kApiVersion = "api-version=7.1";
constexpr std::string_view kRefsHeads = "refs/heads/";
constexpr std::size_t kMaxContinuationToken = 4096;

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

/// The path of `url` (without query and fragment).
std::string_view path_of_url(std::string_view url) {
  return url.substr(0, url.find_first_of("?#"));
}

tl::expected<Repository, DiscoveryError> parse_repository(const rapidjson::Value& item,
                                                          const std::string& path) {
  if (!item.IsObject()) return tl::unexpected(bad_response(kName, path + " is not an object"));
  const ObjectFields fields(kName, path, item);
  Repository repository;
  auto name = fields.required_string("name");
  if (!name) return tl::unexpected(name.error());
  repository.name = std::move(*name);
  // remoteUrl carries the organisation as a user name (https://fabrikam@dev.azure.com/…).
  auto remote = fields.required_string("remoteUrl");
  if (!remote) return tl::unexpected(remote.error());
  repository.https_url = without_userinfo(*remote);
  auto ssh = fields.optional_string("sshUrl");
  if (!ssh) return tl::unexpected(ssh.error());
  repository.ssh_url = std::move(*ssh);
  // A full ref ("refs/heads/main"); absent for a repository without commits.
  auto branch = fields.optional_string("defaultBranch");
  if (!branch) return tl::unexpected(branch.error());
  if (branch->rfind(kRefsHeads, 0) == 0) branch->erase(0, kRefsHeads.size());
  repository.default_branch = std::move(*branch);
  // A disabled repository cannot be fetched: treated as archived.
  auto disabled = fields.optional_bool("isDisabled", false);
  if (!disabled) return tl::unexpected(disabled.error());
  repository.archived = *disabled;
  auto fork = fields.optional_bool("isFork", false);
  if (!fork) return tl::unexpected(fork.error());
  repository.fork = *fork;
  auto project = fields.required_object("project");
  if (!project) return tl::unexpected(project.error());
  const ObjectFields project_fields(kName, fields.path_of("project"), **project);
  auto project_name = project_fields.required_string("name");
  if (!project_name) return tl::unexpected(project_name.error());
  repository.full_name = *project_name + "/" + repository.name;
  // Visibility is the project's. The documentation's own example omits it; a project is
  // private unless the organisation's policy allows public projects, so absent means private.
  auto visibility = project_fields.optional_string("visibility");
  if (!visibility) return tl::unexpected(visibility.error());
  if (visibility->empty() || *visibility == "private") {
    repository.visibility = "private";
  } else if (*visibility == "public") {
    repository.visibility = "public";
  } else if (*visibility == "organization") {
    // Older API versions: visible to the whole organisation, GitLab's "internal".
    repository.visibility = "internal";
  } else {
    return tl::unexpected(
        project_fields.error("visibility", R"(is not one of "private", "public", "organization")"));
  }
  return repository;
}

class AzureDevOpsProvider final : public Provider {
 public:
  [[nodiscard]] std::string_view name() const override { return kName; }
  [[nodiscard]] std::string default_api_base() const override { return "https://dev.azure.com"; }

  [[nodiscard]] std::vector<ApiRequest> first(const Query& query) const override {
    return {ApiRequest{query.api_base + "/" + percent_encode(query.org) + "/_apis/projects?" +
                           std::string(kApiVersion) + "&$top=100",
                       {}}};
  }

  [[nodiscard]] std::pair<std::string, std::string> authorization(
      std::string_view /*username*/, std::string_view token) const override {
    // The user name is ignored by Azure DevOps; the documented form leaves it empty.
    return {"Authorization", basic_authorization("", token)};
  }

  [[nodiscard]] tl::expected<Page, DiscoveryError> parse(
      const Query& query, const ApiRequest& request, const ApiResponse& response) const override {
    const std::string_view path = path_of_url(request.url);
    const bool projects = ends_with(path, "/_apis/projects");
    if (!projects && !ends_with(path, "/_apis/git/repositories")) {
      return tl::unexpected(DiscoveryError{DiscoveryErrorCode::kUsage,
                                           "azure-devops: not a listing this provider "
                                           "asked for"});
    }
    rapidjson::Document document;
    if (auto parsed = parse_body(kName, response.body, document); !parsed) {
      return tl::unexpected(parsed.error());
    }
    if (!document.IsObject()) {
      return tl::unexpected(bad_response(kName, "the answer is not a JSON object"));
    }
    const ObjectFields root(kName, "", document);
    auto value = root.required_array("value");
    if (!value) return tl::unexpected(value.error());
    const rapidjson::Value& items = **value;
    Page page;
    if (!projects) {
      page.repositories.reserve(items.Size());
      for (rapidjson::SizeType i = 0; i < items.Size(); ++i) {
        auto repository = parse_repository(items[i], "value[" + std::to_string(i) + "]");
        if (!repository) return tl::unexpected(repository.error());
        page.repositories.push_back(std::move(*repository));
      }
      return page;
    }
    const std::string org_base = query.api_base + "/" + percent_encode(query.org) + "/";
    for (rapidjson::SizeType i = 0; i < items.Size(); ++i) {
      const std::string item_path = "value[" + std::to_string(i) + "]";
      if (!items[i].IsObject()) {
        return tl::unexpected(bad_response(kName, item_path + " is not an object"));
      }
      const ObjectFields fields(kName, item_path, items[i]);
      auto id = fields.required_string("id");
      if (!id) return tl::unexpected(id.error());
      if (auto project_name = fields.required_string("name"); !project_name) {
        return tl::unexpected(project_name.error());
      }
      std::string url =
          org_base + percent_encode(*id) + "/_apis/git/repositories?" + std::string(kApiVersion);
      if (!same_origin(query.api_base, url)) {
        return tl::unexpected(
            bad_response(kName, "a project's listing is not on the API's origin"));
      }
      page.more.push_back(ApiRequest{std::move(url), request.headers});
    }
    const auto token = response.header("x-ms-continuationtoken");
    if (token && !token->empty()) {
      if (token->size() > kMaxContinuationToken) {
        return tl::unexpected(bad_response(kName, "x-ms-continuationtoken is too long"));
      }
      std::string encoded = percent_encode(*token);
      // The same token again would page forever.
      if (query_parameter(request.url, "continuationToken") == std::string_view(encoded)) {
        return tl::unexpected(bad_response(kName, "x-ms-continuationtoken repeats this page's"));
      }
      std::string url = with_query_parameter(request.url, "continuationToken", encoded);
      if (!same_origin(query.api_base, url)) {
        return tl::unexpected(bad_response(kName, "the next page is not on the API's origin"));
      }
      page.next = ApiRequest{std::move(url), request.headers};
    }
    return page;
  }
};

}  // namespace

std::unique_ptr<Provider> make_azure_devops_provider() {
  return std::make_unique<AzureDevOpsProvider>();
}

}  // namespace mgit::discovery
