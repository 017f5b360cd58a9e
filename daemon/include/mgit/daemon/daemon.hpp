#pragma once

#include "mgit/daemon/config.hpp"

namespace mgit::daemon {

/// Runs mgitd until SIGTERM/SIGINT (graceful) or a fatal error. Returns the exit code.
/// Startup problems (broker unreachable, missing topic, bad settings) print one clear
/// line to stderr and return non-zero.
int run_daemon(const Config& config);

}  // namespace mgit::daemon
