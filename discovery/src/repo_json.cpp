#include "repo_json.hpp"

#include <fmt/format.h>
#include <rapidjson/error/en.h>

#include "provider_support.hpp"
#include "url_parts.hpp"

namespace mgit::discovery {

tl::expected<rapidjson::Document, DiscoveryError> parse_array_body(std::string_view provider,
                                                                   const std::string& body) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (document.HasParseError()) {
    return tl::make_unexpected(
        DiscoveryError{DiscoveryErrorCode::kBadResponse,
                       fmt::format("the {} API's answer is not JSON ({} at byte {})", provider,
                                   rapidjson::GetParseError_En(document.GetParseError()),
                                   document.GetErrorOffset())});
  }
  if (!document.IsArray()) {
    return tl::make_unexpected(DiscoveryError{
        DiscoveryErrorCode::kBadResponse,
        fmt::format("the {} API's answer is not a JSON array of repositories", provider)});
  }
  return document;
}

FieldReader::FieldReader(std::string_view provider, const rapidjson::Value& object,
                         std::size_t index)
    : provider_(provider), object_(object), index_(index) {
  if (!object_.IsObject()) {
    error_ = DiscoveryError{
        DiscoveryErrorCode::kBadResponse,
        fmt::format("the {} API's repository {} on the page is not an object", provider_, index_)};
  }
}

const rapidjson::Value* FieldReader::member(const char* name) {
  if (error_ || !object_.HasMember(name)) return nullptr;
  const rapidjson::Value& value = object_[name];
  return value.IsNull() ? nullptr : &value;
}

void FieldReader::fail(const char* name, std::string_view problem) {
  if (error_) return;
  error_ = DiscoveryError{DiscoveryErrorCode::kBadResponse,
                          fmt::format("the {} API's repository {} on the page: field \"{}\" {}",
                                      provider_, index_, name, problem)};
}

std::string FieldReader::string(const char* name, bool required) {
  const auto* value = member(name);
  if (value == nullptr) {
    if (required) fail(name, "is missing");
    return {};
  }
  if (!value->IsString()) {
    fail(name, "is not a string");
    return {};
  }
  if (required && value->GetStringLength() == 0) fail(name, "is empty");
  return {value->GetString(), value->GetStringLength()};
}

bool FieldReader::boolean(const char* name, bool required, bool fallback) {
  const auto* value = member(name);
  if (value == nullptr) {
    if (required) fail(name, "is missing");
    return fallback;
  }
  if (!value->IsBool()) {
    fail(name, "is not a boolean");
    return fallback;
  }
  return value->GetBool();
}

std::vector<std::string> FieldReader::strings(const char* name) {
  std::vector<std::string> result;
  const auto* value = member(name);
  if (value == nullptr) return result;
  if (!value->IsArray()) {
    fail(name, "is not an array");
    return result;
  }
  for (const auto& item : value->GetArray()) {
    if (!item.IsString()) {
      fail(name, "holds a non-string");
      return {};
    }
    result.emplace_back(item.GetString(), item.GetStringLength());
  }
  return result;
}

std::optional<std::chrono::system_clock::time_point> FieldReader::timestamp(const char* name) {
  const auto* value = member(name);
  if (value == nullptr) return std::nullopt;
  if (!value->IsString()) {
    fail(name, "is not a string");
    return std::nullopt;
  }
  auto parsed = parse_timestamp(std::string_view(value->GetString(), value->GetStringLength()));
  if (!parsed) fail(name, "is not an RFC 3339 time");
  return parsed;
}

DiscoveryError FieldReader::error() const {
  return error_.value_or(DiscoveryError{DiscoveryErrorCode::kBadResponse, "no error"});
}

tl::expected<std::optional<ApiRequest>, DiscoveryError> link_next_request(
    std::string_view provider, const Query& query, const ApiRequest& request,
    const ApiResponse& response) {
  const auto link = response.header("link");
  if (!link) return std::nullopt;
  auto next = link_next(*link);
  if (!next) return std::nullopt;
  if (!same_origin(query.api_base, *next)) {
    return tl::make_unexpected(DiscoveryError{
        DiscoveryErrorCode::kBadResponse,
        fmt::format("the {} API's next-page link points at {}, off the API's origin {}; not "
                    "followed, the token was not sent",
                    provider, origin_text(*next), origin_text(query.api_base))});
  }
  if (*next == request.url) {
    return tl::make_unexpected(DiscoveryError{
        DiscoveryErrorCode::kBadResponse,
        fmt::format("the {} API's next-page link points back at the page it is on; not followed",
                    provider)});
  }
  return ApiRequest{std::move(*next), request.headers};
}

}  // namespace mgit::discovery
