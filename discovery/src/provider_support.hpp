#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mgit/discovery/provider.hpp"

namespace mgit::discovery {

// Helpers every provider parser shares. Pure functions; each takes untrusted API text.

/// Whether `url` has the same scheme, host (case-insensitive) and effective port as `base`.
/// A next-page or follow-up URL that fails this is a kBadResponse: the token would leave the
/// API's origin.
bool same_origin(std::string_view base, std::string_view url);

/// The `rel="next"` target of an RFC 8288 `Link` header value, if any.
std::optional<std::string> link_next(std::string_view link_header);

/// An RFC 3339 / ISO 8601 UTC-or-offset timestamp ("2011-01-26T19:06:43Z",
/// "2012-10-12T20:04:58.123+02:00"). Nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> parse_timestamp(std::string_view text);

/// Percent-encodes everything but RFC 3986 unreserved characters (a GitLab group path
/// `a/b` becomes `a%2Fb`).
std::string percent_encode(std::string_view text);

/// The factories make_provider() dispatches to (one file each).
std::unique_ptr<Provider> make_github_provider();
std::unique_ptr<Provider> make_gitea_provider();
std::unique_ptr<Provider> make_gitlab_provider();
std::unique_ptr<Provider> make_azure_devops_provider();
std::unique_ptr<Provider> make_bitbucket_provider();

}  // namespace mgit::discovery
