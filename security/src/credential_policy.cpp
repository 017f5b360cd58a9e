#include <fmt/format.h>

#include <algorithm>

#include "mgit/basics/ascii.hpp"
#include "mgit/security/credentials.hpp"

namespace mgit::security {

std::pair<std::string, std::optional<int>> url_host(std::string_view url) {
  using basics::starts_with;
  std::string_view rest = url;
  const std::size_t scheme = rest.find("://");
  const bool scp_like = scheme == std::string_view::npos;
  if (!scp_like) rest.remove_prefix(scheme + 3);
  rest = rest.substr(0, std::min(rest.find('/'), rest.size()));
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    rest.remove_prefix(at + 1);
  }
  std::string_view host = rest;
  std::string_view port;
  if (starts_with(rest, "[")) {
    const std::size_t close = std::min(rest.find(']'), rest.size());
    host = rest.substr(0, close + 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (const std::size_t colon = rest.find(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    if (!scp_like) port = rest.substr(colon + 1);  // scp-like: the colon starts the path
  }
  std::optional<int> number;
  if (!port.empty() && port.size() <= 5 &&
      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    number = std::stoi(std::string(port));
  }
  return {basics::to_lower(host), number};
}

std::optional<std::string> credential_refusal(const Credential& credential, std::string_view url) {
  const auto [host, port] = url_host(url);
  if (credential.hosts.empty()) return credential.missing_hosts_message(host);
  if (credential.allows_host(host, port)) return std::nullopt;
  return fmt::format("credential '{}' is not allowed for host '{}'", credential.name,
                     port ? fmt::format("{}:{}", host, *port) : host);
}

}  // namespace mgit::security
