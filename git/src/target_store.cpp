#include "mgit/git/target_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "mgit/basics/file_descriptor.hpp"
#include "mgit/observability/log.hpp"

namespace mgit::git {
namespace {

constexpr auto kLockPoll = std::chrono::milliseconds(20);
constexpr std::string_view kSchema = "mgit.target/v1";

jobs::JobError internal(std::string message) {
  return jobs::JobError{jobs::ErrorCode::kInternal, std::move(message)};
}

std::string sha256_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

std::optional<jobs::ErrorCode> parse_error_code(std::string_view text) {
  for (const jobs::ErrorCode code :
       {jobs::ErrorCode::kInvalidJob, jobs::ErrorCode::kPolicyDenied, jobs::ErrorCode::kAuthFailed,
        jobs::ErrorCode::kNotFound, jobs::ErrorCode::kNetwork, jobs::ErrorCode::kTimeout,
        jobs::ErrorCode::kConflict, jobs::ErrorCode::kDiskFull, jobs::ErrorCode::kRateLimited,
        jobs::ErrorCode::kInternal}) {
    if (jobs::to_string(code) == text) return code;
  }
  return std::nullopt;
}

// Member lookups go through HasMember: comparing RapidJSON's member iterators is ambiguous
// under C++20's reversed operators (clang rejects it).
std::string string_member(const rapidjson::Value& object, const char* name) {
  if (!object.HasMember(name)) return {};
  const rapidjson::Value& value = object[name];
  if (!value.IsString()) return {};
  return {value.GetString(), value.GetStringLength()};
}

/// Where a record file lives, relative to the workspace: messages reach job results, which
/// must not reveal the daemon's filesystem layout.
std::string relative_name(const std::filesystem::path& file) {
  return ".mgitd/targets/" + file.filename().string();
}

bool is_string_member(const rapidjson::Value& object, const char* name) {
  return object.HasMember(name) && object[name].IsString();
}

/// The record in `document`, or nothing when it does not have the shape `serialize` writes
/// (a truncated write, a hand edit, another program's file).
std::optional<TargetRecord> parse_record(const rapidjson::Document& document,
                                         std::string_view target) {
  if (!document.IsObject() || string_member(document, "schema") != kSchema ||
      !is_string_member(document, "target") || !is_string_member(document, "repository_key")) {
    return std::nullopt;
  }
  TargetRecord record;
  record.target = string_member(document, "target");
  record.repository_key = string_member(document, "repository_key");
  if (record.target != target) return std::nullopt;
  if (document.HasMember("served")) {
    if (!document["served"].IsArray()) return std::nullopt;
    for (const auto& entry : document["served"].GetArray()) {
      if (!entry.IsObject() || !is_string_member(entry, "job_id")) return std::nullopt;
      const std::string status = string_member(entry, "status");
      if (status != "succeeded" && status != "failed") return std::nullopt;
      ServedJob job;
      job.job_id = string_member(entry, "job_id");
      job.head_ref = string_member(entry, "head_ref");
      job.head_oid = string_member(entry, "head_oid");
      if (status == "failed") {
        job.error = jobs::JobError{parse_error_code(string_member(entry, "error_code"))
                                       .value_or(jobs::ErrorCode::kInternal),
                                   string_member(entry, "error_message")};
      }
      record.served.push_back(std::move(job));
    }
  }
  return record;
}

/// The file's bytes, nothing when it does not exist, or the errno of the failure.
tl::expected<std::optional<std::string>, int> read_whole_file(const std::filesystem::path& path) {
  const basics::FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>();
    return tl::make_unexpected(errno);
  }
  std::string content;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tl::make_unexpected(errno);
    if (n == 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
  }
  return std::optional<std::string>(std::move(content));
}

std::string serialize(const TargetRecord& record) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  const auto string = [&](std::string_view text) {
    writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  };
  writer.StartObject();
  writer.Key("schema");
  string(kSchema);
  writer.Key("target");
  string(record.target);
  writer.Key("repository_key");
  string(record.repository_key);
  writer.Key("served");
  writer.StartArray();
  for (const ServedJob& job : record.served) {
    writer.StartObject();
    writer.Key("job_id");
    string(job.job_id);
    writer.Key("status");
    string(job.error ? "failed" : "succeeded");
    if (job.error) {
      writer.Key("error_code");
      string(jobs::to_string(job.error->code));
      writer.Key("error_message");
      string(job.error->message);
    }
    writer.Key("head_ref");
    string(job.head_ref);
    writer.Key("head_oid");
    string(job.head_oid);
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

tl::expected<void, jobs::JobError> sync_directory(const std::filesystem::path& directory) {
  const basics::FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return tl::make_unexpected(internal("cannot open target record directory"));
  if (::fsync(fd.get()) != 0)
    return tl::make_unexpected(internal("cannot sync target record directory"));
  return {};
}

}  // namespace

const ServedJob* TargetRecord::find(std::string_view job_id) const {
  for (const ServedJob& job : served) {
    if (job.job_id == job_id) return &job;
  }
  return nullptr;
}

void TargetRecord::add(ServedJob job) {
  std::erase_if(served, [&](const ServedJob& s) { return s.job_id == job.job_id; });
  served.push_back(std::move(job));
  if (served.size() > TargetStore::kMaxServed) {
    served.erase(served.begin(), served.begin() + static_cast<std::ptrdiff_t>(
                                                      served.size() - TargetStore::kMaxServed));
  }
}

TargetStore::TargetStore(const std::filesystem::path& workspace)
    : directory_(workspace / ".mgitd" / "targets") {}

std::filesystem::path TargetStore::file_stem(std::string_view target) const {
  return directory_ / sha256_hex(target);
}

tl::expected<std::optional<TargetRecord>, jobs::JobError> TargetStore::load(
    std::string_view target) const {
  std::filesystem::path path = file_stem(target);
  path += ".json";
  auto content = read_whole_file(path);
  if (!content) {
    return tl::make_unexpected(internal(fmt::format(
        "cannot read target record {}: {}", relative_name(path), std::strerror(content.error()))));
  }
  if (!content->has_value()) return std::optional<TargetRecord>();
  const std::string& text = **content;
  rapidjson::Document document;
  document.Parse(text.data(), text.size());
  if (!document.HasParseError()) {
    if (auto record = parse_record(document, target)) return record;
  }

  // A corrupt record must not fail every later job on the target until someone intervenes:
  // it is kept for inspection and the target starts over. The executor re-derives the
  // binding from the repository itself; only the redelivery memory is lost.
  std::filesystem::path aside = path;
  aside += fmt::format(".corrupt-{}", std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  std::error_code ec;
  std::filesystem::rename(path, aside, ec);
  if (ec) {
    return tl::make_unexpected(
        internal(fmt::format("target record {} is corrupt and cannot be moved aside: {}",
                             relative_name(path), ec.message())));
  }
  const std::string moved_to = relative_name(aside);
  observability::log(observability::LogLevel::kError, "target record corrupt; moved aside",
                     {{"target", target}, {"moved_to", moved_to}});
  return std::optional<TargetRecord>(TargetRecord{std::string(target), {}, {}});
}

tl::expected<void, jobs::JobError> TargetStore::save(const TargetRecord& record) const {
  std::error_code ec;
  std::filesystem::create_directories(directory_, ec);
  if (ec) {
    return tl::make_unexpected(
        internal(fmt::format("cannot create .mgitd/targets: {}", ec.message())));
  }
  std::filesystem::path path = file_stem(record.target);
  path += ".json";
  std::filesystem::path temp = path;
  temp += fmt::format(".tmp.{}.{}", ::getpid(), std::random_device{}());

  const std::string content = serialize(record);
  basics::FileDescriptor fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
  if (!fd) {
    return tl::make_unexpected(
        internal(fmt::format("cannot create {}: {}", relative_name(temp), std::strerror(errno))));
  }
  // Each failing call's errno is taken right after it: close() and unlink() may change it.
  int err = 0;
  std::size_t written = 0;
  while (err == 0 && written < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
    } else if (n == 0) {
      err = EIO;  // write(2) returns 0 for a non-empty buffer only on a broken device
    } else {
      written += static_cast<std::size_t>(n);
    }
  }
  if (err == 0 && ::fsync(fd.get()) != 0) err = errno;
  // Closed here, not by the owner, because a failing close() can report a lost write.
  if (::close(fd.release()) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(temp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(temp.c_str());
    if (err == ENOSPC || err == EDQUOT || err == EFBIG) {
      return tl::make_unexpected(
          jobs::JobError{jobs::ErrorCode::kDiskFull, "no space to write target record"});
    }
    return tl::make_unexpected(
        internal(fmt::format("cannot write {}: {}", relative_name(path), std::strerror(err))));
  }
  return sync_directory(directory_);
}

tl::expected<TargetLock, jobs::JobError> TargetStore::lock(
    std::string_view target, const execution::ExecutionControl& control) const {
  std::error_code ec;
  std::filesystem::create_directories(directory_, ec);
  if (ec) {
    return tl::make_unexpected(
        internal(fmt::format("cannot create .mgitd/targets: {}", ec.message())));
  }
  std::filesystem::path path = file_stem(target);
  path += ".lock";
  basics::FileDescriptor fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
  if (!fd) {
    return tl::make_unexpected(internal(
        fmt::format("cannot open lock {}: {}", relative_name(path), std::strerror(errno))));
  }
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return tl::make_unexpected(
          internal(fmt::format("cannot lock {}: {}", relative_name(path), std::strerror(errno))));
    }
    if (control.should_stop()) {
      return tl::make_unexpected(control.stop_error("while waiting for the target lock"));
    }
    std::this_thread::sleep_for(kLockPoll);
  }
  return TargetLock(std::move(fd));
}

}  // namespace mgit::git
