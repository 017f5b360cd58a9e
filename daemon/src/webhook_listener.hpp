#pragma once

// Private to daemon_core: the webhook listener (docs/webhooks.md). Requests are read and
// judged on the listener's own thread; their jobs go to the WebhookRelay, and audit events
// are recorded, on the daemon's io_context.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <tl/expected.hpp>

#include "mgit/audit/audit_log.hpp"
#include "mgit/daemon/config.hpp"
#include "mgit/daemon/http_server.hpp"
#include "mgit/observability/metrics.hpp"
#include "mgit/observability/tracing.hpp"
#include "webhook_relay.hpp"

namespace mgit::daemon {

struct WebhookListenerParts {
  boost::asio::io_context& io;  ///< the daemon's loop: relay and audit live there
  WebhookRelay& relay;
  audit::AuditLog& audit;
  observability::Metrics& metrics;
  observability::SpanSink& spans;
};

/// Starts the listener on `config.webhook_listen`; fails when the routes file or the trusted
/// proxies are unusable or the address cannot be bound. The parts must outlive the server.
tl::expected<std::unique_ptr<HttpServer>, std::string> start_webhook_listener(
    const Config& config, WebhookListenerParts parts);

/// How long a SIGTERM drain waits for webhook requests already handed over to be answered.
inline constexpr std::chrono::seconds kWebhookDrain{2};

/// The listener's drain, after `stop_accepting()`: waits on `io` (never blocking it, so the
/// relay keeps answering requests read on kept-alive connections meanwhile) until nothing
/// handed over is unanswered, then refuses later requests with 503 and, once what was handed
/// over by then is answered too (or at `deadline`), calls `done` on `io`.
void drain_webhook_listener(boost::asio::io_context& io, HttpServer& listener,
                            std::chrono::steady_clock::time_point deadline,
                            std::function<void()> done);

}  // namespace mgit::daemon
