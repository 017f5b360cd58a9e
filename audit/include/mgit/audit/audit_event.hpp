#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mgit::audit {

/// The event types (docs/audit.md). Metric labels are taken from these, never from a message.
inline constexpr std::string_view kPolicyDenied = "policy_denied";
inline constexpr std::string_view kCredentialUse = "credential_use";
inline constexpr std::string_view kCredentialRefused = "credential_refused";
inline constexpr std::string_view kRateLimited = "rate_limited";
inline constexpr std::string_view kHostCooldown = "host_cooldown";
inline constexpr std::string_view kRefBackup = "ref_backup";
inline constexpr std::string_view kConfigLoaded = "config_loaded";
inline constexpr std::string_view kConfigReloaded = "config_reloaded";
inline constexpr std::string_view kWebhookAuthFailed = "webhook_auth_failed";
inline constexpr std::string_view kWebhookUnrouted = "webhook_unrouted";

/// A JSON document already encoded (the masked configuration); written as is.
struct RawJson {
  std::string json;
};

/// One event-specific field. Text values are written with every URL's userinfo removed, as a
/// last guard: the builders already redact, and no secret may reach the audit stream.
struct Field {
  std::string name;
  std::variant<std::string, std::int64_t, bool, RawJson> value;
};

/// One security event. `job_id`, `correlation_id` and `trace_id` are empty for events that
/// belong to no job (configuration loads, host cool-downs).
struct AuditEvent {
  std::string_view event;  ///< one of the k* names above
  std::string outcome;     ///< what happened: denied, refused, succeeded, failed, loaded, ...
  std::string correlation_id;
  std::string job_id;
  std::string trace_id;
  std::vector<Field> fields;
  std::chrono::system_clock::time_point ts = std::chrono::system_clock::now();
};

/// The event as one JSON object on one line (no newline): `ts` (RFC 3339, UTC, millis),
/// `event`, `outcome`, `correlation_id`, `job_id`, `trace_id`, then the fields in order.
std::string encode(const AuditEvent& event);

}  // namespace mgit::audit
