// Gitea: "List an organization's repos",
// https://docs.gitea.com/api/1.22/#tag/organization/operation/orgListRepos
// GET {base}/api/v1/orgs/{org}/repos?limit=50&page=N, paged by the Link header (Gitea sends
// rel="next" while there is a next page). Gitea has no public default instance.

#include <fmt/format.h>

#include "provider_support.hpp"
#include "repo_json.hpp"

namespace mgit::discovery {

namespace {

class GiteaProvider final : public Provider {
 public:
  [[nodiscard]] std::string_view name() const override { return "gitea"; }

  [[nodiscard]] std::string default_api_base() const override { return {}; }

  [[nodiscard]] std::vector<ApiRequest> first(const Query& query) const override {
    return {ApiRequest{fmt::format("{}/api/v1/orgs/{}/repos?limit=50&page=1", query.api_base,
                                   percent_encode(query.org)),
                       {{"Accept", "application/json"}}}};
  }

  [[nodiscard]] std::pair<std::string, std::string> authorization(
      std::string_view /*username*/, std::string_view token) const override {
    return {"Authorization", fmt::format("token {}", token)};
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
      const bool internal = fields.boolean("internal", false);
      repository.visibility = internal ? "internal" : is_private ? "private" : "public";
      repository.topics = fields.strings("topics");
      // Gitea's repository has no pushed_at; updated_at moves with every push (and with
      // settings changes), the closest it offers.
      repository.pushed_at = fields.timestamp("updated_at");
      repository.archived = fields.boolean("archived", false);
      repository.fork = fields.boolean("fork", true);
      if (!fields.ok()) return tl::make_unexpected(fields.error());
      page.repositories.push_back(std::move(repository));
    }
    auto next = link_next_request(name(), query, request, response);
    if (!next) return tl::make_unexpected(std::move(next.error()));
    // An empty page ends the listing whatever the header says (a loop guard).
    if (!page.repositories.empty()) page.next = std::move(*next);
    return page;
  }
};

}  // namespace

std::unique_ptr<Provider> make_gitea_provider() { return std::make_unique<GiteaProvider>(); }

}  // namespace mgit::discovery
