#include <arpa/inet.h>

#include <cstring>

#include "mgit/basics/ascii.hpp"
#include "mgit/security/network_policy.hpp"

namespace mgit::security {
std::string IpAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof(text));
  return text;
}

std::optional<IpAddress> IpAddress::embedded_ipv4() const {
  if (!v6) return std::nullopt;
  const auto zero = [this](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      if (bytes[i] != 0) return false;
    }
    return true;
  };
  IpAddress v4;
  const auto take = [&](std::size_t at) {
    std::memcpy(v4.bytes.data(), bytes.data() + at, 4);
    return v4;
  };
  if (zero(0, 10) && bytes[10] == 0xff && bytes[11] == 0xff) return take(12);  // mapped
  if (zero(0, 12)) {
    // `::` and `::1` are themselves, not IPv4-compatible forms of 0.0.0.0 and 0.0.0.1.
    if (zero(12, 15) && bytes[15] <= 1) return std::nullopt;
    return take(12);  // compatible (deprecated)
  }
  if (bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xff && bytes[3] == 0x9b && zero(4, 12)) {
    return take(12);  // NAT64 well-known prefix 64:ff9b::/96
  }
  if (bytes[0] == 0x20 && bytes[1] == 0x02) return take(2);  // 6to4 2002::/16
  return std::nullopt;
}

std::optional<IpAddress> parse_ipv4_any_spelling(std::string_view text) {
  // The resolver (getaddrinfo) reads a numeric host with inet_aton(3), so inet_aton itself
  // decides, and no spelling can read one way here and another when connecting: glibc takes
  // `0x` as 0, for one, which a hand-written reader easily misses (tests/fuzz found it).
  // inet_aton ignores whatever follows white space; a host holds none, and only the
  // characters of a numeric spelling are passed on.
  // No length limit: inet_aton reads any number of leading zeros (tests/fuzz found a 120-digit
  // octal spelling read as a host name here and as an address by the resolver).
  if (text.empty()) return std::nullopt;
  for (const char c : text) {
    if (!basics::is_ascii_hex(c) && c != 'x' && c != 'X' && c != '.') return std::nullopt;
  }
  const std::string terminated(text);
  in_addr parsed{};
  if (inet_aton(terminated.c_str(), &parsed) == 0) return std::nullopt;
  IpAddress address;
  std::memcpy(address.bytes.data(), &parsed.s_addr, 4);  // s_addr is in network byte order
  return address;
}

std::optional<IpAddress> parse_ip_literal(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.find(':') == std::string_view::npos) return parse_ipv4_any_spelling(host);
  // A zone (`fe80::1%eth0`, `%25` in a URL) changes the interface, not the address class.
  host = host.substr(0, host.find('%'));
  IpAddress address;
  address.v6 = true;
  const std::string text(host);
  if (inet_pton(AF_INET6, text.c_str(), address.bytes.data()) != 1) return std::nullopt;
  return address;
}

std::string normalize_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
  return basics::to_lower(host);
}

}  // namespace mgit::security
