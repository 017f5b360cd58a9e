#pragma once

// Private to daemon_core: the webhook listener (docs/webhooks.md). Requests are read and
// judged on the listener's own thread; their jobs go to the WebhookRelay, and audit events
// are recorded, on the daemon's io_context.

#include <boost/asio/io_context.hpp>
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

}  // namespace mgit::daemon
