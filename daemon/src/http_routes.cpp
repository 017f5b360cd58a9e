#include "http_routes.hpp"

#include <chrono>

namespace mgit::daemon {

HttpHandler make_routes(observability::Metrics& metrics, observability::HealthMonitor& health) {
  return [&metrics, &health](const HttpRequestView& request) -> HttpResponse {
    auto path = request.target.substr(0, request.target.find('?'));
    const bool known = path == "/metrics" || path == "/health/live" || path == "/health/ready";
    if (!known) return HttpResponse{404, "text/plain; charset=utf-8", "not found\n", {}};
    if (request.method != "GET" && request.method != "HEAD") {
      return HttpResponse{
          405, "text/plain; charset=utf-8", "method not allowed\n", {{"Allow", "GET, HEAD"}}};
    }
    if (path == "/metrics") {
      // Judged now, not at the loop's last heartbeat: a wedged loop must show as mgitd_live 0.
      const auto now = std::chrono::steady_clock::now();
      metrics.set_health(health.readiness(now).ok, health.liveness(now).ok);
      return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics.serialize(), {}};
    }
    const auto now = std::chrono::steady_clock::now();
    const auto report = path == "/health/live" ? health.liveness(now) : health.readiness(now);
    return HttpResponse{report.ok ? 200U : 503U, "application/json", report.to_json() + "\n", {}};
  };
}

}  // namespace mgit::daemon
