#include "mgit/transport/offset_tracker.hpp"

namespace mgit::transport {

bool OffsetTracker::begin(const TopicPartition& partition, std::int64_t offset) {
  auto& offsets = pending_[partition];
  if (!offsets.empty() && offsets.rbegin()->first >= offset) return false;
  offsets.emplace_hint(offsets.end(), offset, false);
  ++total_;
  return true;
}

std::optional<std::int64_t> OffsetTracker::finish(const TopicPartition& partition,
                                                  std::int64_t offset) {
  const auto found = pending_.find(partition);
  if (found == pending_.end()) return std::nullopt;
  auto& offsets = found->second;
  const auto entry = offsets.find(offset);
  if (entry == offsets.end()) return std::nullopt;
  entry->second = true;

  std::optional<std::int64_t> commit;
  while (!offsets.empty() && offsets.begin()->second) {
    commit = offsets.begin()->first + 1;
    offsets.erase(offsets.begin());
    --total_;
  }
  return commit;
}

std::size_t OffsetTracker::pending(const TopicPartition& partition) const {
  const auto found = pending_.find(partition);
  return found == pending_.end() ? 0 : found->second.size();
}

std::size_t OffsetTracker::total_pending() const { return total_; }

void OffsetTracker::revoke(const TopicPartition& partition) {
  const auto found = pending_.find(partition);
  if (found == pending_.end()) return;
  total_ -= found->second.size();
  pending_.erase(found);
}

bool OffsetTracker::tracks(const TopicPartition& partition) const {
  return pending_.contains(partition);
}

}  // namespace mgit::transport
