#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "mgit/discovery/provider.hpp"
#include "mgit/security/credentials.hpp"

namespace mgit::discovery {

/// Why a request got no response. `transient` failures (refused or reset connection,
/// timeout) are retried by the loop; the others (certificate verification, a refused
/// scheme, an oversized body) are not, since trying again gives the same answer.
struct TransportFailure {
  DiscoveryError error;
  bool transient = false;
};

/// Sends one GET. `request.headers` already holds the authorization header when there is
/// one. Any status is a response; only I/O failures (connect, TLS, timeout, size cap) are
/// failures. Called from the discovery loop's thread only.
class Transport {
 public:
  virtual ~Transport() = default;
  [[nodiscard]] virtual tl::expected<ApiResponse, TransportFailure> get(
      const ApiRequest& request) = 0;
};

struct HttpsOptions {
  /// PEM file of extra CAs to trust (a self-hosted API's CA), besides the system's.
  std::string ca_file;
  /// Plain http:// is refused unless set (a self-hosted API on a trusted network, tests).
  bool allow_http = false;
  std::chrono::milliseconds connect_timeout{10'000};
  /// For the whole request: resolve, connect, handshake, send, receive.
  std::chrono::milliseconds request_timeout{60'000};
  /// A larger body is an error (kBadResponse), not a memory exhaustion.
  std::size_t max_body_bytes = std::size_t{8} << 20U;  ///< a 100-repository page is ~0.6 MiB
};

/// An HTTPS client (Boost.Beast over OpenSSL): peer and host-name verification against the
/// system CAs plus `ca_file`, SNI, one connection per request, no redirect following.
std::unique_ptr<Transport> make_https_transport(const HttpsOptions& options);

/// Time as the loop sees it; tests inject a fake so a rate-limit wait takes no real time.
class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual std::chrono::system_clock::time_point now() const = 0;
  virtual void sleep_for(std::chrono::milliseconds duration) = 0;
};

/// The real clock: system_clock and std::this_thread::sleep_for.
Clock& system_clock();

struct DiscoverOptions {
  Query query;
  /// The API token (a credential's password) and the credential's user name; no token: the
  /// requests go unauthenticated (public repositories only).
  security::Secret token;
  std::string username;
  /// The longest the loop waits for one rate limit to reset; a longer wait is kRateLimited.
  std::chrono::seconds max_wait{300};
  /// How often one request is retried after a 5xx or a transport failure (exponential
  /// backoff from `backoff`).
  int max_retries = 3;
  std::chrono::milliseconds backoff{1000};
  /// A bound on the requests of one listing (a provider answering with endless next pages).
  int max_requests = 10'000;
  /// A bound on the repositories listed (memory: a hostile API packing huge pages).
  std::size_t max_repositories = 100'000;
  /// Told why the loop pauses ("rate limited by …: waiting 42s"); never holds a secret.
  std::function<void(std::string_view)> notice;
};

struct DiscoverStats {
  int requests = 0;    ///< responses received, retries included
  int duplicates = 0;  ///< repositories listed again on a later page (offset paging), dropped
  int pages = 0;       ///< pages parsed
  int waits = 0;       ///< rate-limit waits
  std::chrono::seconds waited{0};
  int retries = 0;  ///< 5xx and transport-failure retries
};

struct Discovered {
  std::vector<Repository> repositories;
  DiscoverStats stats;
};

/// Lists every repository `provider` reports for `options.query`: sends the first requests,
/// follows each page's `next` and `more`, waits out rate limits (X-RateLimit-Remaining: 0
/// with X-RateLimit-Reset or RateLimit-Reset, Retry-After, 429, GitHub's secondary-limit 403)
/// up to `max_wait` each, retries 5xx. Stops at the first error. A request whose URL leaves
/// the origin of `query.api_base` is never sent.
tl::expected<Discovered, DiscoveryError> discover(const Provider& provider,
                                                  const DiscoverOptions& options,
                                                  Transport& transport, Clock& clock);

/// "unauthorized", "not-found", … for summaries and tests.
std::string_view to_string(DiscoveryErrorCode code);

}  // namespace mgit::discovery
