#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "mgit/transport/types.hpp"

namespace mgit::transport {

/// Tracks consumed-but-unfinished offsets per partition and yields the commit position:
/// the offset after the highest one below which every consumed record is finished.
/// Offsets need not be numerically contiguous (compaction, transaction markers); what
/// counts is the order they were consumed in. Not thread-safe: used on the io_context.
class OffsetTracker {
 public:
  /// Records a consumed offset as unfinished. Returns false, and records nothing, for an
  /// offset at or below one already tracked: a rewound fetch re-delivers records whose
  /// first delivery is still tracked and will be answered.
  [[nodiscard]] bool begin(const TopicPartition& partition, std::int64_t offset);

  /// Marks an offset finished. Returns the new commit position (last contiguous finished
  /// offset + 1) when it advanced, nothing otherwise (or when the partition is unknown,
  /// e.g. revoked meanwhile).
  std::optional<std::int64_t> finish(const TopicPartition& partition, std::int64_t offset);

  /// Consumed records of this partition not yet finished or not yet committable.
  [[nodiscard]] std::size_t pending(const TopicPartition& partition) const;
  [[nodiscard]] std::size_t total_pending() const;

  /// Forgets a partition (revoked or lost): its in-flight offsets no longer commit.
  void revoke(const TopicPartition& partition);

  [[nodiscard]] bool tracks(const TopicPartition& partition) const;

 private:
  // offset -> finished; the front is the oldest unfinished-or-uncommitted offset.
  std::map<TopicPartition, std::map<std::int64_t, bool>> pending_;
  std::size_t total_ = 0;
};

}  // namespace mgit::transport
