#pragma once

#include <compare>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "mgit/basics/file_descriptor.hpp"
#include "mgit/execution/executor.hpp"
#include "mgit/transport/types.hpp"

namespace mgit::daemon {

/// A record that has been running at this many unclean exits of mgitd is not run again: it
/// goes to the DLQ as `poison`.
inline constexpr int kPoisonUncleanExits = 3;

/// One intake record, wherever it is redelivered.
struct RecordId {
  transport::TopicPartition source;
  std::int64_t offset = -1;

  friend bool operator==(const RecordId&, const RecordId&) = default;
  // NOLINTNEXTLINE(modernize-use-nullptr): see TopicPartition
  friend auto operator<=>(const RecordId&, const RecordId&) = default;
};

/// The records this replica is running, kept in a small file (`<workspace>/.mgitd/in-flight/
/// <group>-<instance>.json`) so that the next process can tell which records were running
/// when this one died, and count that against them. A record still counted after
/// `kPoisonUncleanExits` unclean exits is poison (docs/delivery.md, "Poison records").
///
/// The state is rewritten whole into one of two slots, `<name>.json` and `<name>.json.alt`,
/// alternately, each snapshot carrying a sequence number at its start and its end; a start
/// reads the newest whole slot. A slot is written the first time as temp file + rename, then
/// in place, padded to its old length, without fsync (a daemon crash keeps the page cache): a
/// write torn by a machine crash, or by the daemon's death while another thread is inside a
/// write longer than a page, spoils only the slot it was writing, and the other still holds
/// the state before that change. It is written when an execution attempt starts, before it
/// runs, and when it ends. io_context calls only change memory; the next write or the clean
/// exit persists them, so the loop never waits for the disk. Thread-safe: the worker threads
/// call `started`/`finished`, the io_context thread the rest.
class InFlightLedger {
 public:
  /// Reads what the previous process left: if it did not exit cleanly, every record it was
  /// running counts one unclean exit more. Then writes the file for this process. An empty
  /// path turns the ledger off. Startup only; never throws (a damaged file is logged and
  /// started afresh, so it cannot keep the daemon from starting).
  explicit InFlightLedger(std::filesystem::path file);
  /// A clean exit: records keep their counts, nothing counts as running; the file goes away
  /// when no record has any count left.
  ~InFlightLedger();
  InFlightLedger(const InFlightLedger&) = delete;
  InFlightLedger& operator=(const InFlightLedger&) = delete;

  /// A record was consumed: returns the unclean exits counted against it. Forgets the counts
  /// of this partition's lower offsets that this process did not consume: consumption
  /// starts at the committed offset, so they were answered (by someone) long ago.
  int consumed(const RecordId& id);
  /// The record's answer was acknowledged: it is done, whatever its count.
  void answered(const RecordId& id);
  /// The record will execute under `run_id` (its job span id: one per delivery).
  void expect(const std::string& run_id, const RecordId& id);
  void forget(const std::string& run_id);

  /// An execution attempt of `run_id` starts: written to the file before this returns.
  void started(const std::string& run_id);
  /// The attempt ended without taking the process down: the record's count is cleared.
  void finished(const std::string& run_id);

 private:
  struct Entry {
    int unclean_exits = 0;
    bool running = false;
    bool consumed = false;  ///< by this process
  };

  /// Reads both slots; the newest whole one becomes the state, and the next write goes to the
  /// other.
  void load();
  /// Parses one slot into `records` and its sequence number; false when it is not whole.
  bool parse_slot(const std::string& text, std::map<RecordId, Entry>& records,
                  std::uint64_t& sequence, std::vector<std::string>& blamed) const;
  [[nodiscard]] std::filesystem::path slot_path(int slot) const;
  /// Applies `change` to the entries for `run_id`'s record (nothing for an unknown run), then
  /// writes the new state outside the state lock.
  void update_run(const std::string& run_id,
                  const std::function<void(std::map<RecordId, Entry>&, const RecordId&)>& change);
  /// Serializes the current state as snapshot number `version_`; call with `state_mutex_`
  /// held.
  [[nodiscard]] std::string snapshot(bool clean) const;
  /// Writes `content` unless a newer snapshot was written already.
  void write(const std::string& content, std::uint64_t version);
  /// Writes slot `slot` anew (temp file + rename) and keeps it open; with `write_mutex_` held.
  std::error_code replace(int slot, const std::string& content);
  /// Overwrites slot `slot`'s open file in place; with `write_mutex_` held.
  bool overwrite(int slot, const std::string& content);

  std::filesystem::path file_;
  std::mutex state_mutex_;
  std::map<RecordId, Entry> entries_;
  std::unordered_map<std::string, RecordId> runs_;
  std::uint64_t version_ = 0;  ///< the snapshot sequence number, continued across processes

  std::mutex write_mutex_;  ///< taken without `state_mutex_`, so the loop never waits on disk
  std::uint64_t written_version_ = 0;
  static constexpr int kSlots = 2;
  basics::FileDescriptor out_[kSlots];  ///< each slot as last written, overwritten in place
  std::size_t size_[kSlots] = {0, 0};   ///< their lengths
  int next_slot_ = 0;                   ///< never the slot holding the newest whole snapshot
  bool write_failing_ = false;
};

/// Runs `inner` with each attempt's record marked running in the ledger, so the daemon, not
/// the git code, owns what counts as in flight. Any thread, like the executor it wraps.
class InFlightExecutor final : public execution::Executor {
 public:
  InFlightExecutor(execution::Executor& inner, InFlightLedger& ledger)
      : inner_(inner), ledger_(ledger) {}

  tl::expected<jobs::ExecutionReport, jobs::JobError> execute(
      const jobs::Job& job, const observability::JobContext& ctx,
      const execution::ExecutionControl& control) override {
    ledger_.started(ctx.span_id);
    auto outcome = inner_.execute(job, ctx, control);
    ledger_.finished(ctx.span_id);
    return outcome;
  }

 private:
  execution::Executor& inner_;
  InFlightLedger& ledger_;
};

}  // namespace mgit::daemon
