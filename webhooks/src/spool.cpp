#include "mgit/webhooks/spool.hpp"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <optional>

#include "mgit/basics/file_descriptor.hpp"

namespace mgit::webhooks {
namespace {

constexpr std::string_view kSuffix = ".json";
constexpr std::size_t kMaxSpoolFileBytes = std::size_t{4} << 20;

std::string error_text(const std::string& what) { return what + ": " + std::strerror(errno); }

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto wrote = ::write(fd, data.data(), data.size());
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(wrote));
  }
  return true;
}

std::string encode(const SpooledRecord& record) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  const auto string = [&out](std::string_view text) {
    out.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  };
  out.StartObject();
  out.Key("job_id");
  string(record.job_id);
  out.Key("key");
  string(record.key);
  out.Key("payload");
  string(record.payload);
  out.Key("headers");
  out.StartArray();
  for (const auto& [name, value] : record.headers) {
    out.StartArray();
    string(name);
    string(value);
    out.EndArray();
  }
  out.EndArray();
  out.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

std::optional<SpooledRecord> decode(std::string_view text) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (document.HasParseError() || !document.IsObject()) return std::nullopt;
  // Const iterators: clang 14 finds the mutable ones' operator== ambiguous in C++20.
  const rapidjson::Value& root = document;
  const auto string = [&root](const char* name) -> std::optional<std::string> {
    const auto found = root.FindMember(name);
    if (found == root.MemberEnd() || !found->value.IsString()) return std::nullopt;
    return std::string(found->value.GetString(), found->value.GetStringLength());
  };
  SpooledRecord record;
  auto job_id = string("job_id");
  auto key = string("key");
  auto payload = string("payload");
  const auto headers = root.FindMember("headers");
  if (!job_id || !key || !payload || headers == root.MemberEnd() || !headers->value.IsArray()) {
    return std::nullopt;
  }
  record.job_id = std::move(*job_id);
  record.key = std::move(*key);
  record.payload = std::move(*payload);
  for (const auto& pair : headers->value.GetArray()) {
    if (!pair.IsArray() || pair.Size() != 2 || !pair[0].IsString() || !pair[1].IsString()) {
      return std::nullopt;
    }
    record.headers.emplace_back(std::string(pair[0].GetString(), pair[0].GetStringLength()),
                                std::string(pair[1].GetString(), pair[1].GetStringLength()));
  }
  return record;
}

}  // namespace

tl::expected<Spool, std::string> Spool::open(std::filesystem::path directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return tl::make_unexpected("cannot create the webhook spool " + directory.string() + ": " +
                               error.message());
  }
  std::filesystem::permissions(directory, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, error);
  if (!std::filesystem::is_directory(directory)) {
    return tl::make_unexpected("the webhook spool " + directory.string() + " is not a directory");
  }
  // Only this process writes here: a temporary is what a crash left mid-write (never answered).
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    if (entry.path().filename().string().rfind(".tmp-", 0) == 0) {
      std::filesystem::remove(entry.path(), error);
    }
  }
  return Spool(std::move(directory));
}

std::filesystem::path Spool::file_of(const std::string& job_id) const {
  return directory_ / (job_id + std::string(kSuffix));
}

tl::expected<void, std::string> Spool::write(const SpooledRecord& record) {
  const auto final_path = file_of(record.job_id);
  const auto temporary = directory_ / (".tmp-" + record.job_id);
  const auto text = encode(record);
  {
    basics::FileDescriptor fd(
        ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return tl::make_unexpected(error_text("cannot create " + temporary.string()));
    if (!write_all(fd.get(), text) || ::fsync(fd.get()) != 0) {
      auto message = error_text("cannot write " + temporary.string());
      ::unlink(temporary.c_str());
      return tl::make_unexpected(message);
    }
  }
  if (::rename(temporary.c_str(), final_path.c_str()) != 0) {
    auto message = error_text("cannot rename into " + final_path.string());
    ::unlink(temporary.c_str());
    return tl::make_unexpected(message);
  }
  // The rename is durable only once the directory is.
  basics::FileDescriptor directory(::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!directory || ::fsync(directory.get()) != 0) {
    return tl::make_unexpected(error_text("cannot fsync " + directory_.string()));
  }
  return {};
}

std::vector<std::string> Spool::job_ids() const {
  std::vector<std::pair<std::filesystem::file_time_type, std::string>> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory_, error)) {
    const auto name = entry.path().filename().string();
    if (name.size() <= kSuffix.size() || name.front() == '.' ||
        name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
      continue;
    }
    std::error_code ignored;
    found.emplace_back(entry.last_write_time(ignored),
                       name.substr(0, name.size() - kSuffix.size()));
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> ids;
  ids.reserve(found.size());
  for (auto& [time, id] : found) ids.push_back(std::move(id));
  return ids;
}

tl::expected<SpooledRecord, SpoolReadError> Spool::read(const std::string& job_id) const {
  const auto path = file_of(job_id);
  const auto set_aside = [&path](const std::string& why) {
    std::error_code ignored;
    std::filesystem::rename(path, path.string() + ".corrupt", ignored);
    return tl::make_unexpected(SpoolReadError{
        "webhook spool file " + path.string() + " " + why + "; kept as .corrupt", true});
  };
  // O_NONBLOCK: a FIFO planted under the workspace must not hang the spool's thread.
  basics::FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ELOOP) return set_aside("is a symlink");
    return tl::make_unexpected(SpoolReadError{error_text("cannot open " + path.string()), false});
  }
  struct stat status {};
  if (::fstat(fd.get(), &status) != 0) {
    return tl::make_unexpected(SpoolReadError{error_text("cannot stat " + path.string()), false});
  }
  if (!S_ISREG(status.st_mode)) return set_aside("is not a regular file");
  if (static_cast<std::size_t>(status.st_size) > kMaxSpoolFileBytes)
    return set_aside("is too large");
  std::string text(static_cast<std::size_t>(status.st_size), '\0');
  std::size_t used = 0;
  while (used < text.size()) {
    const auto got = ::read(fd.get(), text.data() + used, text.size() - used);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      return tl::make_unexpected(SpoolReadError{error_text("cannot read " + path.string()), false});
    }
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
  }
  text.resize(used);
  auto record = decode(text);
  if (!record || record->job_id != job_id) return set_aside("is not a spooled record");
  return std::move(*record);
}

void Spool::remove(const std::string& job_id) {
  std::error_code ignored;
  std::filesystem::remove(file_of(job_id), ignored);
}

bool Spool::contains(const std::string& job_id) const {
  std::error_code ignored;
  return std::filesystem::exists(file_of(job_id), ignored);
}

}  // namespace mgit::webhooks
