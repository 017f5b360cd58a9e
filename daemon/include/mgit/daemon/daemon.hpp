#pragma once

#include <functional>
#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "mgit/daemon/config.hpp"
#include "mgit/execution/executor.hpp"
#include "mgit/observability/metrics.hpp"
#include "mgit/security/credentials.hpp"

namespace mgit::daemon {

/// Reads the configuration again (flags, environment, file) for SIGHUP; an error leaves
/// the running configuration in place.
using ConfigReloader = std::function<tl::expected<Config, std::string>()>;

/// Runs mgitd until SIGTERM/SIGINT (graceful) or a fatal error. Returns the exit code.
/// Startup problems (broker unreachable, missing topic, bad settings) print one clear
/// line to stderr and return non-zero. SIGHUP re-reads the configuration through `reload`
/// and applies `log_level` (other settings need a restart; that is logged).
int run_daemon(const Config& config, const ConfigReloader& reload = {});

/// Builds the executor jobs run on. The shipped daemon always uses the libgit2 executor;
/// only benchmark binaries pass another one (see tests/bench), so no configuration can make
/// mgitd report success without syncing.
using ExecutorFactory = std::function<std::unique_ptr<execution::Executor>(
    const Config&, security::CredentialStore&, observability::Metrics&)>;
int run_daemon(const Config& config, const ExecutorFactory& make_executor,
               const ConfigReloader& reload = {});

/// `mgitd worker-process` (hidden; started by the daemon itself): runs git jobs in a
/// sandboxed worker process, talking to its supervisor over descriptor 3. See
/// docs/reliability.md.
int run_worker_process();

/// `mgitd healthcheck [--ready] [--http-listen HOST:PORT]`: exit 0 when the local daemon's
/// /health/live (or /health/ready) answers 200. For container HEALTHCHECKs (no curl there).
int run_healthcheck(const std::vector<std::string>& args);

}  // namespace mgit::daemon
