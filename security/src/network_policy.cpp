#include "mgit/security/network_policy.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>

#include "mgit/basics/ascii.hpp"

namespace mgit::security {
namespace {

/// A denied range: `prefix` bits of `base` (as written) and what it is.
struct Range {
  const char* base;
  int prefix;
  const char* rule;
  const char* what;
};

// Checked in order; the first match names the rule.
constexpr Range kDeniedV4[] = {
    {"255.255.255.255", 32, "broadcast", "the broadcast address"},
    {"0.0.0.0", 8, "unspecified", "unspecified (\"this network\", 0.0.0.0/8)"},
    {"127.0.0.0", 8, "loopback", "loopback (127.0.0.0/8)"},
    {"10.0.0.0", 8, "private", "private (RFC 1918)"},
    {"172.16.0.0", 12, "private", "private (RFC 1918)"},
    {"192.168.0.0", 16, "private", "private (RFC 1918)"},
    {"100.64.0.0", 10, "cgnat", "shared address space (CGNAT, RFC 6598)"},
    {"169.254.0.0", 16, "link-local", "link-local (169.254.0.0/16)"},
    {"192.0.0.0", 24, "reserved", "reserved (IETF protocol assignments)"},
    {"192.0.2.0", 24, "reserved", "reserved (documentation)"},
    {"198.51.100.0", 24, "reserved", "reserved (documentation)"},
    {"203.0.113.0", 24, "reserved", "reserved (documentation)"},
    {"192.88.99.0", 24, "reserved", "reserved (6to4 relay anycast)"},
    {"198.18.0.0", 15, "reserved", "reserved (benchmarking)"},
    {"224.0.0.0", 4, "multicast", "multicast"},
    {"240.0.0.0", 4, "reserved", "reserved (240.0.0.0/4)"},
};

constexpr Range kDeniedV6[] = {
    {"::", 128, "unspecified", "unspecified (::)"},
    {"::1", 128, "loopback", "loopback (::1)"},
    {"::", 8, "reserved", "reserved (::/8)"},
    {"64:ff9b:1::", 48, "reserved", "reserved (local-use NAT64, RFC 8215)"},
    {"100::", 64, "reserved", "reserved (discard-only, RFC 6666)"},
    {"2001::", 32, "reserved", "reserved (Teredo tunnelling)"},
    {"2001:db8::", 32, "reserved", "reserved (documentation)"},
    {"fc00::", 7, "unique-local", "unique-local (fc00::/7)"},
    {"fe80::", 10, "link-local", "link-local (fe80::/10)"},
    {"fec0::", 10, "site-local", "site-local (fec0::/10, deprecated)"},
    {"ff00::", 8, "multicast", "multicast"},
};

// Instance metadata services: credentials of the machine or pod live behind them. AWS,
// GCP, Azure, OpenStack, Oracle and DigitalOcean use 169.254.169.254 (AWS also
// fd00:ec2::254); ECS task and EKS pod identity 169.254.170.2 / .23 (fd00:ec2::23);
// Alibaba 100.100.100.200; Tencent 169.254.0.23; Oracle Cloud Classic 192.0.0.192.
constexpr const char* kMetadataAddresses[] = {
    "169.254.169.254", "169.254.170.2", "169.254.170.23", "100.100.100.200",
    "169.254.0.23",    "192.0.0.192",   "fd00:ec2::254",  "fd00:ec2::23",
};

IpAddress parse_constant(const char* text) {
  IpAddress address;
  address.v6 = std::string_view(text).find(':') != std::string_view::npos;
  inet_pton(address.v6 ? AF_INET6 : AF_INET, text, address.bytes.data());
  return address;
}

bool in_prefix(const IpAddress& address, const IpAddress& base, int prefix) {
  if (address.v6 != base.v6) return false;
  for (int bit = 0; bit < prefix; ++bit) {
    const int byte = bit / 8;
    const int mask = 0x80 >> (bit % 8);
    if ((address.bytes[byte] & mask) != (base.bytes[byte] & mask)) return false;
  }
  return true;
}

bool is_metadata(const IpAddress& address) {
  return std::any_of(std::begin(kMetadataAddresses), std::end(kMetadataAddresses),
                     [&](const char* text) { return parse_constant(text) == address; });
}

const Range* denied_range(const IpAddress& address) {
  if (!address.v6) {
    for (const Range& range : kDeniedV4) {
      if (in_prefix(address, parse_constant(range.base), range.prefix)) return &range;
    }
    return nullptr;
  }
  for (const Range& range : kDeniedV6) {
    if (in_prefix(address, parse_constant(range.base), range.prefix)) return &range;
  }
  return nullptr;
}

/// What the address is called in a message. A literal is named (the job wrote it); for a
/// name, only the name: the address it resolved to is what the resolver answered, and a
/// result naming it would turn the results topic into a lookup service for internal DNS.
std::string subject(std::string_view host, const IpAddress& address) {
  const std::string text = address.to_string();
  const std::string normalized = normalize_host(host);
  if (normalized.empty() || normalized == text) return fmt::format("address {}", text);
  if (parse_ip_literal(normalized)) return fmt::format("address {} (written {})", text, host);
  return fmt::format("an address of {}", normalized);
}

bool valid_glob(std::string_view glob) {
  if (basics::starts_with(glob, "*.")) glob.remove_prefix(2);
  if (glob.empty() || glob.size() > 253) return false;
  std::size_t label = 0;
  for (const char c : glob) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!(basics::is_ascii_alnum(c) || c == '-' || c == '_')) return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

bool glob_matches(std::string_view glob, std::string_view host) {
  if (!basics::starts_with(glob, "*.")) return glob == host;
  const std::string_view suffix = glob.substr(1);  // ".corp.example"
  return host.size() > suffix.size() &&
         host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

const std::vector<std::string_view>& metadata_host_names() {
  static const std::vector<std::string_view> names = {
      "metadata",                  // GCP (short name), many images' /etc/hosts
      "metadata.google.internal",  // GCP
      "metadata.goog",             // GCP
      "instance-data",             // AWS
      "instance-data.ec2.internal",
      "metadata.tencentyun.com",  // Tencent Cloud
      "metadata.azure.internal",
  };
  return names;
}

tl::expected<NetworkPolicy, std::string> NetworkPolicy::parse(
    const std::vector<std::string>& allow) {
  NetworkPolicy policy;
  for (const std::string& raw : allow) {
    const std::string entry = basics::to_lower(basics::trim(raw));
    if (entry.empty()) return tl::make_unexpected(std::string("network_allow: an entry is empty"));
    const std::size_t slash = entry.find('/');
    const std::string address_text = entry.substr(0, slash);
    IpAddress base;
    base.v6 = address_text.find(':') != std::string::npos;
    if (inet_pton(base.v6 ? AF_INET6 : AF_INET, address_text.c_str(), base.bytes.data()) == 1) {
      const int bits = base.v6 ? 128 : 32;
      int prefix = bits;
      if (slash != std::string::npos) {
        const std::string length = entry.substr(slash + 1);
        if (length.empty() || length.size() > 3 ||
            !std::all_of(length.begin(), length.end(), basics::is_ascii_digit) ||
            std::stoi(length) > bits) {
          return tl::make_unexpected(
              fmt::format("network_allow: '{}' has no prefix length 0..{}", raw, bits));
        }
        prefix = std::stoi(length);
      }
      IpAddress masked = base;
      for (int bit = prefix; bit < bits; ++bit) masked.bytes[bit / 8] &= ~(0x80 >> (bit % 8));
      if (!(masked == base)) {
        return tl::make_unexpected(
            fmt::format("network_allow: '{}' has bits set after the prefix (did you mean {}/{}?)",
                        raw, masked.to_string(), prefix));
      }
      policy.cidrs_.push_back(Cidr{base, prefix});
    } else if (slash == std::string::npos && valid_glob(normalize_host(entry)) &&
               !parse_ip_literal(normalize_host(entry))) {
      // A numeric spelling (`127.1`) would never match a host name and reads like an
      // address it does not open: refused below, so the operator writes the address.
      policy.names_.push_back(normalize_host(entry));
    } else {
      return tl::make_unexpected(fmt::format(
          "network_allow: '{}' is neither a host name (`*.` allowed as the first label), nor an "
          "address or CIDR in canonical form (no port, no scheme)",
          raw));
    }
    policy.entries_.push_back(raw);
  }
  return policy;
}

bool NetworkPolicy::name_opened(const std::string& host, bool exact_only) const {
  return std::any_of(names_.begin(), names_.end(), [&](const std::string& glob) {
    return exact_only ? glob == host : glob_matches(glob, host);
  });
}

bool NetworkPolicy::cidr_opened(const IpAddress& address, bool exact_only) const {
  return std::any_of(cidrs_.begin(), cidrs_.end(), [&](const Cidr& cidr) {
    const int bits = cidr.base.v6 ? 128 : 32;
    if (exact_only && cidr.prefix != bits) return false;
    return in_prefix(address, cidr.base, cidr.prefix);
  });
}

std::optional<NetworkDenial> NetworkPolicy::check_host(std::string_view host) const {
  const std::string normalized = normalize_host(host);
  if (const auto literal = parse_ip_literal(normalized)) return check_address(host, *literal);
  const auto& names = metadata_host_names();
  if (std::find(names.begin(), names.end(), normalized) != names.end() &&
      !name_opened(normalized, true)) {
    return NetworkDenial{
        "metadata-name",
        fmt::format("host {} is a cloud metadata service name; only a network_allow entry "
                    "naming exactly '{}' opens it",
                    normalized, normalized)};
  }
  return std::nullopt;
}

std::optional<NetworkDenial> NetworkPolicy::check_address(std::string_view host,
                                                          const IpAddress& address) const {
  const std::string normalized = normalize_host(host);
  const bool by_name = !parse_ip_literal(normalized).has_value();
  const std::optional<IpAddress> embedded = address.embedded_ipv4();
  const IpAddress& effective = embedded ? *embedded : address;

  // Metadata first: only an entry naming the exact address opens it, never a glob or a
  // wider range (an operator opening 169.254.0.0/16 for a link-local git server must not
  // hand out the instance's credentials with it).
  if (is_metadata(address) || is_metadata(effective)) {
    const IpAddress& meta = is_metadata(address) ? address : effective;
    if (cidr_opened(meta, true)) return std::nullopt;
    const Range* range = denied_range(meta);
    return NetworkDenial{
        "metadata-address",
        fmt::format("{} is a cloud metadata address ({}); only a network_allow entry naming "
                    "exactly {}/{} opens it",
                    subject(host, address), range != nullptr ? range->what : "reserved",
                    meta.to_string(), meta.v6 ? 128 : 32)};
  }

  // An IPv4-mapped address is the IPv4 address itself (the kernel connects to it), and a
  // NAT64 one reaches it through the translator: only the embedded address is judged. The
  // other embedding forms are judged both ways.
  const bool translated = embedded && (in_prefix(address, parse_constant("::ffff:0:0"), 96) ||
                                       in_prefix(address, parse_constant("64:ff9b::"), 96));
  const Range* range = translated ? nullptr : denied_range(address);
  const Range* embedded_range = embedded ? denied_range(*embedded) : nullptr;
  if (range == nullptr && embedded_range == nullptr) return std::nullopt;
  if (by_name && name_opened(normalized, false)) return std::nullopt;
  if (cidr_opened(address, false) || (embedded && cidr_opened(*embedded, false))) {
    return std::nullopt;
  }
  // The embedded address says more than `::/8 reserved` about `::127.0.0.1`.
  if (embedded_range != nullptr) {
    return NetworkDenial{
        embedded_range->rule,
        fmt::format("{} embeds {}, which is {}; a network_allow entry opens it",
                    subject(host, address), embedded->to_string(), embedded_range->what)};
  }
  return NetworkDenial{range->rule, fmt::format("{} is {}; a network_allow entry opens it",
                                                subject(host, address), range->what)};
}

}  // namespace mgit::security
