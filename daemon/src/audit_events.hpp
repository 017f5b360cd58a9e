#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "mgit/audit/audit_event.hpp"
#include "mgit/jobs/result.hpp"
#include "mgit/observability/job_context.hpp"

// The audit events the daemon derives, built from what the daemon already holds (a job's
// context and its result, the masked configuration): never from a credential's contents, so
// no secret can reach the audit trail through them.
namespace mgit::daemon {

/// What the daemon knows about an answered job beyond its result.
struct AuditedJob {
  const observability::JobContext& ctx;
  std::string_view credential;      ///< the job's credential name, empty when none or unknown
  std::string_view repository_key;  ///< empty when the URL did not normalize
};

/// The events one answered job gives: `policy_denied` for a policy denial; `credential_use`
/// when a credential was offered to the remote (the job ran and was not a replay), with the
/// result's status as outcome; `credential_refused` when the remote refused it
/// (`auth_failed`) or the policy refused to hand it out (a denial naming the credential);
/// `rate_limited` for a job answered so; `ref_backup` for each ref whose old tip the job kept
/// under refs/mgitd/backup/ (outcome `forced` or `deleted`). Any other answer gives none.
std::vector<audit::AuditEvent> job_audit_events(const AuditedJob& job,
                                                const jobs::JobResult& result);

/// `credential_use` with outcome `withdrawn`, for a job withdrawn (shutdown, revoke) after an
/// attempt: it gets no result, but its credential may already have been offered.
audit::AuditEvent withdrawn_credential_use(const AuditedJob& job, std::string_view repository_url);

/// `config_loaded` (startup) or `config_reloaded` (SIGHUP): `config` is describe_config's
/// JSON, secrets already masked; `restart_needed` says whether the reload changed more than
/// the log level.
audit::AuditEvent config_event(std::string_view event, std::string config, bool restart_needed);

/// For the rate limiter: a host put in cool-down (`reason` e.g. `http_429`).
audit::AuditEvent host_cooldown_event(std::string_view host, std::chrono::milliseconds cooldown,
                                      std::string_view reason);

}  // namespace mgit::daemon
