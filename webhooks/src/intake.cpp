#include "mgit/webhooks/intake.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "mgit/basics/ascii.hpp"
#include "mgit/webhooks/push_event.hpp"
#include "mgit/webhooks/signature.hpp"

namespace mgit::webhooks {
namespace {

// The job's correlation id is the delivery id: at most 128 characters, as job validation says.
constexpr std::size_t kMaxDeliveryId = 128;
constexpr std::size_t kMaxEventName = 64;

struct ProviderHeaders {
  std::string_view proof;
  std::string_view event;
  std::string_view delivery;
  std::string_view fallback_delivery;  ///< read when `delivery` is absent
};

ProviderHeaders headers_of(Provider provider) {
  switch (provider) {
    case Provider::kGitHub:
      return {"x-hub-signature-256", "x-github-event", "x-github-delivery", ""};
    case Provider::kGitLab:
      // Idempotency-Key stays the same across GitLab's own retries of one event.
      return {"x-gitlab-token", "x-gitlab-event", "idempotency-key", "x-gitlab-event-uuid"};
    case Provider::kGitea:
      return {"x-gitea-signature", "x-gitea-event", "x-gitea-delivery", ""};
  }
  return {};
}

bool is_push(Provider provider, std::string_view event) {
  switch (provider) {
    case Provider::kGitHub:
      return event == "push";
    case Provider::kGitea:
      // Gitea announces a deleted branch only as a `delete` event (a deleted tag also comes
      // as a push with a zero `after`): both make the same prune fetch.
      return event == "push" || event == "delete";
    case Provider::kGitLab:
      return event == "Push Hook" || event == "Tag Push Hook";
  }
  return false;
}

/// For logs and the response: printable ASCII only, bounded.
std::string printable(std::string_view text, std::size_t limit) {
  std::string out;
  for (const char c : text.substr(0, limit)) {
    out.push_back(basics::is_ascii_control(c) || static_cast<unsigned char>(c) > 0x7e ? '?' : c);
  }
  return out;
}

Verdict answer(Outcome outcome, unsigned status, std::string message) {
  Verdict verdict;
  verdict.outcome = outcome;
  verdict.status = status;
  verdict.message = std::move(message);
  return verdict;
}

std::string file_stamp(const std::string& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) return "missing";
  return std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino) + ":" +
         std::to_string(status.st_size) + ":" + std::to_string(status.st_mtim.tv_sec) + "." +
         std::to_string(status.st_mtim.tv_nsec);
}

}  // namespace

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::kEnqueued:
      return "enqueued";
    case Outcome::kSpooled:
      return "spooled";
    case Outcome::kDuplicate:
      return "duplicate";
    case Outcome::kIgnored:
      return "ignored";
    case Outcome::kUnrouted:
      return "unrouted";
    case Outcome::kUnauthorized:
      return "unauthorized";
    case Outcome::kBadRequest:
      return "bad_request";
    case Outcome::kUnsupportedMediaType:
      return "unsupported_media_type";
    case Outcome::kTooLarge:
      return "too_large";
    case Outcome::kRateLimited:
      return "rate_limited";
    case Outcome::kInvalidJob:
      return "invalid_job";
    case Outcome::kUnavailable:
      return "unavailable";
  }
  return "unknown";
}

tl::expected<std::unique_ptr<WebhookIntake>, std::string> WebhookIntake::create(Settings settings) {
  auto stamp = file_stamp(settings.routes_file);
  auto routes = RouteTable::load(settings.routes_file);
  if (!routes) return tl::make_unexpected(routes.error());
  return std::unique_ptr<WebhookIntake>(
      new WebhookIntake(std::move(settings), std::move(*routes), std::move(stamp)));
}

void WebhookIntake::reload_if_changed() {
  const auto now = settings_.clock();
  if (now - last_check_ < settings_.reload_check) return;
  last_check_ = now;
  auto stamp = file_stamp(settings_.routes_file);
  if (stamp == stamp_) return;
  stamp_ = stamp;  // a bad file is reported once, not on every request
  auto routes = RouteTable::load(settings_.routes_file);
  if (!routes) {
    if (settings_.on_problem) {
      settings_.on_problem("webhook routes not reloaded, the last good ones stay: " +
                           routes.error());
    }
    return;
  }
  routes_ = std::move(*routes);
  if (settings_.on_problem) settings_.on_problem("");  // "" = reloaded, for the log
}

