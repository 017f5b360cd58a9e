#include "webhook_listener.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>

#include "mgit/basics/json_escape.hpp"
#include "mgit/observability/job_context.hpp"
#include "mgit/observability/log.hpp"
#include "mgit/webhooks/source_limits.hpp"

namespace mgit::daemon {
namespace {

namespace asio = boost::asio;
using observability::LogLevel;
using webhooks::Outcome;
using webhooks::Provider;

constexpr std::string_view kPathPrefix = "/webhooks/";
constexpr double kAuditEventsPerSecond = 20;

HttpResponse json_answer(unsigned status, Outcome outcome, const std::string& job_id,
                         std::string_view message) {
  std::string body = R"({"status":")";
  body += webhooks::to_string(outcome);
  body += '"';
  if (!job_id.empty()) {
    body += R"(,"job_id":")";
    basics::append_json_escaped(body, job_id);
    body += '"';
  }
  if (!message.empty()) {
    body += R"(,"message":")";
    basics::append_json_escaped(body, message);
    body += '"';
  }
  body += "}\n";
  HttpResponse response{status, "application/json", std::move(body), {}};
  if (status == 429) response.headers.emplace_back("Retry-After", "1");
  return response;
}

unsigned status_of(Outcome outcome) {
  switch (outcome) {
    case Outcome::kEnqueued:
    case Outcome::kSpooled:
    case Outcome::kDuplicate:
    case Outcome::kIgnored:
    case Outcome::kUnrouted:
      return 202;
    case Outcome::kUnauthorized:
      return 401;
    case Outcome::kBadRequest:
      return 400;
    case Outcome::kUnsupportedMediaType:
      return 415;
    case Outcome::kTooLarge:
      return 413;
    case Outcome::kRateLimited:
      return 429;
    case Outcome::kInvalidJob:
      return 422;
    case Outcome::kUnavailable:
      return 503;
  }
  return 500;
}

std::optional<Provider> provider_of(std::string_view target) {
  const auto path = target.substr(0, target.find('?'));
  if (path.substr(0, kPathPrefix.size()) != kPathPrefix) return std::nullopt;
  return webhooks::parse_provider(path.substr(kPathPrefix.size()));
}

/// Everything the handler touches on the listener's thread, and what it posts to the loop.
class WebhookHandler : public std::enable_shared_from_this<WebhookHandler> {
 public:
  WebhookHandler(std::unique_ptr<webhooks::WebhookIntake> intake, webhooks::TrustedProxies proxies,
                 const Config& config, WebhookListenerParts parts)
      : intake_(std::move(intake)),
        proxies_(std::move(proxies)),
        limiter_(config.webhook_rate_per_second, config.webhook_rate_burst),
        parts_(parts) {}

  void handle(const HttpRequestView& request, const HttpResponder& respond) {
    const auto received = std::chrono::steady_clock::now();
    const auto provider = provider_of(request.target);
    if (!provider) {
      respond(HttpResponse{404, "text/plain; charset=utf-8", "not found\n", {}});
      return;
    }
    const auto provider_name = std::string(webhooks::to_string(*provider));
    if (request.method != "POST") {
      respond(HttpResponse{
          405, "text/plain; charset=utf-8", "method not allowed\n", {{"Allow", "POST"}}});
      return;
    }
    const auto source = webhooks::client_address(request.remote_address,
                                                 request.header("x-forwarded-for"), proxies_);
    auto verdict = intake_->judge(webhooks::WebhookCall{*provider, request.header, request.body});
    // The per-source budget is spent by refused requests only: a push the provider signed is
    // never answered 429 (GitHub would not redeliver it), however many forged requests share
    // its source (an Ingress without webhook_trusted_proxies, a NAT).
    const bool refused = verdict.outcome == Outcome::kUnauthorized ||
                         verdict.outcome == Outcome::kBadRequest ||
                         verdict.outcome == Outcome::kUnsupportedMediaType;
    if (refused && !limiter_.allow(webhooks::rate_limit_source(source), received)) {
      finish(provider_name, Outcome::kRateLimited, respond, {},
             "too many refused requests from this source");
      return;
    }
    if (verdict.outcome == Outcome::kUnauthorized) {
      audit(received, audit::kWebhookAuthFailed, "denied", {},
            {{"provider", provider_name}, {"source", source}});
    }
    if (verdict.outcome == Outcome::kUnrouted) {
      audit(received, audit::kWebhookUnrouted, "ignored", verdict.delivery_id,
            {{"provider", provider_name},
             {"repository", verdict.repository},
             {"delivery_id", verdict.delivery_id}});
    }
    if (!verdict.job) {
      finish(provider_name, verdict.outcome, respond, {}, verdict.message, verdict.status);
      return;
    }
    enqueue(provider_name, std::move(verdict), received, respond);
  }

