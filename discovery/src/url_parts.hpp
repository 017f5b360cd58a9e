#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mgit::discovery {

/// An absolute http(s) URL split for a request: `scheme` and `host` lower-case (an IPv6
/// literal without its brackets), `port` explicit or the scheme's, `target` the path and
/// query ("/" when empty). Nullopt for another scheme, userinfo, a fragment, a bad port or
/// a control character or space anywhere (it would end up in the request line).
struct UrlParts {
  std::string scheme;
  std::string host;
  std::string port;
  std::string target;
  [[nodiscard]] bool ip_literal() const;
};
std::optional<UrlParts> split_url(std::string_view url);

/// "scheme://host:port" of a URL for messages (never its path, query or userinfo, which may
/// carry a secret); "(unparseable URL)" when it has none.
std::string origin_text(std::string_view url);

/// Whether `host` (as split_url gives it) is a loopback address or "localhost".
bool is_loopback_host(std::string_view host);

}  // namespace mgit::discovery
