#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

namespace mgit::discovery {

/// One repository as a provider's API lists it, reduced to what discovery filters on and
/// what a job needs. Strings are as the API sent them (untrusted: validated before use).
struct Repository {
  std::string full_name;  ///< "org/name", "group/sub/name", "project/name"
  std::string name;       ///< the last path component
  std::string https_url;  ///< clone URL over https
  std::string ssh_url;    ///< clone URL over ssh, empty when the API gives none
  std::string default_branch;
  std::string visibility;  ///< "public", "private" or "internal"
  std::vector<std::string> topics;
  std::optional<std::chrono::system_clock::time_point> pushed_at;
  bool archived = false;
  bool fork = false;
};

/// A request the discovery loop sends: GET `url` (absolute, https or http) with `headers`
/// (besides the provider's authorization header, which the loop adds).
struct ApiRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// A response as received. Header names are lower-case; a repeated header appears once per
/// occurrence, in order.
struct ApiResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// The first value of header `name` (lower-case), if present.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
};

/// What one page gave: its repositories, the next page of the same listing, and further
/// listings it revealed (Azure DevOps: one repository listing per project).
struct Page {
  std::vector<Repository> repositories;
  std::optional<ApiRequest> next;
  std::vector<ApiRequest> more;
};

enum class DiscoveryErrorCode {
  kUsage,         ///< bad option (unknown provider, malformed base URL, …)
  kUnauthorized,  ///< 401/403 that is not a rate limit
  kNotFound,      ///< 404: no such org/group/workspace
  kRateLimited,   ///< still limited after the allowed wait
  kUnreachable,   ///< connect/TLS/timeout
  kBadResponse,   ///< a status or body the provider's API does not document
};

/// `message` names what failed and the fix; never a token.
struct DiscoveryError {
  DiscoveryErrorCode code = DiscoveryErrorCode::kBadResponse;
  std::string message;
};

/// What to list: the organisation (GitHub org, GitLab group path, Gitea org, Azure DevOps
/// organisation, Bitbucket workspace) on the provider at `api_base` (no trailing slash; the
/// provider's public API when the user gives none, e.g. https://api.github.com).
struct Query {
  std::string api_base;
  std::string org;
};

/// How one provider's REST API lists an organisation's repositories. Pure: no I/O, so each
/// provider is unit-tested and fuzzed on documented example responses. The loop (discover.hpp)
/// sends the requests, handles rate limits and retries, and adds the authorization header.
class Provider {
 public:
  virtual ~Provider() = default;
  /// "github", "gitlab", "gitea", "azure-devops", "bitbucket".
  [[nodiscard]] virtual std::string_view name() const = 0;
  /// The public API's base URL, used when the user gives none.
  [[nodiscard]] virtual std::string default_api_base() const = 0;
  /// The first request(s) of the listing.
  [[nodiscard]] virtual std::vector<ApiRequest> first(const Query& query) const = 0;
  /// The authorization header for an API token (`username` empty when the credential has
  /// none or the default `x-access-token`).
  [[nodiscard]] virtual std::pair<std::string, std::string> authorization(
      std::string_view username, std::string_view token) const = 0;
  /// Parses a 2xx response to `request`. Next-page and follow-up URLs are checked to stay on
  /// the origin (scheme, host, port) of `query.api_base`: an API answer never sends the
  /// token elsewhere.
  [[nodiscard]] virtual tl::expected<Page, DiscoveryError> parse(
      const Query& query, const ApiRequest& request, const ApiResponse& response) const = 0;
};

/// The provider called `name`, or nullptr.
std::unique_ptr<Provider> make_provider(std::string_view name);

}  // namespace mgit::discovery
