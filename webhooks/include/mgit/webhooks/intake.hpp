#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/webhooks/provider.hpp"
#include "mgit/webhooks/routes.hpp"
#include "mgit/webhooks/secret_files.hpp"
#include "mgit/webhooks/webhook_job.hpp"

namespace mgit::webhooks {

/// One webhook request as the listener read it.
struct WebhookCall {
  Provider provider = Provider::kGitHub;
  /// A request header by lower-case name; empty when absent.
  std::function<std::string_view(std::string_view name)> header;
  std::string_view body;
};

/// What became of a request: the `outcome` label of `mgitd_webhooks_received_total`.
enum class Outcome {
  kEnqueued,              ///< 202: the broker acknowledged the job
  kSpooled,               ///< 202: the job is in the fsync'd spool, the broker will get it later
  kDuplicate,             ///< 202: this replica already delivered this delivery's job
  kIgnored,               ///< 202: an event that makes no job (not a push), or GitHub's ping (200)
  kUnrouted,              ///< 202: no route names the repository; nothing enqueued, audited
  kUnauthorized,          ///< 401: signature or token missing or wrong; audited
  kBadRequest,            ///< 400: headers missing, body not a push payload
  kUnsupportedMediaType,  ///< 415
  kTooLarge,              ///< 413
  kRateLimited,           ///< 429
  kInvalidJob,            ///< 422: the matched route makes a job that fails validation
  kUnavailable,           ///< 503: neither the broker nor the spool took the job (last)
};
std::string_view to_string(Outcome outcome);

/// The listener's answer before anything is enqueued. `job` is set only for `kEnqueued`
/// (to be made durable: the outcome then becomes enqueued, spooled, duplicate or
/// unavailable).
struct Verdict {
  Outcome outcome = Outcome::kBadRequest;
  unsigned status = 400;
  std::string message;  ///< for the response body: says what is wrong, never why a proof failed
  std::string delivery_id;
  std::string event;       ///< the provider's event name, as sent (bounded)
  std::string repository;  ///< full name, when one was read
  std::string route;       ///< the matched route's name
  std::optional<WebhookJob> job;
};

/// The routes file, read again when it changes (checked at most once a second); a file that
/// no longer parses keeps the last good table and is reported through `on_problem`.
/// Decides every request; one thread only (the webhook listener's).
class WebhookIntake {
 public:
  struct Settings {
    std::string routes_file;
    std::chrono::milliseconds reload_check{1000};
    /// Called with a message for the log (a reload that failed, a secret file unreadable).
    std::function<void(const std::string& message)> on_problem;
    std::function<std::chrono::steady_clock::time_point()> clock = std::chrono::steady_clock::now;
  };

  /// Fails when the routes file cannot be read or parsed: startup refuses a bad file.
  static tl::expected<std::unique_ptr<WebhookIntake>, std::string> create(Settings settings);

  Verdict judge(const WebhookCall& call);

  [[nodiscard]] const RouteTable& routes() const { return routes_; }

 private:
  WebhookIntake(Settings settings, RouteTable routes, std::string stamp)
      : settings_(std::move(settings)), routes_(std::move(routes)), stamp_(std::move(stamp)) {}
  void reload_if_changed();
  /// The secret files of `provider`'s routes that the request's proof matches.
  std::vector<std::string> proven_secret_files(const WebhookCall& call, std::string_view proof);

  Settings settings_;
  RouteTable routes_;
  std::string stamp_;  ///< identity of the routes file last read (inode, size, mtime)
  std::chrono::steady_clock::time_point last_check_{};
  SecretFiles secrets_;
  std::map<std::string, std::string> reported_problems_;  ///< secret file -> problem logged
};

}  // namespace mgit::webhooks
