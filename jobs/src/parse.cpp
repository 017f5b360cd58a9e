// Parsing and validation of `mgit.sync-job/v1` (docs/job-schema.md is the reference).
#include "mgit/jobs/parse.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mgit/basics/ascii.hpp"
#include "mgit/jobs/repository_key.hpp"
#include "mgit/jobs/target.hpp"
#include "mgit/security/credentials.hpp"
#include "mgit/security/redaction.hpp"
#include "rfc3339.hpp"

namespace mgit::jobs {
namespace {

using rapidjson::Value;

constexpr std::string_view kSchema = "mgit.sync-job/v1";
constexpr std::size_t kMaxJobIdChars = 128;
constexpr std::size_t kMaxCorrelationIdChars = 128;
constexpr std::size_t kMaxRefChars = 255;
constexpr std::size_t kMaxRequestedByChars = 256;
constexpr std::int64_t kMaxTimeoutSeconds = 86400;

// Iterative parsing keeps deeply nested input off the call stack; encoding validation keeps
// invalid UTF-8 out of results and logs, where it would be echoed.
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

std::string_view view(const Value& value) {
  return {value.GetString(), static_cast<std::size_t>(value.GetStringLength())};
}

const Value* find(const Value& object, std::string_view name) {
  const Value key(rapidjson::StringRef(name.data(), name.size()));
  const auto it = object.FindMember(key);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

/// Optional fields: absent and `null` both mean "not given".
const Value* find_optional(const Value& object, std::string_view name) {
  const Value* value = find(object, name);
  return value != nullptr && !value->IsNull() ? value : nullptr;
}

JobError invalid(std::string message) { return {ErrorCode::kInvalidJob, std::move(message)}; }

bool valid_job_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxJobIdChars) return false;
  for (char c : id) {
    const bool ok = basics::is_ascii_alnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool printable_ascii(std::string_view text, std::size_t max_chars) {
  if (text.size() > max_chars) return false;
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/// A job without its own `correlation_id` takes the intake header's, else its `job_id`.
void default_correlation_id(Job& job, std::string_view header_correlation_id) {
  if (!job.correlation_id.empty()) return;
  const bool usable = !header_correlation_id.empty() &&
                      printable_ascii(header_correlation_id, kMaxCorrelationIdChars);
  job.correlation_id = usable ? std::string(header_correlation_id) : job.job_id;
}

/// The subset of git-check-ref-format rules that matter for a name passed on to libgit2
/// and never to a shell: accepts `main`, `v1.2`, `refs/heads/x` and commit ids.
bool valid_ref(std::string_view ref) {
  if (ref.empty() || ref.size() > kMaxRefChars) return false;
  if (ref.front() == '-' || ref.front() == '/' || ref.back() == '/' || ref.back() == '.') {
    return false;
  }
  if (ref == "@" || ref.ends_with(".lock")) return false;
  if (ref.find("..") != std::string_view::npos || ref.find("//") != std::string_view::npos ||
      ref.find("@{") != std::string_view::npos || ref.find("/.") != std::string_view::npos ||
      ref.front() == '.') {
    return false;
  }
  for (char c : ref) {
    if (basics::is_ascii_control(c) || c == ' ') return false;
    if (std::string_view("~^:?*[\\").find(c) != std::string_view::npos) return false;
  }
  return true;
}

bool supported_schema(std::string_view schema) {
  if (schema == kSchema) return true;
  // Minor versions only add optional fields, so v1.N is readable as v1.
  if (!schema.starts_with(kSchema) || schema.size() < kSchema.size() + 2) return false;
  if (schema[kSchema.size()] != '.') return false;
  for (char c : schema.substr(kSchema.size() + 1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// --- fields ------------------------------------------------------------------------------

tl::expected<bool, JobError> read_bool(const Value& options, std::string_view name, bool fallback) {
  const Value* value = find_optional(options, name);
  if (value == nullptr) return fallback;
  if (!value->IsBool())
    return tl::unexpected(invalid("options." + std::string(name) + ": must be a boolean"));
  return value->GetBool();
}

std::optional<JobError> read_options(const Value& doc, Job& job) {
  const Value* options = find_optional(doc, "options");
  if (options == nullptr) {
    if (job.operation == Operation::kMirror) job.options.bare = true;
    return std::nullopt;
  }
  if (!options->IsObject()) return invalid("options: must be an object");

  auto prune = read_bool(*options, "prune", true);
  if (!prune) return prune.error();
  job.options.prune = *prune;

  auto bare = read_bool(*options, "bare", false);
  if (!bare) return bare.error();
  if (job.operation == Operation::kMirror) {
    if (find_optional(*options, "bare") != nullptr && !*bare) {
      return invalid("options.bare: a mirror is always bare");
    }
    job.options.bare = true;
  } else {
    job.options.bare = *bare;
  }

  if (const Value* depth = find_optional(*options, "depth")) {
    if (!depth->IsInt64() && !depth->IsUint64()) {
      return invalid("options.depth: must be an integer");
    }
    if (!depth->IsInt64() || depth->GetInt64() != 0) {
      return invalid("options.depth: shallow fetches are not supported");
    }
  }
  job.options.depth = 0;

  if (const Value* timeout = find_optional(*options, "timeout_seconds")) {
    if (!timeout->IsInt64() || timeout->GetInt64() < 1 ||
        timeout->GetInt64() > kMaxTimeoutSeconds) {
      return invalid("options.timeout_seconds: must be an integer between 1 and 86400");
    }
    job.options.timeout_seconds = static_cast<int>(timeout->GetInt64());
  }

  auto submodules = read_bool(*options, "submodules", false);
  if (!submodules) return submodules.error();
  if (*submodules) return invalid("options.submodules: submodules are not supported");
  job.options.submodules = false;

  auto ref_backup = read_bool(*options, "ref_backup", true);
  if (!ref_backup) return ref_backup.error();
  job.options.ref_backup = *ref_backup;
  return std::nullopt;
}

std::optional<JobError> read_repository(const Value& doc, Job& job) {
  const Value* repository = find_optional(doc, "repository");
  if (repository == nullptr) return invalid("repository: is required");
  if (!repository->IsObject()) return invalid("repository: must be an object");
  const Value* url = find_optional(*repository, "url");
  if (url == nullptr) return invalid("repository.url: is required");
  if (!url->IsString()) return invalid("repository.url: must be a string");
  auto key = normalize_repository_url(view(*url));
  if (!key) return key.error();
  job.repository_url = std::string(view(*url));
  job.repository_key = std::move(*key);

  if (const Value* credential = find_optional(*repository, "credential")) {
    if (!credential->IsString()) return invalid("repository.credential: must be a string");
    if (!security::is_valid_credential_name(view(*credential))) {
      return invalid(
          "repository.credential: must be 1-128 characters of [A-Za-z0-9._-], not starting "
          "with '.'");
    }
    job.credential = std::string(view(*credential));
  }
  return std::nullopt;
}

std::optional<JobError> read_target(const Value& doc, Job& job) {
  if (const Value* target = find_optional(doc, "target")) {
    if (!target->IsString()) return invalid("target: must be a string");
    auto valid = validate_target(view(*target));
    if (!valid) return valid.error();
    job.target = std::move(*valid);
    return std::nullopt;
  }
  auto derived = validate_target(default_target(job.repository_key));
  if (!derived) {
    return invalid("target: cannot derive a default from repository.url (" +
                   derived.error().message + "); set target explicitly");
  }
  job.target = std::move(*derived);
  return std::nullopt;
}

/// Validates every field into `job`, stopping at the first problem.
std::optional<JobError> read_job(const Value& doc, std::string_view header_correlation_id,
                                 Job& job) {
  const Value* schema = find_optional(doc, "schema");
  if (schema == nullptr) return invalid("schema: is required");
  if (!schema->IsString()) return invalid("schema: must be a string");
  if (!supported_schema(view(*schema))) {
    return invalid("schema: unsupported schema; expected mgit.sync-job/v1");
  }

  if (const Value* correlation_id = find_optional(doc, "correlation_id")) {
    if (!correlation_id->IsString()) return invalid("correlation_id: must be a string");
    if (!printable_ascii(view(*correlation_id), kMaxCorrelationIdChars)) {
      return invalid("correlation_id: must be at most 128 printable ASCII characters");
    }
    job.correlation_id = std::string(view(*correlation_id));
  }
  default_correlation_id(job, header_correlation_id);

  const Value* operation = find_optional(doc, "operation");
  if (operation == nullptr) return invalid("operation: is required");
  const auto parsed_operation =
      operation->IsString() ? parse_operation(view(*operation)) : std::nullopt;
  if (!parsed_operation) return invalid("operation: must be one of clone, fetch, sync, mirror");
  job.operation = *parsed_operation;

  if (auto error = read_repository(doc, job)) return error;

  if (const Value* ref = find_optional(doc, "ref")) {
    if (!ref->IsString()) return invalid("ref: must be a string");
    if (!valid_ref(view(*ref))) {
      return invalid("ref: must be a valid git ref name of at most 255 characters");
    }
    job.ref = std::string(view(*ref));
  }

  if (auto error = read_target(doc, job)) return error;
  if (auto error = read_options(doc, job)) return error;

  if (const Value* not_after = find_optional(doc, "not_after")) {
    if (!not_after->IsString()) return invalid("not_after: must be a string");
    auto time = parse_rfc3339(view(*not_after));
    if (!time) return time.error();
    job.not_after = *time;
  }

  if (const Value* requested_by = find_optional(doc, "requested_by")) {
    if (!requested_by->IsString()) return invalid("requested_by: must be a string");
    if (view(*requested_by).size() > kMaxRequestedByChars) {
      return invalid("requested_by: longer than 256 bytes");
    }
    for (char c : view(*requested_by)) {
      if (basics::is_ascii_control(c)) {
        return invalid("requested_by: must not contain control characters");
      }
    }
    job.requested_by = std::string(view(*requested_by));
  }
  return std::nullopt;
}

/// A key path for a message: `repository.url`, `[]` for an array element. A key that is long
/// or not printable ASCII is not echoed (it is the producer's text, up to the message size).
std::string printable_key(std::string_view key) {
  constexpr std::size_t kMaxEchoedKey = 64;
  if (key.empty() || key.size() > kMaxEchoedKey) return "…";
  for (char c : key) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return "…";
  }
  return std::string(key);
}

/// The path of the first key that appears twice in one object, anywhere in `root`. RapidJSON
/// keeps both and `FindMember` returns the first, while other JSON readers keep the last:
/// a producer, a proxy and mgitd could each read a different job out of one message.
/// Iterative, like the parse, so nesting depth costs no stack; each container is visited once
/// and a path is only spelled out for the duplicate found (deep nesting stays linear).
std::optional<std::string> first_duplicate_key(const Value& root) {
  struct Container {
    const Value* value;
    std::size_t parent;      ///< index in `seen`; the root is its own parent
    std::string_view label;  ///< the key it is under, or "[]" for an array element
  };
  std::vector<Container> seen{{&root, 0, {}}};
  const auto path_to = [&](std::size_t index, std::string_view last) {
    std::vector<std::string_view> labels{last};
    for (; index != 0; index = seen[index].parent) labels.push_back(seen[index].label);
    std::string path;
    // NOLINTNEXTLINE(modernize-loop-convert): labels run leaf to root; the path root to leaf
    for (auto it = labels.rbegin(); it != labels.rend(); ++it) {
      const bool element = *it == "[]";
      if (!path.empty() && !element) path += '.';
      path += element ? std::string("[]") : printable_key(*it);
    }
    return path;
  };
  std::vector<std::string_view> names;
  for (std::size_t next = 0; next < seen.size(); ++next) {
    const Value& value = *seen[next].value;
    if (value.IsObject()) {
      names.clear();
      for (const auto& member : value.GetObject()) {
        names.push_back(view(member.name));
        if (member.value.IsObject() || member.value.IsArray()) {
          seen.push_back({&member.value, next, view(member.name)});
        }
      }
      std::sort(names.begin(), names.end());
      if (const auto twice = std::adjacent_find(names.begin(), names.end()); twice != names.end()) {
        return path_to(next, *twice);
      }
    } else if (value.IsArray()) {
      for (const auto& element : value.GetArray()) {
        if (element.IsObject() || element.IsArray()) seen.push_back({&element, next, "[]"});
      }
    }
  }
  return std::nullopt;
}

/// Whatever can be read from an invalid job, so its `rejected` result says what it was.
Rejected make_rejected(const Value& doc, const Job& partial, JobError error) {
  Rejected rejected;
  rejected.job_id = partial.job_id;
  rejected.correlation_id = partial.correlation_id;
  if (const Value* operation = find_optional(doc, "operation");
      operation != nullptr && operation->IsString()) {
    rejected.operation = parse_operation(view(*operation));
  }
  if (const Value* repository = find_optional(doc, "repository");
      repository != nullptr && repository->IsObject()) {
    if (const Value* url = find_optional(*repository, "url"); url != nullptr && url->IsString()) {
      const auto key = normalize_repository_url(view(*url));
      if (key) rejected.repository_key = *key;
      // Kept as given: whatever echoes it redacts it with security::redact_url, which needs
      // no parse to find the userinfo.
      rejected.repository_url = std::string(view(*url));
    }
  }
  // Only a valid target is echoed: an invalid one may be anything up to the message size.
  if (const Value* target = find_optional(doc, "target")) {
    if (target->IsString()) {
      if (auto valid = validate_target(view(*target))) rejected.target = *valid;
    }
  } else if (!rejected.repository_key.empty()) {
    if (auto valid = validate_target(default_target(rejected.repository_key))) {
      rejected.target = *valid;
    }
  }
  rejected.error = std::move(error);
  return rejected;
}

}  // namespace

ParseOutcome parse_job(std::string_view payload, std::string_view header_correlation_id,
                       const ParseLimits& limits) {
  if (payload.size() > limits.max_message_bytes) {
    return Unparseable{"oversize", "message of " + std::to_string(payload.size()) +
                                       " bytes exceeds max_message_bytes (" +
                                       std::to_string(limits.max_message_bytes) + ")"};
  }
  rapidjson::Document doc;
  doc.Parse<kParseFlags>(payload.data(), payload.size());
  if (doc.HasParseError()) {
    return Unparseable{"not_json", "invalid JSON at byte " + std::to_string(doc.GetErrorOffset()) +
                                       ": " + rapidjson::GetParseError_En(doc.GetParseError())};
  }
  if (!doc.IsObject()) return Unparseable{"not_object", "a job must be a JSON object"};
  // Checked on its own: the general scan names only the first duplicate, and an earlier one
  // (`"a"` twice) must not let a doubled job_id be answered under either copy.
  const auto job_id_count = std::count_if(doc.MemberBegin(), doc.MemberEnd(),
                                          [](const auto& m) { return view(m.name) == "job_id"; });
  if (job_id_count > 1) return Unparseable{"no_job_id", "job_id appears more than once"};
  const auto duplicate = first_duplicate_key(doc);

  const Value* job_id = find(doc, "job_id");
  if (job_id == nullptr) return Unparseable{"no_job_id", "job_id is missing"};
  if (!job_id->IsString()) return Unparseable{"no_job_id", "job_id must be a string"};
  if (!valid_job_id(view(*job_id))) {
    return Unparseable{"no_job_id", "job_id must be 1-128 characters of [A-Za-z0-9._:-]"};
  }

  Job job;
  job.job_id = std::string(view(*job_id));
  if (duplicate) {
    default_correlation_id(job, header_correlation_id);
    return make_rejected(
        doc, job, invalid("duplicate key " + *duplicate + ": each key may appear only once"));
  }
  if (auto error = read_job(doc, header_correlation_id, job)) {
    default_correlation_id(job, header_correlation_id);
    return make_rejected(doc, job, std::move(*error));
  }
  return job;
}

}  // namespace mgit::jobs
