#pragma once

#include "mgit/daemon/http_server.hpp"
#include "mgit/observability/health.hpp"
#include "mgit/observability/metrics.hpp"

namespace mgit::daemon {

/// GET/HEAD /metrics, /health/live, /health/ready; 405 for other methods on them, 404
/// elsewhere. Both objects must outlive the server.
HttpHandler make_routes(observability::Metrics& metrics, observability::HealthMonitor& health);

}  // namespace mgit::daemon
