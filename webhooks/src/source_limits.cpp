#include "mgit/webhooks/source_limits.hpp"

#include <algorithm>
#include <charconv>

#include "mgit/basics/ascii.hpp"

namespace mgit::webhooks {
namespace {

bool prefix_contains(const security::IpAddress& base, int prefix,
                     const security::IpAddress& address) {
  if (base.v6 != address.v6) return false;
  int left = prefix;
  for (std::size_t i = 0; left > 0; ++i, left -= 8) {
    const int bits = std::min(left, 8);
    const auto mask = static_cast<std::uint8_t>(0xffU << (8 - bits));
    if ((base.bytes[i] & mask) != (address.bytes[i] & mask)) return false;
  }
  return true;
}

/// A peer or header address: IPv6 brackets and an IPv4-mapped IPv6 form are undone, so
/// `::ffff:10.0.0.1` (how a dual-stack socket names an IPv4 peer) is 10.0.0.1.
std::optional<security::IpAddress> read_address(std::string_view text) {
  text = basics::trim(text);
  // Some proxies write `IPv4:port` or `[IPv6]:port`.
  if (!text.empty() && text.front() == '[') {
    if (const auto close = text.find(']'); close != std::string_view::npos) {
      text = text.substr(1, close - 1);
    }
  } else if (const auto colon = text.find(':');
             colon != std::string_view::npos &&
             text.find(':', colon + 1) == std::string_view::npos) {
    text = text.substr(0, colon);
  }
  auto address = security::parse_ip_literal(text);
  if (!address) return std::nullopt;
  if (address->v6) {
    const auto& b = address->bytes;
    const bool mapped = std::all_of(b.begin(), b.begin() + 10, [](auto x) { return x == 0; }) &&
                        b[10] == 0xff && b[11] == 0xff;
    if (mapped) return address->embedded_ipv4();
  }
  return address;
}

}  // namespace

tl::expected<TrustedProxies, std::string> TrustedProxies::parse(
    const std::vector<std::string>& cidrs) {
  TrustedProxies proxies;
  for (const auto& entry : cidrs) {
    const auto slash = entry.find('/');
    const auto address = read_address(std::string_view(entry).substr(0, slash));
    if (!address) {
      return tl::make_unexpected("webhook_trusted_proxies: '" + entry + "' is not a CIDR");
    }
    const int width = address->v6 ? 128 : 32;
    int prefix = width;
    if (slash != std::string::npos) {
      const auto digits = std::string_view(entry).substr(slash + 1);
      const auto [end, error] =
          std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (error != std::errc() || end != digits.data() + digits.size() || prefix < 0 ||
          prefix > width) {
        return tl::make_unexpected("webhook_trusted_proxies: '" + entry + "' has a bad prefix");
      }
    }
    proxies.cidrs_.push_back(Cidr{*address, prefix});
  }
  return proxies;
}

bool TrustedProxies::contains(const security::IpAddress& address) const {
  return std::any_of(cidrs_.begin(), cidrs_.end(), [&](const Cidr& cidr) {
    return prefix_contains(cidr.base, cidr.prefix, address);
  });
}

std::string client_address(std::string_view peer, std::string_view x_forwarded_for,
                           const TrustedProxies& proxies) {
  const auto peer_address = read_address(peer);
  if (!peer_address) return std::string(peer);
  auto client = *peer_address;
  if (!proxies.contains(client)) return client.to_string();
  // Right to left: each hop was appended by the proxy named just right of it.
  auto rest = x_forwarded_for;
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    const auto entry = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    const auto hop = read_address(entry);
    if (!hop) break;
    client = *hop;
    if (!proxies.contains(client)) break;
  }
  return client.to_string();
}

std::string rate_limit_source(std::string_view client) {
  auto address = security::parse_ip_literal(client);
  if (!address || !address->v6) return std::string(client);
  std::fill(address->bytes.begin() + 8, address->bytes.end(), std::uint8_t{0});
  return address->to_string() + "/64";
}

SourceRateLimiter::SourceRateLimiter(double rate_per_second, double burst, std::size_t max_sources)
    : rate_(rate_per_second),
      burst_(std::max(burst, 1.0)),
      max_sources_(std::max<std::size_t>(max_sources, 1)) {}

bool SourceRateLimiter::allow(const std::string& source,
                              std::chrono::steady_clock::time_point now) {
  auto found = buckets_.find(source);
  if (found == buckets_.end()) {
    if (buckets_.size() >= max_sources_) {
      buckets_.erase(recency_.back());
      recency_.pop_back();
    }
    recency_.push_front(source);
    found = buckets_.emplace(source, Bucket{burst_, now, recency_.begin()}).first;
  } else {
    recency_.splice(recency_.begin(), recency_, found->second.recency);
  }
  auto& bucket = found->second;
  const std::chrono::duration<double> elapsed = now - bucket.refilled;
  bucket.tokens = std::min(burst_, bucket.tokens + elapsed.count() * rate_);
  bucket.refilled = now;
  if (bucket.tokens < 1.0) return false;
  bucket.tokens -= 1.0;
  return true;
}

}  // namespace mgit::webhooks
