#include "in_flight_ledger.hpp"

#include <rapidjson/document.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <limits>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "mgit/basics/json_escape.hpp"
#include "mgit/observability/log.hpp"
#include "state_file.hpp"

namespace mgit::daemon {

using observability::LogLevel;

namespace {

constexpr int kFormatVersion = 1;

bool pwrite_all(int fd, std::string_view content) {
  std::size_t done = 0;
  while (done < content.size()) {
    const auto n =
        ::pwrite(fd, content.data() + done, content.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// Whether `fd` is still the file at `path`, by that one name, `size` bytes long, as the
/// daemon left it. Workers can write beneath the workspace: a file renamed away, linked
/// elsewhere, replaced or appended to is not overwritten in place but written anew.
bool still_the_file(int fd, const std::filesystem::path& path, std::size_t size) {
  struct stat open_file {};
  struct stat at_path {};
  return ::fstat(fd, &open_file) == 0 && ::lstat(path.c_str(), &at_path) == 0 &&
         open_file.st_dev == at_path.st_dev && open_file.st_ino == at_path.st_ino &&
         open_file.st_nlink == 1 && S_ISREG(open_file.st_mode) &&
         static_cast<std::size_t>(open_file.st_size) == size;
}

std::string describe(const RecordId& id, int unclean_exits) {
  return id.source.topic + "[" + std::to_string(id.source.partition) + "]@" +
         std::to_string(id.offset) + " x" + std::to_string(unclean_exits);
}

}  // namespace

InFlightLedger::InFlightLedger(std::filesystem::path file) : file_(std::move(file)) {
  if (file_.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(file_.parent_path(), ec);
  // A failure shows again, and is logged, when the file is written below.
  load();
  std::string content;
  std::uint64_t version = 0;
  {
    std::lock_guard lock(state_mutex_);
    version = ++version_;
    content = snapshot(false);
  }
  write(content, version);
}

InFlightLedger::~InFlightLedger() {
  if (file_.empty()) return;
  try {
    std::string content;
    std::uint64_t version = 0;
    {
      std::lock_guard lock(state_mutex_);
      std::erase_if(entries_, [](const auto& entry) { return entry.second.unclean_exits == 0; });
      for (auto& [id, entry] : entries_) entry.running = false;
      version = ++version_;
      if (!entries_.empty()) content = snapshot(true);
    }
    if (!content.empty()) {
      write(content, version);
      return;
    }
    std::lock_guard lock(write_mutex_);
    for (int slot = 0; slot < kSlots; ++slot) {
      out_[slot].reset();
      remove_state_file(slot_path(slot));
    }
  } catch (const std::exception& e) {
    // A destructor must not throw; the next start then counts this exit as unclean.
    std::fprintf(stderr, "mgitd: in-flight file at exit: %s\n", e.what());
  }
}

std::filesystem::path InFlightLedger::slot_path(int slot) const {
  return slot == 0 ? file_ : std::filesystem::path(file_.string() + ".alt");
}

void InFlightLedger::load() {
  // A worker can write beneath the workspace, so each slot is read as state_file.hpp says:
  // only a regular file, never blocking, bounded.
  constexpr std::size_t kMaxLedgerBytes = std::size_t{16} * 1024 * 1024;
  std::optional<int> newest;
  std::uint64_t newest_sequence = 0;
  std::map<RecordId, Entry> newest_entries;
  std::vector<std::string> newest_blamed;
  std::vector<std::string> problems;
  for (int slot = 0; slot < kSlots; ++slot) {
    const auto read = read_state_file(slot_path(slot), kMaxLedgerBytes);
    if (!read && read.error() == "absent") continue;  // the first start, or a clean last exit
    if (!read) {
      problems.push_back(slot_path(slot).filename().string() + ": " + read.error());
      continue;
    }
    std::map<RecordId, Entry> records;
    std::uint64_t sequence = 0;
    std::vector<std::string> blamed;
    if (!parse_slot(*read, records, sequence, blamed)) {
      // Torn by a crash mid-write, or planted: the other slot has the state before it.
      problems.push_back(slot_path(slot).filename().string() + ": not a whole snapshot");
      continue;
    }
    if (!newest || sequence > newest_sequence) {
      newest = slot;
      newest_sequence = sequence;
      newest_entries = std::move(records);
      newest_blamed = std::move(blamed);
    }
  }
  if (!problems.empty()) {
    std::string list;
    for (const auto& item : problems) list += (list.empty() ? "" : "; ") + item;
    observability::log(LogLevel::kWarn,
                       newest ? "in-flight slot unreadable; reading the other"
                              : "in-flight file unreadable; starting without counts",
                       {{"file", file_.string()}, {"error", list}});
  }
  if (!newest) return;
  entries_ = std::move(newest_entries);
  version_ = newest_sequence;
  next_slot_ = (*newest + 1) % kSlots;  // the newest whole snapshot stays until the next is
  if (!newest_blamed.empty()) {
    std::string list;
    for (const auto& item : newest_blamed) list += (list.empty() ? "" : ", ") + item;
    observability::log(LogLevel::kWarn,
                       "the previous mgitd exited uncleanly while running records; counted",
                       {{"records", list}, {"poison_at", kPoisonUncleanExits}});
  }
}

bool InFlightLedger::parse_slot(const std::string& text, std::map<RecordId, Entry>& records,
                                std::uint64_t& sequence, std::vector<std::string>& blamed) const {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  if (!doc.HasMember("version") || !doc["version"].IsInt() ||
      doc["version"].GetInt() != kFormatVersion) {
    return false;
  }
  if (!doc.HasMember("clean") || !doc["clean"].IsBool() || !doc.HasMember("records") ||
      !doc["records"].IsArray()) {
    return false;
  }
  // The sequence number opens and closes a snapshot: a write torn between pages leaves the
  // new one's start before the old one's end, which can still be valid JSON. A file from
  // before the two slots has neither and counts as the oldest.
  sequence = 0;
  if (doc.HasMember("seq") || doc.HasMember("end")) {
    if (!doc.HasMember("seq") || !doc["seq"].IsUint64() || !doc.HasMember("end") ||
        !doc["end"].IsUint64() || doc["seq"].GetUint64() != doc["end"].GetUint64()) {
      return false;
    }
    sequence = doc["seq"].GetUint64();
    // Workers can write beneath the workspace: a planted number near the top would make this
    // process's numbers wrap, and its writes look older than the planted slot.
    constexpr std::uint64_t kMaxSequence = std::uint64_t{1} << 62U;
    if (sequence >= kMaxSequence) return false;
  }
  const bool clean = doc["clean"].GetBool();
  for (const auto& record : doc["records"].GetArray()) {
    if (!record.IsObject() || !record.HasMember("topic") || !record["topic"].IsString() ||
        !record.HasMember("partition") || !record["partition"].IsInt() ||
        !record.HasMember("offset") || !record["offset"].IsInt64() ||
        !record.HasMember("unclean_exits") || !record["unclean_exits"].IsInt() ||
        !record.HasMember("running") || !record["running"].IsBool()) {
      return false;
    }
    const RecordId id{{record["topic"].GetString(), record["partition"].GetInt()},
                      record["offset"].GetInt64()};
    Entry entry;
    entry.unclean_exits = record["unclean_exits"].GetInt();
    if (!clean && record["running"].GetBool()) {
      ++entry.unclean_exits;
      blamed.push_back(describe(id, entry.unclean_exits));
    }
    if (entry.unclean_exits > 0) records[id] = entry;
  }
  return true;
}

std::string InFlightLedger::snapshot(bool clean) const {
  const std::string sequence = std::to_string(version_);
  std::string out = "{\"version\":" + std::to_string(kFormatVersion) + ",\"seq\":" + sequence +
                    ",\"clean\":" + (clean ? "true" : "false") + ",\"records\":[";
  bool first = true;
  for (const auto& [id, entry] : entries_) {
    if (!entry.running && entry.unclean_exits == 0) continue;
    out += first ? R"({"topic":")" : R"(,{"topic":")";
    first = false;
    basics::append_json_escaped(out, id.source.topic);
    out += R"(","partition":)" + std::to_string(id.source.partition) +
           ",\"offset\":" + std::to_string(id.offset) +
           ",\"unclean_exits\":" + std::to_string(entry.unclean_exits) +
           ",\"running\":" + (entry.running ? "true" : "false") + "}";
  }
  out += "],\"end\":" + sequence + "}\n";
  return out;
}

void InFlightLedger::write(const std::string& content, std::uint64_t version) {
  std::lock_guard lock(write_mutex_);
  // A later snapshot holds every change this one does.
  if (version <= written_version_) return;
  // A worker removed, moved, linked, replaced or appended to the slot: write a new one, or the
  // next start reads nothing (or what the worker planted).
  const int slot = next_slot_;
  if (out_[slot] && !still_the_file(out_[slot].get(), slot_path(slot), size_[slot])) {
    out_[slot].reset();
  }
  std::error_code ec;
  if (out_[slot]) {
    if (!overwrite(slot, content)) ec = std::make_error_code(std::errc::io_error);
  } else {
    ec = replace(slot, content);
  }
  if (ec) {
    // Poison detection is off until the disk takes writes again; one line per change.
    if (!write_failing_) {
      observability::log(LogLevel::kWarn,
                         "cannot write the in-flight file; poison records go undetected",
                         {{"file", file_.string()}, {"error", ec.message()}});
    }
    write_failing_ = true;
    out_[slot].reset();
    return;  // the same slot again next time: the other one still holds the last whole state
  }
  if (write_failing_) {
    observability::log(LogLevel::kInfo, "in-flight file written again", {{"file", file_.string()}});
  }
  write_failing_ = false;
  written_version_ = version;
  next_slot_ = (slot + 1) % kSlots;
}

std::error_code InFlightLedger::replace(int slot, const std::string& content) {
  const auto path = slot_path(slot);
  const auto temp = std::filesystem::path(path.string() + ".tmp");
  // Workers may write beneath the workspace: the temp file is the daemon's own new regular
  // file whatever a worker planted at its name (state_file.hpp).
  auto out = create_state_file(temp);
  if (!out || !write_all(out->get(), content)) return std::make_error_code(std::errc::io_error);
  if (!replace_state_file(temp, path)) return std::make_error_code(std::errc::io_error);
  // The descriptor now names the slot itself: later writes overwrite it in place.
  out_[slot] = std::move(*out);
  size_[slot] = content.size();
  return {};
}

bool InFlightLedger::overwrite(int slot, const std::string& content) {
  // In place rather than temp file + rename: on ext4 a rename over a file writes the new
  // file's blocks out (auto_da_alloc) and frees the old inode's (a discard on some mounts),
  // twice per job. Spaces pad a shorter snapshot to the old length; a much shorter one is
  // truncated after.
  std::string padded = content;
  if (padded.size() < size_[slot]) padded.append(size_[slot] - padded.size(), ' ');
  const int fd = out_[slot].get();
  if (!pwrite_all(fd, padded)) return false;
  size_[slot] = padded.size();
  constexpr std::size_t kSlack = 4096;
  if (size_[slot] > content.size() + kSlack) {
    if (::ftruncate(fd, static_cast<off_t>(content.size())) != 0) return false;
    size_[slot] = content.size();
  }
  return true;
}

int InFlightLedger::consumed(const RecordId& id) {
  if (file_.empty()) return 0;
  std::lock_guard lock(state_mutex_);
  if (entries_.empty()) return 0;
  auto it = entries_.lower_bound(RecordId{id.source, std::numeric_limits<std::int64_t>::min()});
  while (it != entries_.end() && it->first.source == id.source && it->first.offset < id.offset) {
    if (!it->second.consumed && !it->second.running) {
      it = entries_.erase(it);
      ++version_;
    } else {
      ++it;
    }
  }
  const auto found = entries_.find(id);
  if (found == entries_.end()) return 0;
  found->second.consumed = true;
  return found->second.unclean_exits;
}

void InFlightLedger::answered(const RecordId& id) {
  if (file_.empty()) return;
  std::lock_guard lock(state_mutex_);
  if (entries_.erase(id) > 0) ++version_;
}

void InFlightLedger::expect(const std::string& run_id, const RecordId& id) {
  if (file_.empty()) return;
  std::lock_guard lock(state_mutex_);
  runs_.insert_or_assign(run_id, id);
}

void InFlightLedger::forget(const std::string& run_id) {
  if (file_.empty()) return;
  std::lock_guard lock(state_mutex_);
  runs_.erase(run_id);
}

void InFlightLedger::started(const std::string& run_id) {
  update_run(run_id, [](std::map<RecordId, Entry>& entries, const RecordId& id) {
    entries[id].running = true;
  });
}

void InFlightLedger::finished(const std::string& run_id) {
  update_run(run_id,
             [](std::map<RecordId, Entry>& entries, const RecordId& id) { entries.erase(id); });
}

void InFlightLedger::update_run(
    const std::string& run_id,
    const std::function<void(std::map<RecordId, Entry>&, const RecordId&)>& change) {
  if (file_.empty()) return;
  std::string content;
  std::uint64_t version = 0;
  {
    std::lock_guard lock(state_mutex_);
    const auto run = runs_.find(run_id);
    if (run == runs_.end()) return;
    change(entries_, run->second);
    version = ++version_;
    content = snapshot(false);
  }
  write(content, version);
}

}  // namespace mgit::daemon
