#include "url_parts.hpp"

#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>

#include "mgit/basics/ascii.hpp"

namespace mgit::discovery {

bool UrlParts::ip_literal() const {
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(host, ec);
  return !ec;
}

std::optional<UrlParts> split_url(std::string_view url) {
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  }
  const auto separator = url.find("://");
  if (separator == std::string_view::npos) return std::nullopt;
  UrlParts parts;
  for (const char c : url.substr(0, separator)) parts.scheme += basics::ascii_lower(c);
  if (parts.scheme != "https" && parts.scheme != "http") return std::nullopt;
  std::string_view rest = url.substr(separator + 3);
  if (rest.find('#') != std::string_view::npos) return std::nullopt;
  const auto path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  parts.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (parts.target.front() == '?') parts.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  for (const char c : host) parts.host += basics::ascii_lower(c);
  if (port.empty()) port = parts.scheme == "https" ? "443" : "80";
  if (port.size() > 5) return std::nullopt;
  int number = 0;
  for (const char c : port) {
    if (!basics::is_ascii_digit(c)) return std::nullopt;
    number = number * 10 + (c - '0');
  }
  if (number < 1 || number > 65535) return std::nullopt;
  parts.port = std::to_string(number);
  return parts;
}

std::string origin_text(std::string_view url) {
  // Userinfo is dropped rather than refused here: this only names the origin in a message.
  std::string without_userinfo(url);
  if (const auto separator = url.find("://"); separator != std::string_view::npos) {
    const auto authority_end = url.find_first_of("/?#", separator + 3);
    const auto at = url.substr(0, authority_end).rfind('@');
    if (at != std::string_view::npos && at > separator) {
      without_userinfo =
          std::string(url.substr(0, separator + 3)) + std::string(url.substr(at + 1));
    }
  }
  const auto parts = split_url(without_userinfo);
  if (!parts) return "(unparseable URL)";
  const bool v6 = parts->host.find(':') != std::string::npos;
  return fmt::format("{}://{}{}{}:{}", parts->scheme, v6 ? "[" : "", parts->host, v6 ? "]" : "",
                     parts->port);
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(host), ec);
  return !ec && address.is_loopback();
}

}  // namespace mgit::discovery