std::vector<std::string> WebhookIntake::proven_secret_files(const WebhookCall& call,
                                                            std::string_view proof) {
  std::vector<std::string> checked;
  std::vector<std::string> proven;
  for (const auto& route : routes_.routes()) {
    if (route.provider != call.provider) continue;
    if (std::find(checked.begin(), checked.end(), route.secret_file) != checked.end()) continue;
    checked.push_back(route.secret_file);
    auto secrets = secrets_.secrets(route.secret_file);
    if (!secrets) {
      // Said once per problem, not on every request (forged ones included) until it is fixed.
      auto& reported = reported_problems_[route.secret_file];
      if (reported != secrets.error() && settings_.on_problem)
        settings_.on_problem(secrets.error());
      reported = secrets.error();
      continue;
    }
    reported_problems_.erase(route.secret_file);
    // Every secret is tried, so the time taken does not say which one matched.
    bool matched = false;
    for (const auto& secret : *secrets) {
      matched = proves_secret(call.provider, proof, call.body, secret) || matched;
    }
    if (matched) proven.push_back(route.secret_file);
  }
  return proven;
}

Verdict WebhookIntake::judge(const WebhookCall& call) {
  reload_if_changed();
  const auto names = headers_of(call.provider);
  // GitHub can also send form-encoded payloads; only JSON is read (docs/webhooks.md).
  const auto content_type = basics::to_lower(call.header("content-type"));
  if (basics::trim(std::string_view(content_type).substr(0, content_type.find(';'))) !=
      "application/json") {
    return answer(Outcome::kUnsupportedMediaType, 415,
                  "the webhook's content type must be application/json");
  }
  const auto proof = call.header(names.proof);
  // One answer for a missing and a wrong proof, and no hint of which route was tried.
  // A proof of the wrong shape is refused before any HMAC over the body is computed.
  const auto proven = well_formed_proof(call.provider, proof) ? proven_secret_files(call, proof)
                                                              : std::vector<std::string>();
  if (proven.empty()) return answer(Outcome::kUnauthorized, 401, "unauthorized");
  const auto event = call.header(names.event);
  if (event.empty()) {
    return answer(Outcome::kBadRequest, 400, "missing header " + std::string(names.event));
  }
  if (call.provider == Provider::kGitHub && event == "ping") {
    auto verdict = answer(Outcome::kIgnored, 200, "pong");
    verdict.event = "ping";
    return verdict;
  }
  if (!is_push(call.provider, event)) {
    auto verdict = answer(Outcome::kIgnored, 202, "event ignored: only pushes make jobs");
    verdict.event = printable(event, kMaxEventName);
    return verdict;
  }
  auto delivery = call.header(names.delivery);
  if (delivery.empty() && !names.fallback_delivery.empty()) {
    delivery = call.header(names.fallback_delivery);
  }
  if (delivery.empty() || delivery.size() > kMaxDeliveryId) {
    return answer(Outcome::kBadRequest, 400,
                  "missing or oversized delivery id header " + std::string(names.delivery));
  }
  auto push = parse_push_event(call.provider, call.body);
  if (!push) return answer(Outcome::kBadRequest, 400, push.error());

  Verdict verdict;
  verdict.event = printable(event, kMaxEventName);
  verdict.delivery_id = printable(delivery, kMaxDeliveryId);
  verdict.repository = push->repository;
  const Route* route = nullptr;
  for (const auto& secret_file : proven) {
    route = routes_.match(call.provider, secret_file, push->host, push->repository);
    if (route != nullptr) break;
  }
  if (route == nullptr) {
    verdict.outcome = Outcome::kUnrouted;
    verdict.status = 202;
    verdict.message = "no route for this repository; nothing enqueued";
    return verdict;
  }
  verdict.route = route->name;
  auto job = build_webhook_job(*route, push->repository, verdict.delivery_id);
  if (!job) {
    verdict.outcome = Outcome::kInvalidJob;
    verdict.status = 422;
    verdict.message = "route " + route->name + " makes an invalid job for this repository";
    if (settings_.on_problem) {
      settings_.on_problem("webhook route " + route->name + " made an invalid job: " + job.error());
    }
    return verdict;
  }
  verdict.outcome = Outcome::kEnqueued;
  verdict.status = 202;
  verdict.job = std::move(*job);
  return verdict;
}

}  // namespace mgit::webhooks
