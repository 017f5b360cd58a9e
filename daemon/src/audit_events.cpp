#include "audit_events.hpp"

#include <utility>

#include "mgit/jobs/repository_key.hpp"
#include "mgit/security/redaction.hpp"

namespace mgit::daemon {
namespace {

audit::AuditEvent job_event(std::string_view type, const AuditedJob& job,
                            const jobs::JobResult& result, std::string outcome) {
  audit::AuditEvent event;
  event.event = type;
  event.outcome = std::move(outcome);
  event.correlation_id = job.ctx.correlation_id;
  event.job_id = job.ctx.job_id;
  event.trace_id = job.ctx.trace_id;
  event.fields.push_back({"repository", security::redact_url(result.repository_url)});
  if (!job.repository_key.empty()) {
    event.fields.push_back({"host", jobs::host_of_repository_key(job.repository_key)});
  }
  if (!job.credential.empty()) event.fields.push_back({"credential", std::string(job.credential)});
  if (result.error) {
    event.fields.push_back({"error_code", std::string(jobs::to_string(result.error->code))});
    event.fields.push_back({"message", security::redact_urls_in_text(result.error->message)});
  }
  return event;
}

bool mentions_credential(const jobs::JobResult& result) {
  return result.error && result.error->message.find("credential") != std::string::npos;
}

}  // namespace

std::vector<audit::AuditEvent> job_audit_events(const AuditedJob& job,
                                                const jobs::JobResult& result) {
  std::vector<audit::AuditEvent> events;
  // Not a std::optional<ErrorCode>: GCC 12 at -O2 (the release preset) reports its
  // comparison maybe-uninitialized, which -Werror turns into a failed build.
  const auto code_is = [&result](jobs::ErrorCode code) {
    return result.error.has_value() && result.error->code == code;
  };
  if (code_is(jobs::ErrorCode::kPolicyDenied)) {
    events.push_back(job_event(audit::kPolicyDenied, job, result, "denied"));
    if (!job.credential.empty() && mentions_credential(result)) {
      events.push_back(job_event(audit::kCredentialRefused, job, result, "policy_denied"));
    }
    return events;
  }
  if (code_is(jobs::ErrorCode::kRateLimited)) {
    events.push_back(job_event(audit::kRateLimited, job, result, "rate_limited"));
  }
  // A rejected job never ran and an expired one never started; a replay answered from the
  // target's record connected to nobody, and a coalesced job's answer came from the
  // execution of `served_by`, whose own event records the one use.
  const bool ran =
      (result.status == jobs::Status::kSucceeded || result.status == jobs::Status::kFailed) &&
      result.served_by.empty();
  if (!job.credential.empty() && ran && !result.report.replayed &&
      !code_is(jobs::ErrorCode::kRateLimited)) {
    events.push_back(
        job_event(audit::kCredentialUse, job, result, std::string(jobs::to_string(result.status))));
    if (code_is(jobs::ErrorCode::kAuthFailed)) {
      events.push_back(job_event(audit::kCredentialRefused, job, result, "auth_failed"));
    }
  }
  // The force-push safety net: one event per old tip kept. Ref names and ids come from the
  // target's remote, never from a credential.
  if (ran && !result.report.replayed) {
    for (const jobs::RefUpdate& update : result.report.refs_updated) {
      if (update.backup_ref.empty()) continue;
      audit::AuditEvent event;
      event.event = audit::kRefBackup;
      event.outcome = update.new_oid.empty() ? "deleted" : "forced";
      event.correlation_id = job.ctx.correlation_id;
      event.job_id = job.ctx.job_id;
      event.trace_id = job.ctx.trace_id;
      event.fields.push_back({"repository", security::redact_url(result.repository_url)});
      event.fields.push_back({"target", result.target});
      event.fields.push_back({"ref", update.ref});
      event.fields.push_back({"old", update.old_oid});
      event.fields.push_back({"new", update.new_oid});
      event.fields.push_back({"backup_ref", update.backup_ref});
      events.push_back(std::move(event));
    }
  }
  return events;
}

audit::AuditEvent withdrawn_credential_use(const AuditedJob& job, std::string_view repository_url) {
  jobs::JobResult attempted;
  attempted.repository_url = std::string(repository_url);
  return job_event(audit::kCredentialUse, job, attempted, "withdrawn");
}

audit::AuditEvent config_event(std::string_view event, std::string config, bool restart_needed) {
  audit::AuditEvent out;
  out.event = event;
  out.outcome = "loaded";
  out.fields.push_back({"restart_needed", restart_needed});
  out.fields.push_back({"config", audit::RawJson{std::move(config)}});
  return out;
}

audit::AuditEvent host_cooldown_event(std::string_view host, std::chrono::milliseconds cooldown,
                                      std::string_view reason) {
  audit::AuditEvent out;
  out.event = audit::kHostCooldown;
  out.outcome = "cooling_down";
  out.fields.push_back({"host", std::string(host)});
  out.fields.push_back({"cooldown_ms", static_cast<std::int64_t>(cooldown.count())});
  out.fields.push_back({"reason", std::string(reason)});
  return out;
}

}  // namespace mgit::daemon
