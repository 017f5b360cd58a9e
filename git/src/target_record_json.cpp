#include "target_record_json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <optional>
#include <string>
#include <string_view>

namespace mgit::git {
namespace {

constexpr std::string_view kSchema = "mgit.target/v1";

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

bool is_string_member(const rapidjson::Value& object, const char* name) {
  return object.HasMember(name) && object[name].IsString();
}

}  // namespace

std::optional<TargetRecord> parse_record(std::string_view text, std::string_view target) {
  rapidjson::Document document;
  document.Parse(text.data(), text.size());
  if (document.HasParseError()) return std::nullopt;
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
      job.repository_key = string_member(entry, "repository_key");
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

std::string serialize_record(const TargetRecord& record) {
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
    writer.Key("repository_key");
    string(job.repository_key);
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

}  // namespace mgit::git
