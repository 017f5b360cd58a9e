#include <arpa/inet.h>

#include <cstring>

#include "mgit/basics/ascii.hpp"
#include "mgit/security/network_policy.hpp"

namespace mgit::security {
namespace {

/// One part of an inet_aton spelling: decimal, `0x` hex or leading-`0` octal.
std::optional<std::uint64_t> aton_part(std::string_view part) {
  if (part.empty()) return std::nullopt;
  int base = 10;
  if (part.size() > 1 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X')) {
    base = 16;
    part.remove_prefix(2);
    // glibc reads a bare `0x` as zero.
    if (part.empty()) return 0;
  } else if (part.size() > 1 && part[0] == '0') {
    base = 8;
    part.remove_prefix(1);
  }
  std::uint64_t value = 0;
  for (const char c : part) {
    int digit = 0;
    if (basics::is_ascii_digit(c)) {
      digit = c - '0';
    } else if (base == 16 && basics::is_ascii_hex(c)) {
      digit = basics::ascii_lower(c) - 'a' + 10;
    } else {
      return std::nullopt;
    }
    if (digit >= base) return std::nullopt;
    value = value * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(digit);
    if (value > 0xffffffffULL) return std::nullopt;
  }
  return value;
}

}  // namespace

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
  if (text.empty() || text.back() == '.') return std::nullopt;
  std::uint64_t parts[4] = {};
  std::size_t count = 0;
  while (true) {
    if (count == 4) return std::nullopt;
    const std::size_t dot = text.find('.');
    const auto value = aton_part(text.substr(0, dot));
    if (!value) return std::nullopt;
    parts[count++] = *value;
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  // Leading parts are one byte each; the last fills the remaining 4 - (count - 1) bytes.
  for (std::size_t i = 0; i + 1 < count; ++i) {
    if (parts[i] > 0xff) return std::nullopt;
  }
  const int last_bits = 8 * static_cast<int>(5 - count);
  if (last_bits < 32 && parts[count - 1] >= (std::uint64_t{1} << last_bits)) return std::nullopt;
  std::uint32_t value = static_cast<std::uint32_t>(parts[count - 1]);
  for (std::size_t i = 0; i + 1 < count; ++i) {
    value |= static_cast<std::uint32_t>(parts[i]) << (24 - 8 * i);
  }
  IpAddress address;
  address.bytes[0] = static_cast<std::uint8_t>(value >> 24);
  address.bytes[1] = static_cast<std::uint8_t>(value >> 16);
  address.bytes[2] = static_cast<std::uint8_t>(value >> 8);
  address.bytes[3] = static_cast<std::uint8_t>(value);
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