  /// For requests the server refused itself (oversize bodies): counted like the others.
  void refused(unsigned status, std::string_view target) {
    const auto provider = provider_of(target);
    if (!provider) return;
    parts_.metrics.webhook_received(
        webhooks::to_string(*provider),
        webhooks::to_string(status == 413 ? Outcome::kTooLarge : Outcome::kBadRequest));
  }

 private:
  /// Records an audit event on the daemon's loop. A flood of bad requests from many sources
  /// must not fill the audit buffer (which would stop job intake, failing closed): beyond
  /// kAuditEventsPerSecond the events are counted, and the next one recorded says how many
  /// were left out (`suppressed`).
  /// While the audit sink is failing, the buffer's room is kept for jobs' events (which must
  /// not be dropped): webhook events are counted as suppressed instead.
  void audit(std::chrono::steady_clock::time_point now, std::string_view event, std::string outcome,
             std::string correlation_id, std::vector<audit::Field> fields) {
    if (!audit_budget_.allow("audit", now)) {
      ++audit_suppressed_;
      return;
    }
    asio::post(parts_.io, [self = shared_from_this(),
                           record = audit::AuditEvent{event,
                                                      std::move(outcome),
                                                      std::move(correlation_id),
                                                      {},
                                                      {},
                                                      std::move(fields)}]() mutable {
      if (!self->parts_.audit.accepting()) {
        ++self->audit_suppressed_;
        return;
      }
      if (const auto left_out = self->audit_suppressed_.exchange(0); left_out > 0) {
        record.fields.push_back({"suppressed", static_cast<std::int64_t>(left_out)});
      }
      self->parts_.audit.record(record);
    });
  }

  void finish(const std::string& provider, Outcome outcome, const HttpResponder& respond,
              const std::string& job_id, std::string_view message, unsigned status = 0) {
    parts_.metrics.webhook_received(provider, webhooks::to_string(outcome));
    respond(json_answer(status != 0 ? status : status_of(outcome), outcome, job_id, message));
  }

  void enqueue(const std::string& provider, webhooks::Verdict verdict,
               std::chrono::steady_clock::time_point received, const HttpResponder& respond) {
    // webhook.receive is the root of the job's trace: the job's span is its child.
    observability::JobContext context{verdict.job->job_id,
                                      verdict.job->correlation_id,
                                      observability::new_trace_id(),
                                      observability::new_span_id(),
                                      "",
                                      "",
                                      true};
    const auto started = std::chrono::system_clock::now();
    asio::post(parts_.io, [this, self = shared_from_this(), provider, verdict = std::move(verdict),
                           context, received, started, respond] {
      parts_.relay.submit(
          *verdict.job, context.traceparent(),
          [this, self, provider, verdict, context, received, started, respond](Outcome outcome) {
            const std::chrono::duration<double> waited =
                std::chrono::steady_clock::now() - received;
            if (outcome == Outcome::kEnqueued || outcome == Outcome::kSpooled) {
              parts_.metrics.webhook_durable(waited.count());
            }
            observability::Span span;
            span.trace_id = context.trace_id;
            span.span_id = context.span_id;
            span.name = "webhook.receive";
            span.kind = observability::SpanKind::kServer;
            span.start = started;
            span.end = std::chrono::system_clock::now();
            span.attributes = {{"webhook.provider", provider},
                               {"webhook.delivery_id", verdict.delivery_id},
                               {"webhook.route", verdict.route},
                               {"webhook.outcome", std::string(webhooks::to_string(outcome))},
                               {"mgit.job_id", context.job_id}};
            span.status = outcome == Outcome::kUnavailable ? observability::SpanStatus::kError
                                                           : observability::SpanStatus::kOk;
            parts_.spans.submit(std::move(span));
            observability::log(
                outcome == Outcome::kUnavailable ? LogLevel::kError : LogLevel::kInfo, context,
                "webhook answered",
                {{"provider", provider},
                 {"route", verdict.route},
                 {"repository", verdict.repository},
                 {"outcome", webhooks::to_string(outcome)}});
            finish(
                provider, outcome, respond, context.job_id,
                outcome == Outcome::kUnavailable ? "the job could not be made durable; retry" : "");
          });
    });
  }

