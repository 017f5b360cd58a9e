// Bitbucket Cloud: the repositories of a workspace.
//
// Followed documentation:
// - List repositories in a workspace:
// https://developer.atlassian.com/cloud/bitbucket/rest/api-group-repositories/#api-repositories-workspace-get
//   (`GET /repositories/{workspace}`, a paginated list of repository objects: full_name, slug,
//   name, is_private, mainbranch, parent for a fork, updated_on, links.clone[] with
//   {"name": "https"|"ssh", "href": …}).
// - Pagination: https://developer.atlassian.com/cloud/bitbucket/rest/intro/#pagination
//   (`pagelen` up to 100, the next page's full URL in the body's `next`, absent on the last
//   page; clients follow `next` rather than build it).
// - Authentication: https://developer.atlassian.com/cloud/bitbucket/rest/intro/#authentication
//   (access tokens as `Authorization: Bearer`; app passwords and API tokens with HTTP Basic
//   and the account's user name or e-mail).
// Bitbucket has no archived flag and no topics: Repository::archived stays false and topics
// empty. updated_on (a push, but also a settings change) stands in for the push time.
#include <rapidjson/document.h>

#include "provider_support.hpp"
#include "response_fields.hpp"

namespace mgit::discovery {

namespace {

constexpr std::string_view kName = "bitbucket";

tl::expected<void, DiscoveryError> parse_clone_links(const ObjectFields& fields,
                                                     Repository& repository) {
  auto links = fields.required_object("links");
  if (!links) return tl::unexpected(links.error());
  const ObjectFields link_fields(kName, fields.path_of("links"), **links);
  auto clone = link_fields.required_array("clone");
  if (!clone) return tl::unexpected(clone.error());
  const rapidjson::Value& entries = **clone;
  for (rapidjson::SizeType i = 0; i < entries.Size(); ++i) {
    const std::string entry_path = link_fields.path_of("clone") + "[" + std::to_string(i) + "]";
    if (!entries[i].IsObject()) {
      return tl::unexpected(bad_response(kName, entry_path + " is not an object"));
    }
    const ObjectFields entry(kName, entry_path, entries[i]);
    auto name = entry.required_string("name");
    if (!name) return tl::unexpected(name.error());
    auto href = entry.required_string("href");
    if (!href) return tl::unexpected(href.error());
    // The https href names the API caller (https://alice@bitbucket.org/…); the job brings its
    // own credential.
    if (*name == "https" && repository.https_url.empty()) {
      repository.https_url = without_userinfo(*href);
    } else if (*name == "ssh" && repository.ssh_url.empty()) {
      repository.ssh_url = std::move(*href);
    }
  }
  if (repository.https_url.empty()) {
    return tl::unexpected(
        bad_response(kName, link_fields.path_of("clone") + " has no \"https\" entry"));
  }
  return {};
}

tl::expected<Repository, DiscoveryError> parse_repository(const rapidjson::Value& item,
                                                          std::string path) {
  if (!item.IsObject()) return tl::unexpected(bad_response(kName, path + " is not an object"));
  const ObjectFields fields(kName, std::move(path), item);
  Repository repository;
  auto full_name = fields.required_string("full_name");
  if (!full_name) return tl::unexpected(full_name.error());
  repository.full_name = std::move(*full_name);
  // The slug is the URL's name; `name` may hold spaces and capitals.
  auto slug = fields.optional_string("slug");
  if (!slug) return tl::unexpected(slug.error());
  if (slug->empty()) {
    slug = fields.required_string("name");
    if (!slug) return tl::unexpected(slug.error());
  }
  repository.name = std::move(*slug);
  if (auto links = parse_clone_links(fields, repository); !links) {
    return tl::unexpected(links.error());
  }
  // Absent or null for a repository without commits.
  auto mainbranch = fields.optional_object("mainbranch");
  if (!mainbranch) return tl::unexpected(mainbranch.error());
  if (*mainbranch != nullptr) {
    const ObjectFields branch(kName, fields.path_of("mainbranch"), **mainbranch);
    auto branch_name = branch.required_string("name");
    if (!branch_name) return tl::unexpected(branch_name.error());
    repository.default_branch = std::move(*branch_name);
  }
  auto is_private = fields.required_bool("is_private");
  if (!is_private) return tl::unexpected(is_private.error());
  repository.visibility = *is_private ? "private" : "public";
  auto parent = fields.optional_object("parent");
  if (!parent) return tl::unexpected(parent.error());
  repository.fork = *parent != nullptr;
  auto updated = fields.required_string("updated_on");
  if (!updated) return tl::unexpected(updated.error());
  repository.pushed_at = parse_timestamp(*updated);
  if (!repository.pushed_at) {
    return tl::unexpected(fields.error("updated_on", "is not an ISO 8601 timestamp"));
  }
  return repository;
}

class BitbucketProvider final : public Provider {
 public:
  [[nodiscard]] std::string_view name() const override { return kName; }
  [[nodiscard]] std::string default_api_base() const override {
    return "https://api.bitbucket.org/2.0";
  }

  [[nodiscard]] std::vector<ApiRequest> first(const Query& query) const override {
    return {ApiRequest{
        query.api_base + "/repositories/" + percent_encode(query.org) + "?pagelen=100", {}}};
  }

  [[nodiscard]] std::pair<std::string, std::string> authorization(
      std::string_view username, std::string_view token) const override {
    if (username.empty()) return {"Authorization", "Bearer " + std::string(token)};
    return {"Authorization", basic_authorization(username, token)};
  }

  [[nodiscard]] tl::expected<Page, DiscoveryError> parse(
      const Query& query, const ApiRequest& request, const ApiResponse& response) const override {
    rapidjson::Document document;
    if (auto parsed = parse_body(kName, response.body, document); !parsed) {
      return tl::unexpected(parsed.error());
    }
    if (!document.IsObject()) {
      return tl::unexpected(bad_response(kName, "the answer is not a JSON object"));
    }
    const ObjectFields root(kName, "", document);
    auto values = root.required_array("values");
    if (!values) return tl::unexpected(values.error());
    const rapidjson::Value& items = **values;
    Page page;
    page.repositories.reserve(items.Size());
    for (rapidjson::SizeType i = 0; i < items.Size(); ++i) {
      auto repository = parse_repository(items[i], "values[" + std::to_string(i) + "]");
      if (!repository) return tl::unexpected(repository.error());
      page.repositories.push_back(std::move(*repository));
    }
    auto next = root.optional_string("next");
    if (!next) return tl::unexpected(next.error());
    if (!next->empty()) {
      if (!same_origin(query.api_base, *next)) {
        return tl::unexpected(bad_response(kName, "next is not on the API's origin"));
      }
      // The same URL again would page forever.
      if (*next == request.url) {
        return tl::unexpected(bad_response(kName, "next repeats this page"));
      }
      page.next = ApiRequest{std::move(*next), request.headers};
    }
    return page;
  }
};

}  // namespace

std::unique_ptr<Provider> make_bitbucket_provider() {
  return std::make_unique<BitbucketProvider>();
}

}  // namespace mgit::discovery
