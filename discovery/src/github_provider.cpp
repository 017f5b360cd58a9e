// GitHub REST: "List organization repositories",
// https://docs.github.com/en/rest/repos/repos#list-organization-repositories
// GET {base}/orgs/{org}/repos?per_page=100&type=all, paged by the Link header.

#include <fmt/format.h>

#include "provider_support.hpp"
#include "repo_json.hpp"

namespace mgit::discovery {

namespace {

class GithubProvider final : public Provider {
 public:
  [[nodiscard]] std::string_view name() const override { return "github"; }

  [[nodiscard]] std::string default_api_base() const override { return "https://api.github.com"; }

  [[nodiscard]] std::vector<ApiRequest> first(const Query& query) const override {
    // Oldest first: a repository created while the listing runs lands on the last page
    // instead of pushing an entry already listed onto the next one (the default is newest
    // first).
    return {ApiRequest{
        fmt::format("{}/orgs/{}/repos?per_page=100&type=all&sort=created&direction=asc",
                    query.api_base, percent_encode(query.org)),
        {{"Accept", "application/vnd.github+json"}, {"X-GitHub-Api-Version", "2022-11-28"}}}};
  }

  [[nodiscard]] std::pair<std::string, std::string> authorization(
      std::string_view /*username*/, std::string_view token) const override {
    return {"Authorization", fmt::format("Bearer {}", token)};
  }

  [[nodiscard]] tl::expected<Page, DiscoveryError> parse(
      const Query& query, const ApiRequest& request, const ApiResponse& response) const override {
    auto document = parse_array_body(name(), response.body);
    if (!document) return tl::make_unexpected(std::move(document.error()));
    Page page;
    std::size_t index = 0;
    for (const auto& item : document->GetArray()) {
      FieldReader fields(name(), item, index++);
      Repository repository;
      repository.full_name = fields.string("full_name", true);
      repository.name = fields.string("name", true);
      repository.https_url = fields.string("clone_url", true);
      repository.ssh_url = fields.string("ssh_url", false);
      repository.default_branch = fields.string("default_branch", false);
      const bool is_private = fields.boolean("private", true);
      // `visibility` is newer than `private` and may be absent (older GitHub Enterprise).
      repository.visibility = fields.string("visibility", false);
      if (repository.visibility.empty()) repository.visibility = is_private ? "private" : "public";
      repository.topics = fields.strings("topics");
      repository.pushed_at = fields.timestamp("pushed_at");
      repository.archived = fields.boolean("archived", false);
      repository.fork = fields.boolean("fork", true);
      if (!fields.ok()) return tl::make_unexpected(fields.error());
      page.repositories.push_back(std::move(repository));
    }
    auto next = link_next_request(name(), query, request, response);
    if (!next) return tl::make_unexpected(std::move(next.error()));
    page.next = std::move(*next);
    return page;
  }
};

}  // namespace

std::unique_ptr<Provider> make_github_provider() { return std::make_unique<GithubProvider>(); }

}  // namespace mgit::discovery
