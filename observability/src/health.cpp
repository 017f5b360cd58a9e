#include "mgit/observability/health.hpp"

#include <fmt/format.h>

#include "mgit/basics/json_escape.hpp"
#include "mgit/observability/log.hpp"

namespace mgit::observability {
namespace {

long long whole_seconds(std::chrono::steady_clock::duration duration) {
  return std::chrono::duration_cast<std::chrono::seconds>(duration).count();
}

}  // namespace

std::string HealthReport::to_json() const {
  std::string out = R"({"status":")";
  out += ok ? "ok" : "fail";
  out += R"(","checks":[)";
  bool first = true;
  for (const auto& check : checks) {
    if (!first) out += ',';
    first = false;
    out += R"({"name":")";
    basics::append_json_escaped(out, check.name);
    out += R"(","ok":)";
    out += check.ok ? "true" : "false";
    out += R"(,"detail":")";
    basics::append_json_escaped(out, check.detail);
    out += "\"}";
  }
  out += "]}";
  return out;
}

HealthMonitor::HealthMonitor(HealthSettings settings, Clock::time_point now)
    : settings_(settings), last_heartbeat_(now) {}

void HealthMonitor::set_started(bool started) {
  const std::lock_guard lock(mutex_);
  started_ = started;
}

void HealthMonitor::set_intake(bool ok, std::string detail) {
  const std::lock_guard lock(mutex_);
  intake_ok_ = ok;
  intake_detail_ = std::move(detail);
}

void HealthMonitor::report_broker(bool reachable, Clock::time_point now) {
  const std::lock_guard lock(mutex_);
  if (reachable) {
    broker_down_since_.reset();
  } else if (!broker_down_since_) {
    broker_down_since_ = now;
  }
}

void HealthMonitor::report_workspace(bool writable, std::optional<double> free_percent,
                                     std::string detail) {
  const std::lock_guard lock(mutex_);
  workspace_writable_ = writable;
  free_percent_ = free_percent;
  workspace_detail_ = std::move(detail);
}

void HealthMonitor::heartbeat(Clock::time_point now,
                              std::optional<Clock::duration> longest_overrun) {
  const std::lock_guard lock(mutex_);
  last_heartbeat_ = now;
  longest_overrun_ = longest_overrun;
}

HealthReport HealthMonitor::readiness(Clock::time_point now) const {
  const std::lock_guard lock(mutex_);
  return readiness_locked(now);
}

HealthReport HealthMonitor::liveness(Clock::time_point now) const {
  const std::lock_guard lock(mutex_);
  return liveness_locked(now);
}

HealthReport HealthMonitor::readiness_locked(Clock::time_point now) const {
  HealthReport report;
  report.checks.push_back({"started", started_, started_ ? "consuming" : "starting"});
  report.checks.push_back({"intake", intake_ok_, intake_ok_ ? "taking jobs" : intake_detail_});
  report.checks.push_back({"workspace_writable", workspace_writable_,
                           workspace_writable_ ? "writable" : workspace_detail_});
  const bool disk_ok = !free_percent_ || *free_percent_ >= settings_.min_free_disk_percent;
  report.checks.push_back({"disk_free", disk_ok,
                           free_percent_
                               ? fmt::format("{:.1f}% free (minimum {:g}%)", *free_percent_,
                                             settings_.min_free_disk_percent)
                               : std::string("not measured yet")});
  bool broker_ok = true;
  std::string broker_detail = "connected";
  if (broker_down_since_) {
    const auto down_for = now - *broker_down_since_;
    // A short Kafka blip must not flip readiness: rollouts and node drains wait on it.
    broker_ok = down_for < settings_.broker_unready_grace;
    broker_detail = fmt::format("no broker connection for {}s (grace {}s)", whole_seconds(down_for),
                                settings_.broker_unready_grace.count());
  }
  report.checks.push_back({"broker_reachable", broker_ok, broker_detail});
  report.ok = true;
  for (const auto& check : report.checks) report.ok = report.ok && check.ok;
  return report;
}

HealthReport HealthMonitor::liveness_locked(Clock::time_point now) const {
  HealthReport report;
  const auto silent_for = now - last_heartbeat_;
  const bool loop_ok = silent_for < settings_.loop_stall_limit;
  report.checks.push_back(
      {"event_loop", loop_ok,
       loop_ok ? "answering" : fmt::format("no heartbeat for {}s", whole_seconds(silent_for))});
  const bool stuck = longest_overrun_ && *longest_overrun_ > Clock::duration(settings_.stuck_grace);
  report.checks.push_back(
      {"stuck_jobs", !stuck,
       stuck ? fmt::format("a job is {}s past its deadline (grace {}s)",
                           whole_seconds(*longest_overrun_), settings_.stuck_grace.count())
             : std::string("none past deadline + grace")});
  report.ok = loop_ok && !stuck;
  return report;
}

void HealthMonitor::log_transitions(Clock::time_point now) {
  std::vector<HealthCheck> changed;
  {
    const std::lock_guard lock(mutex_);
    auto collect = [&](const HealthReport& report, const char* probe) {
      for (const auto& check : report.checks) {
        const auto key = std::string(probe) + "/" + check.name;
        const auto found = logged_state_.find(key);
        if (found == logged_state_.end()) {
          logged_state_.emplace(key, check.ok);
          // A check failing from the start is a transition from "unknown" worth a line;
          // passing ones are the normal start and stay quiet.
          if (!check.ok && check.name != "started") changed.push_back(check);
          continue;
        }
        if (found->second != check.ok) {
          found->second = check.ok;
          changed.push_back(check);
        }
      }
    };
    collect(readiness_locked(now), "ready");
    collect(liveness_locked(now), "live");
  }
  for (const auto& check : changed) {
    log(check.ok ? LogLevel::kInfo : LogLevel::kWarn,
        check.ok ? "health check passing" : "health check failing",
        {{"check", check.name}, {"detail", check.detail}});
  }
}

}  // namespace mgit::observability
