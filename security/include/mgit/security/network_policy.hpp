#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

namespace mgit::security {

/// An IPv4 or IPv6 address in network byte order (IPv4 in the first four bytes).
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};

  /// Dotted quad, or IPv6 as inet_ntop writes it.
  [[nodiscard]] std::string to_string() const;
  /// The IPv4 address an IPv6 address carries (mapped `::ffff:a.b.c.d`, compatible
  /// `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`); nullopt otherwise.
  [[nodiscard]] std::optional<IpAddress> embedded_ipv4() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

/// Every spelling of an IPv4 address inet_aton(3) accepts, which is what the resolver
/// connects to: one to four parts, each decimal, `0x` hexadecimal or `0` octal, the last part
/// filling the remaining bytes (`0`, `2130706433`, `0x7f.1`, `0177.1`, `127.1`). nullopt for
/// anything else.
std::optional<IpAddress> parse_ipv4_any_spelling(std::string_view text);

/// The address a URL host names when it is a literal: any IPv4 spelling, or IPv6 with or
/// without brackets (a `%zone` is ignored). nullopt for a host name.
std::optional<IpAddress> parse_ip_literal(std::string_view host);

/// How hosts are compared: lower-case, without IPv6 brackets and without one trailing dot.
std::string normalize_host(std::string_view host);

/// Why a connection is refused. `message` is published in the job's result: it names the
/// host, the address and the rule, and never how the address would have answered.
struct NetworkDenial {
  std::string rule;  ///< short name: "loopback", "private", "metadata-address", …
  std::string message;
};

/// Which addresses a job may reach (docs/git-executor.md, "Network policy"). Public
/// addresses are open; loopback, unspecified, private, CGNAT, link-local, unique-local,
/// multicast, reserved ranges, IPv6 forms embedding such an IPv4 address and cloud metadata
/// names and addresses are denied unless a `network_allow` entry opens them:
/// - a host glob (`git.internal.example`, `*.corp.example`: `*` stands for one or more
///   leading labels) opens every address the names it matches resolve to;
/// - a CIDR (`10.20.0.0/16`, `fd12::/48`, or a single address) opens the addresses in it
///   (an IPv4 CIDR also covers IPv6 forms embedding those addresses).
/// Metadata is opened only by naming it exactly: a metadata address by a CIDR that is that
/// one address (`169.254.169.254/32`), a metadata name by an entry that is that name without
/// a wildcard. Immutable after `parse`; safe to share between threads.
class NetworkPolicy {
 public:
  /// The default policy: nothing opened.
  NetworkPolicy() = default;

  /// Parses `network_allow` entries; the error names the entry and what is wrong with it.
  static tl::expected<NetworkPolicy, std::string> parse(const std::vector<std::string>& allow);

  /// The host alone, before it is resolved: a metadata name, or a literal address that is
  /// denied. nullopt when the host may be resolved (its addresses are checked then).
  [[nodiscard]] std::optional<NetworkDenial> check_host(std::string_view host) const;

  /// One address `host` resolved to (or the literal it is).
  [[nodiscard]] std::optional<NetworkDenial> check_address(std::string_view host,
                                                           const IpAddress& address) const;

  [[nodiscard]] const std::vector<std::string>& entries() const { return entries_; }

 private:
  struct Cidr {
    IpAddress base;
    int prefix = 0;
  };
  [[nodiscard]] bool name_opened(const std::string& host, bool exact_only) const;
  [[nodiscard]] bool cidr_opened(const IpAddress& address, bool exact_only) const;

  std::vector<std::string> entries_;  ///< as given, for logs
  std::vector<std::string> names_;    ///< lower-case, `*.` prefix kept
  std::vector<Cidr> cidrs_;
};

/// The cloud metadata host names denied by default (lower-case).
const std::vector<std::string_view>& metadata_host_names();

}  // namespace mgit::security
