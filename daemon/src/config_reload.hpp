#pragma once

#include "mgit/audit/audit_log.hpp"
#include "mgit/daemon/config.hpp"
#include "mgit/daemon/daemon.hpp"

namespace mgit::daemon {

/// SIGHUP: reads the configuration again through `reload`; `log_level` applies at once,
/// any other change is logged as needing a restart, a failed read keeps the running config.
/// Each reload, applied or failed, is a `config_reloaded` audit event.
/// Runs on the daemon's io_context thread (the signal set's handler).
void reload_config(const Config& running, const ConfigReloader& reload, audit::AuditLog& audit);

}  // namespace mgit::daemon
