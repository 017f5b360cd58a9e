#include "config_reload.hpp"

#include "audit_events.hpp"
#include "mgit/observability/log.hpp"
#include "mgit/security/redaction.hpp"

namespace mgit::daemon {

using observability::LogLevel;

void reload_config(const Config& running, const ConfigReloader& reload, audit::AuditLog& audit) {
  if (!reload) return;
  auto fresh = reload();
  if (!fresh) {
    observability::log(LogLevel::kWarn, "config reload failed; keeping the running config",
                       {{"error", fresh.error()}});
    audit::AuditEvent failed;
    failed.event = audit::kConfigReloaded;
    failed.outcome = "failed";
    failed.fields.push_back({"error", security::redact_urls_in_text(fresh.error())});
    audit.record(failed);
    return;
  }
  const auto level = observability::parse_log_level(fresh->log_level);
  if (level) observability::set_log_level(*level);
  auto without_level = [](Config config) {
    config.log_level.clear();
    return describe_config(config);
  };
  const bool others_changed = without_level(*fresh) != without_level(running);
  audit.record(config_event(audit::kConfigReloaded, describe_config(*fresh), others_changed));
  observability::log(LogLevel::kInfo, "config reloaded",
                     {{"log_level", fresh->log_level}, {"restart_needed", others_changed}});
  if (others_changed) {
    observability::log(LogLevel::kWarn,
                       "config changes other than log_level take effect on restart",
                       {{"config", observability::RawJson{describe_config(*fresh)}}});
  }
}

}  // namespace mgit::daemon
