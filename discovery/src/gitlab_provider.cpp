// GitLab: the projects of a group and of all its subgroups.
//
// Followed documentation:
// - List a group's projects: https://docs.gitlab.com/api/groups/#list-projects
//   (`GET /groups/:id/projects`, `:id` a numeric id or the URL-encoded full path,
//   `include_subgroups`, `with_shared`, `per_page` at most 100, `order_by`/`sort`).
// - Offset pagination: https://docs.gitlab.com/api/rest/#pagination-link-header
//   (`X-Next-Page`: the next page's number, empty on the last page).
// - Project fields: https://docs.gitlab.com/api/projects/#list-all-projects (example response:
//   path_with_namespace, http_url_to_repo, default_branch null for an empty project, topics;
//   tag_list deprecated in favour of topics in GitLab 14.0).
// - Tokens: https://docs.gitlab.com/api/rest/authentication/ (`PRIVATE-TOKEN` for personal,
//   group and project access tokens; `Authorization: Bearer` for OAuth 2 tokens).
#include <rapidjson/document.h>

#include "mgit/basics/ascii.hpp"
#include "provider_support.hpp"
#include "response_fields.hpp"

namespace mgit::discovery {

namespace {

constexpr std::string_view kName = "gitlab";
// The user name git uses with a GitLab OAuth token over HTTPS; a credential that carries it
// holds an OAuth token, which the API takes only as a Bearer token.
constexpr std::string_view kOAuthUser = "oauth2";
constexpr std::size_t kMaxPageDigits = 9;

tl::expected<Repository, DiscoveryError> parse_project(const rapidjson::Value& item,
                                                       std::string path) {
  if (!item.IsObject()) return tl::unexpected(bad_response(kName, path + " is not an object"));
  const ObjectFields fields(kName, std::move(path), item);
  Repository repository;
  auto full_name = fields.required_string("path_with_namespace");
  if (!full_name) return tl::unexpected(full_name.error());
  repository.full_name = std::move(*full_name);
  auto name = fields.required_string("path");
  if (!name) return tl::unexpected(name.error());
  repository.name = std::move(*name);
  auto https_url = fields.required_string("http_url_to_repo");
  if (!https_url) return tl::unexpected(https_url.error());
  repository.https_url = without_userinfo(*https_url);
  auto ssh_url = fields.optional_string("ssh_url_to_repo");
  if (!ssh_url) return tl::unexpected(ssh_url.error());
  repository.ssh_url = std::move(*ssh_url);
  // null for a project without commits.
  auto branch = fields.optional_string("default_branch");
  if (!branch) return tl::unexpected(branch.error());
  repository.default_branch = std::move(*branch);
  auto visibility = fields.required_string("visibility");
  if (!visibility) return tl::unexpected(visibility.error());
  if (*visibility != "public" && *visibility != "internal" && *visibility != "private") {
    return tl::unexpected(
        fields.error("visibility", R"(is not one of "public", "internal", "private")"));
  }
  repository.visibility = std::move(*visibility);
  // `topics` since GitLab 14.0; older servers send only the deprecated `tag_list`.
  bool present = false;
  auto topics = fields.string_array("topics", present);
  if (!topics) return tl::unexpected(topics.error());
  if (!present) {
    topics = fields.string_array("tag_list", present);
    if (!topics) return tl::unexpected(topics.error());
  }
  repository.topics = std::move(*topics);
  // GitLab has no push time in the listing: last_activity_at (a push, but also an issue, a
  // merge request or a comment, updated at most hourly) stands in for "pushed since".
  auto activity = fields.required_string("last_activity_at");
  if (!activity) return tl::unexpected(activity.error());
  repository.pushed_at = parse_timestamp(*activity);
  if (!repository.pushed_at) {
    return tl::unexpected(fields.error("last_activity_at", "is not an RFC 3339 timestamp"));
  }
  auto archived = fields.required_bool("archived");
  if (!archived) return tl::unexpected(archived.error());
  repository.archived = *archived;
  // Present (an object) only on a fork, and then only to callers who may see the parent.
  auto parent = fields.optional_object("forked_from_project");
  if (!parent) return tl::unexpected(parent.error());
  repository.fork = *parent != nullptr;
  return repository;
}

/// The page number `url` asks for (GitLab's default: 1).
long current_page(std::string_view url) {
  const auto page = query_parameter(url, "page");
  if (!page || page->empty() || page->size() > kMaxPageDigits) return 1;
  long number = 0;
  for (const char c : *page) {
    if (!basics::is_ascii_digit(c)) return 1;
    number = number * 10 + (c - '0');
  }
  return number;
}

class GitLabProvider final : public Provider {
 public:
  [[nodiscard]] std::string_view name() const override { return kName; }
  [[nodiscard]] std::string default_api_base() const override {
    return "https://gitlab.com/api/v4";
  }

  [[nodiscard]] std::vector<ApiRequest> first(const Query& query) const override {
    // Ordered by id ascending: offset pages over the default order (created_at descending)
    // would shift when a project is created mid-listing and repeat or skip one.
    return {ApiRequest{query.api_base + "/groups/" + percent_encode(query.org) +
                           "/projects?include_subgroups=true&with_shared=false&per_page=100"
                           "&order_by=id&sort=asc",
                       {}}};
  }

  [[nodiscard]] std::pair<std::string, std::string> authorization(
      std::string_view username, std::string_view token) const override {
    if (username == kOAuthUser) return {"Authorization", "Bearer " + std::string(token)};
    return {"PRIVATE-TOKEN", std::string(token)};
  }

  [[nodiscard]] tl::expected<Page, DiscoveryError> parse(
      const Query& query, const ApiRequest& request, const ApiResponse& response) const override {
    rapidjson::Document document;
    if (auto parsed = parse_body(kName, response.body, document); !parsed) {
      return tl::unexpected(parsed.error());
    }
    if (!document.IsArray()) {
      return tl::unexpected(bad_response(kName, "the project listing is not a JSON array"));
    }
    Page page;
    page.repositories.reserve(document.Size());
    for (rapidjson::SizeType i = 0; i < document.Size(); ++i) {
      auto repository = parse_project(document[i], "[" + std::to_string(i) + "]");
      if (!repository) return tl::unexpected(repository.error());
      page.repositories.push_back(std::move(*repository));
    }
    const auto next = response.header("x-next-page");
    if (next && !next->empty()) {
      if (next->size() > kMaxPageDigits) {
        return tl::unexpected(bad_response(kName, "X-Next-Page is not a page number"));
      }
      long next_number = 0;
      for (const char c : *next) {
        if (!basics::is_ascii_digit(c)) {
          return tl::unexpected(bad_response(kName, "X-Next-Page is not a page number"));
        }
        next_number = next_number * 10 + (c - '0');
      }
      // A next page that is not after this one would page forever.
      if (next_number <= current_page(request.url)) {
        return tl::unexpected(bad_response(kName, "X-Next-Page does not follow this page"));
      }
      std::string url = with_query_parameter(request.url, "page", *next);
      if (!same_origin(query.api_base, url)) {
        return tl::unexpected(bad_response(kName, "the next page is not on the API's origin"));
      }
      page.next = ApiRequest{std::move(url), request.headers};
    }
    return page;
  }
};

}  // namespace

std::unique_ptr<Provider> make_gitlab_provider() { return std::make_unique<GitLabProvider>(); }

}  // namespace mgit::discovery
