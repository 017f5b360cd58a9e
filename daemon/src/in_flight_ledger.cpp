#include "in_flight_ledger.hpp"

#include <rapidjson/document.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <limits>
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
    out_.reset();
    remove_state_file(file_);
  } catch (const std::exception& e) {
    // A destructor must not throw; the next start then counts this exit as unclean.
    std::fprintf(stderr, "mgitd: in-flight file at exit: %s\n", e.what());
  }
}

void InFlightLedger::load() {
  // A worker can write beneath the workspace, so the file is read as state_file.hpp says:
  // only a regular file, never blocking, bounded.
  constexpr std::size_t kMaxLedgerBytes = std::size_t{16} * 1024 * 1024;
  const auto read = read_state_file(file_, kMaxLedgerBytes);
  if (!read && read.error() == "absent") return;  // the first start, or a clean last exit
  if (!read) {
    observability::log(LogLevel::kWarn, "in-flight file unreadable; starting without counts",
                       {{"file", file_.string()}, {"error", read.error()}});
    return;
  }
  const std::string& text = *read;
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  const auto damaged = [&](const char* why) {
    observability::log(LogLevel::kWarn, "in-flight file unreadable; starting without counts",
                       {{"file", file_.string()}, {"error", why}});
    entries_.clear();
  };
  if (doc.HasParseError() || !doc.IsObject()) return damaged("not a JSON object");
  if (!doc.HasMember("version") || !doc["version"].IsInt() ||
      doc["version"].GetInt() != kFormatVersion) {
    return damaged("unknown version");
  }
  if (!doc.HasMember("clean") || !doc["clean"].IsBool() || !doc.HasMember("records") ||
      !doc["records"].IsArray()) {
    return damaged("missing clean or records");
  }
  const bool clean = doc["clean"].GetBool();
  std::vector<std::string> blamed;
  for (const auto& record : doc["records"].GetArray()) {
    if (!record.IsObject() || !record.HasMember("topic") || !record["topic"].IsString() ||
        !record.HasMember("partition") || !record["partition"].IsInt() ||
        !record.HasMember("offset") || !record["offset"].IsInt64() ||
        !record.HasMember("unclean_exits") || !record["unclean_exits"].IsInt() ||
        !record.HasMember("running") || !record["running"].IsBool()) {
      return damaged("malformed record");
    }
    const RecordId id{{record["topic"].GetString(), record["partition"].GetInt()},
                      record["offset"].GetInt64()};
    Entry entry;
    entry.unclean_exits = record["unclean_exits"].GetInt();
    if (!clean && record["running"].GetBool()) {
      ++entry.unclean_exits;
      blamed.push_back(describe(id, entry.unclean_exits));
    }
    if (entry.unclean_exits > 0) entries_[id] = entry;
  }
  if (!blamed.empty()) {
    std::string list;
    for (const auto& item : blamed) list += (list.empty() ? "" : ", ") + item;
    observability::log(LogLevel::kWarn,
                       "the previous mgitd exited uncleanly while running records; counted",
                       {{"records", list}, {"poison_at", kPoisonUncleanExits}});
  }
}

std::string InFlightLedger::snapshot(bool clean) const {
  std::string out = "{\"version\":" + std::to_string(kFormatVersion) +
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
  out += "]}\n";
  return out;
}

void InFlightLedger::write(const std::string& content, std::uint64_t version) {
  std::lock_guard lock(write_mutex_);
  // A later snapshot holds every change this one does.
  if (version <= written_version_) return;
  // A worker removed, moved, linked, replaced or appended to the file: write a new one, or the
  // next start reads nothing (or what the worker planted).
  if (out_ && !still_the_file(out_.get(), file_, size_)) out_.reset();
  std::error_code ec;
  if (out_) {
    if (!overwrite(content)) ec = std::make_error_code(std::errc::io_error);
  } else {
    ec = replace(content);
  }
  if (ec) {
    // Poison detection is off until the disk takes writes again; one line per change.
    if (!write_failing_) {
      observability::log(LogLevel::kWarn,
                         "cannot write the in-flight file; poison records go undetected",
                         {{"file", file_.string()}, {"error", ec.message()}});
    }
    write_failing_ = true;
    out_.reset();
    return;
  }
  if (write_failing_) {
    observability::log(LogLevel::kInfo, "in-flight file written again", {{"file", file_.string()}});
  }
  write_failing_ = false;
  written_version_ = version;
}

std::error_code InFlightLedger::replace(const std::string& content) {
  const auto temp = std::filesystem::path(file_.string() + ".tmp");
  // Workers may write beneath the workspace: the temp file is the daemon's own new regular
  // file whatever a worker planted at its name (state_file.hpp).
  auto out = create_state_file(temp);
  if (!out || !write_all(out->get(), content)) return std::make_error_code(std::errc::io_error);
  if (!replace_state_file(temp, file_)) return std::make_error_code(std::errc::io_error);
  // The descriptor now names the file itself: later writes overwrite it in place.
  out_ = std::move(*out);
  size_ = content.size();
  return {};
}

bool InFlightLedger::overwrite(const std::string& content) {
  // In place rather than temp file + rename: on ext4 a rename over a file writes the new
  // file's blocks out (auto_da_alloc) and frees the old inode's (a discard on some mounts),
  // twice per job. Spaces pad a shorter snapshot to the old length, so the file is a whole
  // JSON document at every moment; a much shorter one is truncated after.
  std::string padded = content;
  if (padded.size() < size_) padded.append(size_ - padded.size(), ' ');
  if (!pwrite_all(out_.get(), padded)) return false;
  size_ = padded.size();
  constexpr std::size_t kSlack = 4096;
  if (size_ > content.size() + kSlack) {
    if (::ftruncate(out_.get(), static_cast<off_t>(content.size())) != 0) return false;
    size_ = content.size();
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
