#include "mgit/audit/audit_log.hpp"

#include <fmt/format.h>

#include <utility>
#include <vector>

namespace mgit::audit {

AuditLog::AuditLog(AuditSink& sink, AuditLogSettings settings)
    : sink_(sink), settings_(std::move(settings)), self_(std::make_shared<AuditLog*>(this)) {}

void AuditLog::record(const AuditEvent& event) {
  if (settings_.on_recorded) settings_.on_recorded(event.event);
  if (held_.size() >= settings_.capacity) {
    // Only reachable when more events arrive after intake closed than half the buffer holds.
    ++dropped_;
    if (settings_.on_dropped) settings_.on_dropped();
    return;
  }
  const auto id = next_id_++;
  held_.emplace(id, Held{encode(event), settings_.clock(), false, false, {}});
  hand_over(id);
}

void AuditLog::hand_over(std::uint64_t id) {
  auto found = held_.find(id);
  if (found == held_.end()) return;
  found->second.waiting = false;
  std::weak_ptr<AuditLog*> weak = self_;
  // The line is copied: a refused event is handed over again.
  sink_.deliver(found->second.line, [weak, id](bool ok) {
    if (const auto self = weak.lock()) (*self)->delivered(id, ok);
  });
}

void AuditLog::delivered(std::uint64_t id, bool ok) {
  const auto found = held_.find(id);
  if (found == held_.end()) return;
  if (ok) {
    if (found->second.refused) --refused_;
    held_.erase(found);
    return;
  }
  if (!found->second.refused) ++refused_;
  found->second.refused = true;
  found->second.waiting = true;
  found->second.retry_at = settings_.clock() + settings_.retry_delay;
}

void AuditLog::tick() {
  const auto now = settings_.clock();
  std::vector<std::uint64_t> due;
  for (const auto& [id, held] : held_) {
    if (held.waiting && held.retry_at <= now) due.push_back(id);
  }
  for (const auto id : due) hand_over(id);
}

bool AuditLog::accepting() const {
  // Called for every answered job: the same tests as closed_reason, without formatting.
  return refused_ == 0 && held_.size() < settings_.capacity / 2 &&
         (held_.empty() ||
          settings_.clock() - held_.begin()->second.queued < settings_.ack_timeout);
}

std::string AuditLog::closed_reason() const {
  if (refused_ > 0) return fmt::format("the audit sink refused {} event(s)", refused_);
  if (held_.size() >= settings_.capacity / 2) {
    return fmt::format("the audit buffer holds {} of {} events", held_.size(), settings_.capacity);
  }
  if (!held_.empty() && settings_.clock() - held_.begin()->second.queued >= settings_.ack_timeout) {
    return fmt::format("an audit event is unacknowledged after {} ms",
                       settings_.ack_timeout.count());
  }
  return {};
}

}  // namespace mgit::audit
