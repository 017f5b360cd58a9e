#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "mgit/audit/audit_event.hpp"

namespace mgit::audit {

/// Where encoded events go (a Kafka topic, a file). `deliver` hands over one line and calls
/// `done` exactly once, with true when the line is durable (broker ack, file write); it may
/// call it before returning. Called and answered on the owner's thread (the io_context).
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual void deliver(std::string line, std::function<void(bool delivered)> done) = 0;
};

struct AuditLogSettings {
  /// Events held until their sink acknowledged them. Intake closes at half of it, so the
  /// jobs already consumed (bounded by max_in_flight) still find room for their events.
  std::size_t capacity = 4096;
  /// An event unacknowledged this long means the sink is down: intake closes.
  std::chrono::milliseconds ack_timeout{std::chrono::seconds(10)};
  /// How long a refused event waits before it is handed to the sink again.
  std::chrono::milliseconds retry_delay{std::chrono::seconds(1)};
  /// Counts each recorded event (the metric's `event` label) and each one dropped.
  std::function<void(std::string_view event)> on_recorded;
  std::function<void()> on_dropped;
  std::function<std::chrono::steady_clock::time_point()> clock = std::chrono::steady_clock::now;
};

/// The audit trail's bounded buffer in front of one sink. An event stays in the buffer until
/// the sink acknowledged it; refused ones are handed over again by `tick`. `accepting` is the
/// fail-closed signal: false while the sink refuses, is slow past `ack_timeout`, or the buffer
/// is half full — the daemon then stops intake rather than act unaudited, and opens it again
/// once every held event is delivered. An event that finds the buffer full is dropped and
/// counted (`mgitd_audit_dropped_total`); closing intake at half is what keeps that at 0.
///
/// Not thread-safe: every call, and the sink's `done`, on the io_context thread. The sink may
/// outlive the log (a late acknowledgement after shutdown is ignored).
class AuditLog {
 public:
  AuditLog(AuditSink& sink, AuditLogSettings settings);
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  /// Encodes the event and hands it to the sink.
  void record(const AuditEvent& event);
  /// Hands refused events to the sink again once their retry delay passed. Call it
  /// periodically (the daemon's 1 s heartbeat).
  void tick();
  /// False when intake must stop (see the class comment).
  [[nodiscard]] bool accepting() const;
  /// Why `accepting` is false, for readiness and the log; empty when it is true.
  [[nodiscard]] std::string closed_reason() const;

  [[nodiscard]] std::size_t buffered() const { return held_.size(); }
  [[nodiscard]] std::uint64_t dropped() const { return dropped_; }

 private:
  struct Held {
    std::string line;
    std::chrono::steady_clock::time_point queued;
    /// The sink said no at least once: intake stays held until this event is delivered, not
    /// only until it is handed over again (that would reopen intake once per retry).
    bool refused = false;
    bool waiting = false;  ///< refused and not handed over again yet; due at `retry_at`
    std::chrono::steady_clock::time_point retry_at;
  };

  void hand_over(std::uint64_t id);
  void delivered(std::uint64_t id, bool ok);

  AuditSink& sink_;
  AuditLogSettings settings_;
  std::map<std::uint64_t, Held> held_;  ///< by sequence number: oldest first
  std::uint64_t next_id_ = 0;
  std::uint64_t dropped_ = 0;
  std::size_t refused_ = 0;  ///< held events refused at least once
  /// Captured weakly by the sink callbacks, so an acknowledgement after the log is gone is
  /// ignored.
  std::shared_ptr<AuditLog*> self_;
};

}  // namespace mgit::audit
