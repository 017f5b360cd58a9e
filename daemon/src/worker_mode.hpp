#pragma once

#include "mgit/daemon/config.hpp"
#include "mgit/isolation/worker_pool.hpp"
#include "mgit/observability/metrics.hpp"
#include "mgit/security/credentials.hpp"

namespace mgit::daemon {

/// The worker pool the daemon runs git in, from the configuration: limits, stall timeout,
/// a private HOME under the workspace, restarts counted in `metrics`. `credentials` and
/// `metrics` must outlive the pool.
isolation::WorkerPoolSettings worker_pool_settings(const Config& config,
                                                   const security::CredentialStore& credentials,
                                                   observability::Metrics& metrics);

}  // namespace mgit::daemon
