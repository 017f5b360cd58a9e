#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "mgit/discovery/provider.hpp"

namespace mgit::discovery {

// How the providers say "slow down", read from a response (untrusted: a malformed header is
// treated as absent).

struct RateLimitWait {
  std::chrono::milliseconds wait{0};
  std::string reason;  ///< which header or status said so, for the notice
};

/// Whether `response` is a rate-limit refusal and how long to wait before retrying it:
/// - 429, or 403 with `X-RateLimit-Remaining: 0` / `RateLimit-Remaining: 0` / `Retry-After`
///   / GitHub's secondary-limit message;
/// - the wait from `Retry-After` (seconds or an HTTP date), else `X-RateLimit-Reset` /
///   `RateLimit-Reset` (epoch seconds; a value below 10^9 is a delta in seconds, as the IETF
///   RateLimit header draft has it), else 60 s (GitHub's advice for a secondary limit
///   without headers); one second of slack after a reset time.
std::optional<RateLimitWait> rate_limit_wait(const ApiResponse& response,
                                             std::chrono::system_clock::time_point now);

/// A successful response whose remaining budget is 0: when the budget resets.
std::optional<std::chrono::system_clock::time_point> exhausted_until(
    const ApiResponse& response, std::chrono::system_clock::time_point now);

/// An IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT"), as Retry-After carries it.
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text);

}  // namespace mgit::discovery
