#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <unordered_map>
#include <vector>

#include "mgit/security/network_policy.hpp"

namespace mgit::webhooks {

/// The proxies (an Ingress controller) whose `X-Forwarded-For` is believed.
class TrustedProxies {
 public:
  TrustedProxies() = default;
  /// CIDRs or single addresses; the error names the entry.
  static tl::expected<TrustedProxies, std::string> parse(const std::vector<std::string>& cidrs);
  [[nodiscard]] bool contains(const security::IpAddress& address) const;
  [[nodiscard]] bool empty() const { return cidrs_.empty(); }

 private:
  struct Cidr {
    security::IpAddress base;
    int prefix = 0;
  };
  std::vector<Cidr> cidrs_;
};

/// The address a request is accounted to: the peer, or, when the peer is a trusted proxy,
/// the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries left of
/// it are whatever the client wrote). A malformed entry stops the walk at the last trusted
/// hop, so forging the header never moves a client into another's bucket.
std::string client_address(std::string_view peer, std::string_view x_forwarded_for,
                           const TrustedProxies& proxies);

/// The bucket a client address (as `client_address` returns it) spends: an IPv4 address
/// itself, an IPv6 address its /64 (`2001:db8:1:2::/64`). One host usually holds a whole /64,
/// so counting each /128 apart would let it churn the table with fresh addresses and start
/// each with a full bucket.
std::string rate_limit_source(std::string_view client);

/// A token bucket per source address, at most `max_sources` of them: when the table is full
/// the source seen least recently is forgotten (it starts again with a full bucket, which
/// is the cheapest error). One thread only.
class SourceRateLimiter {
 public:
  SourceRateLimiter(double rate_per_second, double burst, std::size_t max_sources = 10000);
  /// Takes a token for `source`; false when its bucket is empty.
  bool allow(const std::string& source, std::chrono::steady_clock::time_point now);
  [[nodiscard]] std::size_t sources() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled;
    std::list<std::string>::iterator recency;
  };
  double rate_;
  double burst_;
  std::size_t max_sources_;
  std::list<std::string> recency_;  ///< most recent first
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace mgit::webhooks
