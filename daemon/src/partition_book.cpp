#include "partition_book.hpp"

#include <algorithm>
#include <utility>

#include "mgit/observability/log.hpp"

namespace mgit::daemon {

namespace asio = boost::asio;
using observability::LogLevel;
using transport::TopicPartition;

PartitionBook::PartitionBook(asio::io_context& io, execution::Scheduler& scheduler,
                             PartitionBookSettings settings, std::function<void()> on_released)
    : io_(io),
      scheduler_(scheduler),
      settings_(settings),
      on_released_(std::move(on_released)),
      hold_deadline_(io) {}

std::uint64_t PartitionBook::tag_of(const TopicPartition& partition) {
  const auto found = tags_.find(partition);
  if (found != tags_.end()) return found->second;
  const auto tag = static_cast<std::uint64_t>(tags_.size() + 1);
  tags_.emplace(partition, tag);
  return tag;
}

std::optional<std::uint64_t> PartitionBook::admit(const transport::ConsumedRecord& record) {
  auto& partition = partitions_[record.source];
  if (stopped_ || partition.release) {
    // Not tracked: it is not committed and the partition's next owner (or our next start)
    // consumes it again.
    return std::nullopt;
  }
  if (!tracker_.begin(record.source, record.offset)) {
    // A rewound fetch: the first delivery of this offset is still tracked and will be
    // answered, so this copy is dropped.
    observability::log(LogLevel::kWarn, "record at or below a tracked offset dropped",
                       {{"partition", record.source.partition}, {"offset", record.offset}});
    return std::nullopt;
  }
  ++partition.outstanding;
  ++total_outstanding_;
  apply_backpressure(record.source);
  return partition.generation;
}

PartitionBook::PartitionState* PartitionBook::current(const TopicPartition& partition,
                                                      std::uint64_t generation) {
  const auto found = partitions_.find(partition);
  if (found == partitions_.end() || found->second.generation != generation) return nullptr;
  return &found->second;
}

bool PartitionBook::answered(const TopicPartition& tp, std::int64_t offset,
                             std::uint64_t generation) {
  auto* partition = current(tp, generation);
  if (partition == nullptr) return false;
  forget_outstanding(*partition);
  if (const auto commit = tracker_.finish(tp, offset)) {
    if (consumer_ != nullptr) {
      if (auto stored = consumer_->store_offset(tp, *commit); !stored) {
        observability::log(
            LogLevel::kDebug, "offset not stored",
            {{"partition", tp.partition}, {"offset", *commit}, {"error", stored.error().message}});
      }
    }
  }
  release_backpressure(tp);
  maybe_finish_revoke(tp, false);
  return true;
}

bool PartitionBook::withdrawn(const TopicPartition& tp, std::uint64_t generation) {
  // Neither answered nor committable: the offset stays below the watermark and the job
  // is consumed again by whoever owns the partition next.
  auto* partition = current(tp, generation);
  if (partition == nullptr) return false;
  forget_outstanding(*partition);
  maybe_finish_revoke(tp, false);
  return true;
}

void PartitionBook::forget_outstanding(PartitionState& partition) {
  if (partition.outstanding == 0) return;
  --partition.outstanding;
  --total_outstanding_;
}

void PartitionBook::apply_backpressure(const TopicPartition& tp) {
  if (consumer_ == nullptr) return;
  auto& partition = partitions_[tp];
  if (!partition.paused_for_backpressure &&
      tracker_.pending(tp) >= settings_.max_buffered_per_partition) {
    partition.paused_for_backpressure = true;
    consumer_->pause({tp});
    observability::log(LogLevel::kDebug, "partition paused", {{"partition", tp.partition}});
  }
  if (!held_at_limit_ && !paused_globally_ && tracker_.total_pending() >= settings_.max_in_flight) {
    // Stop taking records rather than pause: a pause drops librdkafka's prefetch, and the
    // resume then waits for a fetch (up to fetch.wait.max.ms) while the pipeline runs dry.
    held_at_limit_ = true;
    consumer_->hold_records(true);
    const auto hold = ++hold_generation_;
    hold_deadline_.expires_after(settings_.hold_before_pause);
    hold_deadline_.async_wait([this, hold](const boost::system::error_code& ec) {
      if (!ec && held_at_limit_ && hold == hold_generation_) hold_to_pause();
    });
    observability::log(LogLevel::kDebug, "intake held: max_in_flight reached",
                       {{"in_flight", tracker_.total_pending()}});
  }
}

void PartitionBook::end_hold() {
  if (!held_at_limit_) return;
  held_at_limit_ = false;
  ++hold_generation_;
  hold_deadline_.cancel();
  if (consumer_ != nullptr) consumer_->hold_records(false);
}

void PartitionBook::hold_to_pause() {
  // Jobs finish slower than the hold may last: unserved rebalances would stall the group and
  // max.poll.interval.ms would run out. Pausing lets the consumer be polled again; its
  // prefetch is dropped, which costs one fetch at the resume, little against a long hold.
  end_hold();
  paused_globally_ = true;
  if (consumer_ != nullptr) consumer_->pause(consumer_->assignment());
  observability::log(LogLevel::kInfo, "intake paused: max_in_flight reached",
                     {{"in_flight", tracker_.total_pending()}});
}

void PartitionBook::release_backpressure(const TopicPartition& tp) {
  if (consumer_ == nullptr || stopped_) return;
  const auto found = partitions_.find(tp);
  if (found == partitions_.end()) return;
  auto& partition = found->second;
  const auto half_partition = settings_.max_buffered_per_partition / 2;
  release_global_backpressure();
  if (partition.paused_for_backpressure && tracker_.pending(tp) <= half_partition) {
    partition.paused_for_backpressure = false;
    if (!paused_globally_ && !held_ && !partition.release) consumer_->resume({tp});
  }
}

void PartitionBook::release_global_backpressure() {
  if (consumer_ == nullptr || stopped_) return;
  const auto global_resume = resume_level(settings_.max_in_flight);
  if (held_at_limit_ && tracker_.total_pending() <= global_resume) end_hold();
  if (paused_globally_ && tracker_.total_pending() <= global_resume) {
    paused_globally_ = false;
    if (!held_) consumer_->resume(resumable());
    observability::log(LogLevel::kInfo, "intake resumed",
                       {{"in_flight", tracker_.total_pending()}});
  }
}

std::vector<TopicPartition> PartitionBook::resumable() const {
  std::vector<TopicPartition> out;
  for (const auto& assigned : consumer_->assignment()) {
    const auto state = partitions_.find(assigned);
    if (state == partitions_.end() ||
        (!state->second.paused_for_backpressure && !state->second.release)) {
      out.push_back(assigned);
    }
  }
  return out;
}

void PartitionBook::hold_intake(bool hold) {
  if (held_ == hold) return;
  held_ = hold;
  if (consumer_ == nullptr) return;
  if (hold) {
    consumer_->pause(consumer_->assignment());
    if (held_at_limit_) {
      // Paused now anyway: the consumer is polled again, and max_in_flight keeps intake
      // paused after the audit hold ends.
      end_hold();
      paused_globally_ = true;
    }
  } else if (!stopped_ && !paused_globally_) {
    consumer_->resume(resumable());
  }
}

void PartitionBook::assign(const std::vector<TopicPartition>& partitions) {
  for (const auto& tp : partitions) {
    // A new generation: answers of jobs from an earlier assignment of the same partition
    // must not count against this one.
    auto& state = partitions_[tp];
    state = PartitionState{};
    state.generation = ++last_generation_;
  }
  // A fresh assignment starts unpaused in librdkafka: re-apply what holds process-wide.
  if ((paused_globally_ || stopped_ || held_) && consumer_ != nullptr) consumer_->pause(partitions);
}

void PartitionBook::revoke(const std::vector<TopicPartition>& partitions, bool lost,
                           std::function<void()> release) {
  if (lost) {
    for (const auto& tp : partitions) {
      forget_partition(tp);
      scheduler_.withdraw(tag_of(tp));
      // Another replica owns these records now and runs them again: stop ours.
      scheduler_.cancel_running(tag_of(tp));
    }
    release();
    on_released_();
    return;
  }
  // Let the revoked partitions' buffered and running jobs finish and be committed, up to
  // revoke_grace; one shared release once all of them are drained.
  auto remaining = std::make_shared<std::size_t>(partitions.size());
  auto shared_release = std::make_shared<std::function<void()>>(std::move(release));
  for (const auto& tp : partitions) {
    auto& state = partitions_[tp];
    state.release = [remaining, shared_release] {
      if (*remaining > 0 && --*remaining == 0) (*shared_release)();
    };
    state.revoke_deadline = std::make_unique<asio::steady_timer>(io_, settings_.revoke_grace);
    state.revoke_deadline->async_wait([this, tp](const boost::system::error_code& ec) {
      if (!ec) maybe_finish_revoke(tp, true);
    });
    maybe_finish_revoke(tp, false);
  }
}

std::size_t PartitionBook::forget_partition(const TopicPartition& tp) {
  std::size_t outstanding = 0;
  if (const auto found = partitions_.find(tp); found != partitions_.end()) {
    outstanding = found->second.outstanding;
    total_outstanding_ -= std::min(total_outstanding_, outstanding);
    partitions_.erase(found);
  }
  tracker_.revoke(tp);
  // Its jobs no longer count: when they were what held or paused intake (one hot partition
  // revoked past its grace, or lost), nothing else would take records again.
  release_global_backpressure();
  return outstanding;
}

void PartitionBook::maybe_finish_revoke(const TopicPartition& tp, bool deadline_passed) {
  const auto found = partitions_.find(tp);
  if (found == partitions_.end() || !found->second.release) return;
  if (!deadline_passed && found->second.outstanding > 0) return;
  // Take everything out of the state before calling out: withdraw() and release() call
  // back into the pipeline and this book.
  auto release = std::move(found->second.release);
  const auto outstanding = forget_partition(tp);
  release();
  if (outstanding > 0) {
    observability::log(LogLevel::kWarn, "revoke grace passed; released with jobs unfinished",
                       {{"partition", tp.partition}, {"outstanding", outstanding}});
    // Queued jobs are withdrawn and running ones stopped (their workers killed, no answer):
    // the next owner of the partition runs them again.
    scheduler_.withdraw(tag_of(tp));
    scheduler_.cancel_running(tag_of(tp));
  }
  on_released_();
}

void PartitionBook::stop_intake() {
  stopped_ = true;
  if (consumer_ != nullptr) consumer_->pause(consumer_->assignment());
  // Paused for good: the consumer must be polled again to serve the final rebalance.
  end_hold();
}

void PartitionBook::release_draining() {
  std::vector<std::function<void()>> pending;
  for (auto& [tp, state] : partitions_) {
    if (state.release) pending.push_back(std::move(state.release));
    state.release = nullptr;
  }
  for (auto& release : pending) release();
}

std::size_t PartitionBook::paused(std::size_t assigned) const {
  if (paused_globally_ || held_at_limit_ || stopped_ || held_) return assigned;
  std::size_t paused = 0;
  for (const auto& [tp, state] : partitions_) {
    if (state.paused_for_backpressure || state.release) ++paused;
  }
  return std::min(paused, assigned);
}

}  // namespace mgit::daemon
