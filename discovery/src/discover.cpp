#include "mgit/discovery/discover.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <iterator>
#include <thread>
#include <unordered_set>

#include "provider_support.hpp"
#include "rate_limit.hpp"
#include "url_parts.hpp"

namespace mgit::discovery {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class RealClock final : public Clock {
 public:
  [[nodiscard]] std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::now();
  }
  void sleep_for(milliseconds duration) override { std::this_thread::sleep_for(duration); }
};

/// A consecutive-limit bound per request: a server that keeps answering "limited, reset
/// already passed" must not hold the loop forever.
constexpr int kMaxRateLimitWaitsPerRequest = 10;

std::string host_of(std::string_view url) {
  const auto start = url.find("://");
  std::string_view rest = start == std::string_view::npos ? url : url.substr(start + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  return std::string(rest);
}

DiscoveryError status_error(const Provider& provider, const ApiRequest& request,
                            const ApiResponse& response) {
  const std::string host = host_of(request.url);
  const int status = response.status;
  if (status >= 300 && status < 400) {
    const auto location = response.header("location");
    return {DiscoveryErrorCode::kBadResponse,
            fmt::format("the {} API at {} answered {} redirecting to {}; redirects are not "
                        "followed (the token stays on the API's origin): give that API base "
                        "as --api-url if it is the right one",
                        provider.name(), host, status,
                        location ? origin_text(*location) : std::string("(no Location)"))};
  }
  if (status == 401 || status == 403) {
    return {DiscoveryErrorCode::kUnauthorized,
            fmt::format("the {} API at {} answered {}: the token was refused or lacks access "
                        "to the organisation",
                        provider.name(), host, status)};
  }
  if (status == 404) {
    return {DiscoveryErrorCode::kNotFound,
            fmt::format("the {} API at {} answered 404 Not Found for {}", provider.name(), host,
                        request.url)};
  }
  if (status >= 500) {
    return {DiscoveryErrorCode::kUnreachable,
            fmt::format("the {} API at {} kept answering {} (server error)", provider.name(), host,
                        status)};
  }
  return {DiscoveryErrorCode::kBadResponse,
          fmt::format("the {} API at {} answered {}, which its listing does not document",
                      provider.name(), host, status)};
}

class Loop {
 public:
  Loop(const Provider& provider, const DiscoverOptions& options, Transport& transport, Clock& clock)
      : provider_(provider), options_(options), transport_(transport), clock_(clock) {}

  tl::expected<Discovered, DiscoveryError> run() {
    std::deque<ApiRequest> queue;
    for (auto& request : provider_.first(options_.query)) queue.push_back(std::move(request));
    while (!queue.empty()) {
      if (result_.stats.requests >= options_.max_requests) {
        return tl::make_unexpected(DiscoveryError{
            DiscoveryErrorCode::kBadResponse,
            fmt::format("the {} API kept sending further pages after {} requests; stopped",
                        provider_.name(), result_.stats.requests)});
      }
      ApiRequest request = std::move(queue.front());
      queue.pop_front();
      // A next link back to a page already listed would loop until max_requests.
      if (!visited_.insert(request.url).second) {
        return tl::make_unexpected(DiscoveryError{
            DiscoveryErrorCode::kBadResponse,
            fmt::format("the {} API led back to a page it already listed ({}); stopped",
                        provider_.name(), origin_text(request.url))});
      }
      auto response = fetch(request);
      if (!response) return tl::make_unexpected(std::move(response.error()));
      auto page = provider_.parse(options_.query, request, *response);
      if (!page) return tl::make_unexpected(std::move(page.error()));
      ++result_.stats.pages;
      for (auto& repository : page->repositories) {
        // Offset paging repeats an entry when a repository is created or deleted meanwhile.
        if (!listed_.insert(repository.full_name).second) {
          ++result_.stats.duplicates;
          continue;
        }
        result_.repositories.push_back(std::move(repository));
      }
      if (result_.repositories.size() > options_.max_repositories) {
        return tl::make_unexpected(DiscoveryError{
            DiscoveryErrorCode::kBadResponse,
            fmt::format("the {} API listed more than {} repositories; stopped (raise "
                        "--max-repositories if the organisation is that large)",
                        provider_.name(), options_.max_repositories)});
      }
      // Depth first: a listing's next page before the listings it revealed, so pages of one
      // listing stay together in the output order.
      queue.insert(queue.begin(), std::make_move_iterator(page->more.begin()),
                   std::make_move_iterator(page->more.end()));
      if (page->next) queue.push_front(std::move(*page->next));
    }
    return std::move(result_);
  }

 private:
  /// Sends `request` until it gets a 2xx, waiting out rate limits and retrying 5xx.
  tl::expected<ApiResponse, DiscoveryError> fetch(const ApiRequest& request) {
    if (!same_origin(options_.query.api_base, request.url)) {
      // The providers check this too; the loop is the last line before the token leaves.
      return tl::make_unexpected(DiscoveryError{
          DiscoveryErrorCode::kBadResponse,
          fmt::format("the {} API pointed at {}, off the API's origin {}; not followed, the "
                      "token was not sent",
                      provider_.name(), origin_text(request.url),
                      origin_text(options_.query.api_base))});
    }
    ApiRequest sent = request;
    if (!options_.token.empty()) {
      sent.headers.push_back(provider_.authorization(options_.username, options_.token.reveal()));
    }
    int failures = 0;
    int limits = 0;
    while (true) {
      wait_until_allowed();
      auto response = transport_.get(sent);
      if (!response) {
        if (!response.error().transient || failures >= options_.max_retries) {
          return tl::make_unexpected(std::move(response.error().error));
        }
        backoff(++failures, response.error().error.message);
        continue;
      }
      ++result_.stats.requests;
      const auto now = clock_.now();
      if (const auto limit = rate_limit_wait(*response, now)) {
        if (++limits > kMaxRateLimitWaitsPerRequest) {
          return tl::make_unexpected(
              DiscoveryError{DiscoveryErrorCode::kRateLimited,
                             fmt::format("the {} API at {} is still rate limited after {} waits",
                                         provider_.name(), host_of(request.url), limits - 1)});
        }
        if (auto waited = wait_for_limit(*limit, request); !waited) {
          return tl::make_unexpected(std::move(waited.error()));
        }
        continue;
      }
      if (response->status >= 200 && response->status < 300) {
        note_remaining(*response, now);
        return std::move(*response);
      }
      if (response->status >= 500 && failures < options_.max_retries) {
        backoff(++failures, fmt::format("HTTP {}", response->status));
        continue;
      }
      return tl::make_unexpected(status_error(provider_, request, *response));
    }
  }

  tl::expected<void, DiscoveryError> wait_for_limit(const RateLimitWait& limit,
                                                    const ApiRequest& request) {
    const auto wait = std::chrono::ceil<seconds>(limit.wait);
    if (wait > options_.max_wait) {
      return tl::make_unexpected(DiscoveryError{
          DiscoveryErrorCode::kRateLimited,
          fmt::format("the {} API at {} is rate limited ({}) for another {}s, longer than "
                      "--max-wait {}s: raise --max-wait, try later, or use a token with a "
                      "higher limit",
                      provider_.name(), host_of(request.url), limit.reason, wait.count(),
                      options_.max_wait.count())});
    }
    tell(fmt::format("rate limited by the {} API at {} ({}): waiting {}s", provider_.name(),
                     host_of(request.url), limit.reason, wait.count()));
    ++result_.stats.waits;
    result_.stats.waited += wait;
    clock_.sleep_for(std::chrono::duration_cast<milliseconds>(wait));
    return {};
  }

  void backoff(int attempt, std::string_view why) {
    const auto delay = options_.backoff * (1 << std::min(attempt - 1, 10));
    tell(fmt::format("{}: retry {} of {} in {}ms", why, attempt, options_.max_retries,
                     delay.count()));
    ++result_.stats.retries;
    clock_.sleep_for(delay);
  }

  /// A 2xx that says the budget is spent: the next request would be refused, so wait for
  /// the reset first (when it is within --max-wait; otherwise let the next request tell).
  void note_remaining(const ApiResponse& response, std::chrono::system_clock::time_point now) {
    if (const auto reset = exhausted_until(response, now)) not_before_ = *reset;
  }

  void wait_until_allowed() {
    if (!not_before_) return;
    const auto wait = std::chrono::ceil<seconds>(*not_before_ - clock_.now());
    not_before_.reset();
    if (wait <= seconds(0) || wait > options_.max_wait) return;
    tell(fmt::format("the {} API's rate limit is used up: waiting {}s for its reset",
                     provider_.name(), wait.count()));
    ++result_.stats.waits;
    result_.stats.waited += wait;
    clock_.sleep_for(std::chrono::duration_cast<milliseconds>(wait));
  }

  void tell(const std::string& text) const {
    if (options_.notice) options_.notice(text);
  }

  const Provider& provider_;
  const DiscoverOptions& options_;
  Transport& transport_;
  Clock& clock_;
  Discovered result_;
  std::optional<std::chrono::system_clock::time_point> not_before_;
  std::unordered_set<std::string> visited_;  ///< request URLs sent
  std::unordered_set<std::string> listed_;   ///< full names listed
};

}  // namespace

Clock& system_clock() {
  static RealClock clock;
  return clock;
}

tl::expected<Discovered, DiscoveryError> discover(const Provider& provider,
                                                  const DiscoverOptions& options,
                                                  Transport& transport, Clock& clock) {
  return Loop(provider, options, transport, clock).run();
}

std::string_view to_string(DiscoveryErrorCode code) {
  switch (code) {
    case DiscoveryErrorCode::kUsage:
      return "usage";
    case DiscoveryErrorCode::kUnauthorized:
      return "unauthorized";
    case DiscoveryErrorCode::kNotFound:
      return "not-found";
    case DiscoveryErrorCode::kRateLimited:
      return "rate-limited";
    case DiscoveryErrorCode::kUnreachable:
      return "unreachable";
    case DiscoveryErrorCode::kBadResponse:
      return "bad-response";
  }
  return "unknown";
}

}  // namespace mgit::discovery