  std::unique_ptr<webhooks::WebhookIntake> intake_;  ///< listener thread only
  webhooks::TrustedProxies proxies_;
  webhooks::SourceRateLimiter limiter_;  ///< listener thread only
  webhooks::SourceRateLimiter audit_budget_{kAuditEventsPerSecond, kAuditEventsPerSecond * 2, 1};
  std::atomic<std::uint64_t> audit_suppressed_{0};  ///< listener thread and the loop
  WebhookListenerParts parts_;
};

}  // namespace

tl::expected<std::unique_ptr<HttpServer>, std::string> start_webhook_listener(
    const Config& config, WebhookListenerParts parts) {
  if (config.webhook_routes_file.empty()) {
    return tl::make_unexpected("webhook_listen is set but webhook_routes_file is not");
  }
  auto proxies = webhooks::TrustedProxies::parse(config.webhook_trusted_proxies);
  if (!proxies) return tl::make_unexpected(proxies.error());
  webhooks::WebhookIntake::Settings intake_settings;
  intake_settings.routes_file = config.webhook_routes_file;
  intake_settings.on_problem = [](const std::string& message) {
    if (message.empty()) {
      observability::log(LogLevel::kInfo, "webhook routes reloaded");
    } else {
      observability::log(LogLevel::kError, "webhook configuration problem", {{"problem", message}});
    }
  };
  auto intake = webhooks::WebhookIntake::create(std::move(intake_settings));
  if (!intake) return tl::make_unexpected(intake.error());
  for (const auto& route : (*intake)->routes().routes()) {
    observability::log(LogLevel::kInfo, "webhook route",
                       {{"route", route.name},
                        {"provider", webhooks::to_string(route.provider)},
                        {"repositories", route.repositories.size()}});
  }
  std::vector<std::string_view> outcomes;
  for (int outcome = 0; outcome <= static_cast<int>(Outcome::kUnavailable); ++outcome) {
    outcomes.push_back(webhooks::to_string(static_cast<Outcome>(outcome)));
  }
  parts.metrics.prepare_webhook_series(
      {webhooks::to_string(Provider::kGitHub), webhooks::to_string(Provider::kGitLab),
       webhooks::to_string(Provider::kGitea)},
      outcomes);
  auto handler =
      std::make_shared<WebhookHandler>(std::move(*intake), std::move(*proxies), config, parts);
  HttpServerSettings settings;
  settings.listen = config.webhook_listen;
  settings.max_connections = static_cast<std::size_t>(config.webhook_max_connections);
  settings.max_body_bytes = static_cast<std::size_t>(config.webhook_max_body_bytes);
  settings.header_timeout = std::chrono::seconds(config.webhook_header_timeout_seconds);
  settings.read_timeout = std::chrono::seconds(config.webhook_read_timeout_seconds);
  settings.idle_timeout = std::chrono::seconds(config.webhook_read_timeout_seconds);
  settings.on_refused = [handler](unsigned status, std::string_view target) {
    handler->refused(status, target);
  };
  return HttpServer::start(std::move(settings),
                           [handler](const HttpRequestView& request, const HttpResponder& respond) {
                             handler->handle(request, respond);
                           });
}

namespace {

/// One drain's polling on the daemon's loop; kept alive by its pending timer wait.
class WebhookDrain : public std::enable_shared_from_this<WebhookDrain> {
 public:
  WebhookDrain(boost::asio::io_context& io, HttpServer& listener,
               std::chrono::steady_clock::time_point deadline, std::function<void()> done)
      : listener_(listener), timer_(io), deadline_(deadline), done_(std::move(done)) {}

  void poll() {
    const bool late = std::chrono::steady_clock::now() >= deadline_;
    if (listener_.unanswered() == 0 || late) {
      // Refused first, then counted: a request handed over before the refusal is in the
      // count, so it is waited for too.
      listener_.refuse_requests();
      if (listener_.unanswered() == 0 || late) {
        if (listener_.unanswered() > 0) {
          observability::log(observability::LogLevel::kWarn,
                             "webhook requests left unanswered at the drain deadline",
                             {{"unanswered", listener_.unanswered()}});
        }
        auto done = std::move(done_);
        done();
        return;
      }
    }
    timer_.expires_after(std::chrono::milliseconds(10));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->poll();
    });
  }

 private:
  HttpServer& listener_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_;
  std::function<void()> done_;
};

}  // namespace

void drain_webhook_listener(boost::asio::io_context& io, HttpServer& listener,
                            std::chrono::steady_clock::time_point deadline,
                            std::function<void()> done) {
  auto drain = std::make_shared<WebhookDrain>(io, listener, deadline, std::move(done));
  boost::asio::post(io, [drain] { drain->poll(); });
}

}  // namespace mgit::daemon
