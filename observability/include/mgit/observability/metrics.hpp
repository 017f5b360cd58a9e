#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mgit::observability {

struct BuildInfo {
  std::string version;
  std::string revision;
};

/// The daemon's Prometheus metrics (names and labels: docs/operations/monitoring.md).
/// Thread-safe: the event loop, the exporter thread and the HTTP thread all use it.
/// Label values must come from bounded sets (enums, partition ids, configured topic
/// names) — never from anything a message controls.
class Metrics {
 public:
  explicit Metrics(const BuildInfo& build);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void job_received(const std::string& topic);
  void job_completed(std::string_view operation, std::string_view status,
                     std::string_view error_code);
  void job_duration(std::string_view operation, std::string_view status, double seconds);
  void job_queued(double seconds);
  void git_received(std::uint64_t bytes, std::uint64_t objects);
  void retry(std::string_view error_code);
  /// A job answered by another job's execution (burst coalescing).
  void job_coalesced();
  /// A ref a job's fetch moved non-fast-forward or deleted (`deleted`), and whether its old
  /// tip was backed up (the force-push safety net).
  void forced_update(bool deleted, bool backed_up);
  void dlq_record(std::string_view reason);
  /// A git worker process was replaced; `reason` is one of WorkerPool's fixed set.
  void worker_restart(std::string_view reason);
  void offset_resets(std::uint64_t count);
  /// A git host entered a cool-down (docs/rate-limits.md).
  void host_cool_down();
  /// A job answered rate_limited; `reason` is one of "deadline", "share", "attempts".
  void rate_limited_answer(std::string_view reason);
  void set_rate_limits(std::size_t throttled_hosts, std::size_t waiting_jobs);

  void set_jobs_in_flight(std::size_t count);
  void set_oldest_job_age(double seconds);
  void set_consumer_lag(std::int32_t partition, std::int64_t lag);
  /// Drops the series of a partition this consumer no longer owns.
  void clear_consumer_lag(std::int32_t partition);
  void set_partitions(std::size_t assigned, std::size_t paused);
  void set_health(bool ready, bool live);
  /// Credential files without `hosts=` (never used), as counted at startup.
  void set_credentials_without_hosts(std::size_t count);

  void spans_exported(std::size_t count);
  void spans_dropped(std::string_view reason, std::size_t count);

  /// An audit event recorded; `event` is one of the audit trail's fixed event types.
  void audit_event(std::string_view event);
  void audit_dropped();
  void set_audit_buffered(std::size_t count);

  /// A webhook request answered; `provider` and `outcome` are fixed label sets
  /// (docs/webhooks.md). Thread-safe, like every method here.
  void webhook_received(std::string_view provider, std::string_view outcome);
  /// Creates every provider × outcome series at 0 when the listener starts, so an alert on
  /// the first 503s sees them rise (a series born at 2 has no increase).
  void prepare_webhook_series(const std::vector<std::string_view>& providers,
                              const std::vector<std::string_view>& outcomes);
  /// From a webhook request's arrival to its job being durable (broker ack or spool fsync).
  void webhook_durable(double seconds);
  void set_webhook_spooled(std::size_t count);

  /// Prometheus text exposition format 0.0.4.
  [[nodiscard]] std::string serialize() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mgit::observability
