#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mgit::observability {

struct HealthCheck {
  std::string name;
  bool ok = false;
  std::string detail;
};

struct HealthReport {
  bool ok = false;
  std::vector<HealthCheck> checks;

  /// `{"status":"ok"|"fail","checks":[{"name":…,"ok":…,"detail":…}]}`
  [[nodiscard]] std::string to_json() const;
};

struct HealthSettings {
  std::chrono::seconds broker_unready_grace{60};
  std::chrono::seconds stuck_grace{60};
  /// The event loop answers a heartbeat every second; this much silence means it is wedged.
  std::chrono::seconds loop_stall_limit{15};
  double min_free_disk_percent = 10;
};

/// Collects the facts behind /health/ready and /health/live and judges them.
/// Thread-safe: the event loop and the workspace probe report, the HTTP thread reads.
/// Time is passed in, so tests drive the grace periods without sleeping.
class HealthMonitor {
 public:
  using Clock = std::chrono::steady_clock;

  HealthMonitor(HealthSettings settings, Clock::time_point now);

  void set_started(bool started);
  /// Intake stopped for good (draining on shutdown, or a job that could not be answered).
  void set_intake(bool ok, std::string detail);
  void report_broker(bool reachable, Clock::time_point now);
  void report_workspace(bool writable, std::optional<double> free_percent, std::string detail);
  /// Called by the event loop once a second; also carries the worst stuck job.
  void heartbeat(Clock::time_point now, std::optional<Clock::duration> longest_overrun);

  HealthReport readiness(Clock::time_point now) const;
  HealthReport liveness(Clock::time_point now) const;

  /// Logs every check whose state changed since the last call (once per transition).
  void log_transitions(Clock::time_point now);

 private:
  HealthReport readiness_locked(Clock::time_point now) const;
  HealthReport liveness_locked(Clock::time_point now) const;

  HealthSettings settings_;
  mutable std::mutex mutex_;
  bool started_ = false;
  bool intake_ok_ = true;
  std::string intake_detail_;
  std::optional<Clock::time_point> broker_down_since_;
  bool workspace_writable_ = true;
  std::optional<double> free_percent_;
  std::string workspace_detail_;
  Clock::time_point last_heartbeat_;
  std::optional<Clock::duration> longest_overrun_;
  std::map<std::string, bool> logged_state_;
};

}  // namespace mgit::observability
