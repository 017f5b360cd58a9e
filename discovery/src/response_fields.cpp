#include "response_fields.hpp"

#include <rapidjson/error/en.h>

#include <cstdint>

namespace mgit::discovery {

namespace {

// Iterative parsing keeps a deeply nested answer off the call stack; encoding validation
// keeps invalid UTF-8 out of jobs and messages.
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

std::string text_of(const rapidjson::Value& value) {
  return {value.GetString(), static_cast<std::size_t>(value.GetStringLength())};
}

}  // namespace

DiscoveryError bad_response(std::string_view provider, std::string_view what) {
  std::string message(provider);
  message += " API: ";
  message += what;
  return {DiscoveryErrorCode::kBadResponse, std::move(message)};
}

tl::expected<void, DiscoveryError> parse_body(std::string_view provider, std::string_view body,
                                              rapidjson::Document& document) {
  document.Parse<kParseFlags>(body.data(), body.size());
  if (document.HasParseError()) {
    return tl::unexpected(bad_response(
        provider, "the answer is not JSON (at byte " + std::to_string(document.GetErrorOffset()) +
                      ": " + rapidjson::GetParseError_En(document.GetParseError()) + ")"));
  }
  return {};
}

const rapidjson::Value* ObjectFields::find(std::string_view name) const {
  const rapidjson::Value key(rapidjson::StringRef(name.data(), name.size()));
  const auto it = object_.FindMember(key);
  return it == object_.MemberEnd() ? nullptr : &it->value;
}

std::string ObjectFields::path_of(std::string_view name) const {
  std::string path = path_;
  if (!path.empty()) path += '.';
  path += name;
  return path;
}

DiscoveryError ObjectFields::error(std::string_view name, std::string_view problem) const {
  return bad_response(provider_, path_of(name) + " " + std::string(problem));
}

tl::expected<std::string, DiscoveryError> ObjectFields::required_string(
    std::string_view name) const {
  const rapidjson::Value* value = find(name);
  if (value == nullptr || value->IsNull()) return tl::unexpected(error(name, "is missing"));
  if (!value->IsString()) return tl::unexpected(error(name, "is not a string"));
  if (value->GetStringLength() == 0) return tl::unexpected(error(name, "is empty"));
  return text_of(*value);
}

tl::expected<std::string, DiscoveryError> ObjectFields::optional_string(
    std::string_view name) const {
  const rapidjson::Value* value = find(name);
  if (value == nullptr || value->IsNull()) return std::string();
  if (!value->IsString()) return tl::unexpected(error(name, "is not a string"));
  return text_of(*value);
}

tl::expected<bool, DiscoveryError> ObjectFields::required_bool(std::string_view name) const {
  const rapidjson::Value* value = find(name);
  if (value == nullptr || value->IsNull()) return tl::unexpected(error(name, "is missing"));
  if (!value->IsBool()) return tl::unexpected(error(name, "is not a boolean"));
  return value->GetBool();
}

tl::expected<bool, DiscoveryError> ObjectFields::optional_bool(std::string_view name,
                                                               bool otherwise) const {
  const rapidjson::Value* value = find(name);
  if (value == nullptr || value->IsNull()) return otherwise;
  if (!value->IsBool()) return tl::unexpected(error(name, "is not a boolean"));
  return value->GetBool();
}

tl::expected<const rapidjson::Value*, DiscoveryError> ObjectFields::optional_object(
    std::string_view name) const {
  const rapidjson::Value* value = find(name);
  if (value == nullptr || value->IsNull()) return nullptr;
  if (!value->IsObject()) return tl::unexpected(error(name, "is not an object"));
  return value;
}

tl::expected<const rapidjson::Value*, DiscoveryError> ObjectFields::required_object(
    std::string_view name) const {
  const rapidjson::Value* value = find(name);
  if (value == nullptr || value->IsNull()) return tl::unexpected(error(name, "is missing"));
  if (!value->IsObject()) return tl::unexpected(error(name, "is not an object"));
  return value;
}

tl::expected<const rapidjson::Value*, DiscoveryError> ObjectFields::required_array(
    std::string_view name) const {
  const rapidjson::Value* value = find(name);
  if (value == nullptr || value->IsNull()) return tl::unexpected(error(name, "is missing"));
  if (!value->IsArray()) return tl::unexpected(error(name, "is not an array"));
  return value;
}

tl::expected<std::vector<std::string>, DiscoveryError> ObjectFields::string_array(
    std::string_view name, bool& present) const {
  std::vector<std::string> strings;
  const rapidjson::Value* value = find(name);
  present = value != nullptr && !value->IsNull();
  if (!present) return strings;
  if (!value->IsArray()) return tl::unexpected(error(name, "is not an array"));
  for (rapidjson::SizeType i = 0; i < value->Size(); ++i) {
    const rapidjson::Value& item = (*value)[i];
    if (!item.IsString()) {
      return tl::unexpected(
          error(std::string(name) + "[" + std::to_string(i) + "]", "is not a string"));
    }
    strings.push_back(text_of(item));
  }
  return strings;
}

std::string with_query_parameter(std::string_view url, std::string_view name,
                                 std::string_view encoded_value) {
  url = url.substr(0, url.find('#'));
  const auto question = url.find('?');
  std::string result(url.substr(0, question));
  std::string query;
  if (question != std::string_view::npos) {
    std::string_view rest = url.substr(question + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      const std::string_view key = pair.substr(0, pair.find('='));
      if (key != name && !pair.empty()) {
        if (!query.empty()) query += '&';
        query += pair;
      }
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
  }
  if (!query.empty()) query += '&';
  query += name;
  query += '=';
  query += encoded_value;
  result += '?';
  result += query;
  return result;
}

std::optional<std::string_view> query_parameter(std::string_view url, std::string_view name) {
  url = url.substr(0, url.find('#'));
  const auto question = url.find('?');
  if (question == std::string_view::npos) return std::nullopt;
  std::string_view rest = url.substr(question + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const auto equals = pair.find('=');
    if (pair.substr(0, equals) == name) {
      return equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string without_userinfo(std::string_view url) {
  const auto separator = url.find("://");
  if (separator == std::string_view::npos) return std::string(url);
  const auto authority_start = separator + 3;
  const auto authority_end = url.find_first_of("/?#", authority_start);
  const std::string_view authority = url.substr(
      authority_start, authority_end == std::string_view::npos ? std::string_view::npos
                                                               : authority_end - authority_start);
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::string result(url.substr(0, authority_start));
  result += url.substr(authority_start + at + 1);
  return result;
}

std::string basic_authorization(std::string_view user, std::string_view secret) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string plain(user);
  plain += ':';
  plain += secret;
  std::string encoded = "Basic ";
  encoded.reserve(encoded.size() + (plain.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < plain.size(); i += 3) {
    const std::uint32_t triple =
        (static_cast<std::uint32_t>(static_cast<unsigned char>(plain[i])) << 16U) |
        (static_cast<std::uint32_t>(static_cast<unsigned char>(plain[i + 1])) << 8U) |
        static_cast<unsigned char>(plain[i + 2]);
    encoded += kAlphabet[(triple >> 18U) & 0x3FU];
    encoded += kAlphabet[(triple >> 12U) & 0x3FU];
    encoded += kAlphabet[(triple >> 6U) & 0x3FU];
    encoded += kAlphabet[triple & 0x3FU];
  }
  const std::size_t left = plain.size() - i;
  if (left > 0) {
    std::uint32_t triple = static_cast<std::uint32_t>(static_cast<unsigned char>(plain[i])) << 16U;
    if (left == 2) {
      triple |= static_cast<std::uint32_t>(static_cast<unsigned char>(plain[i + 1])) << 8U;
    }
    encoded += kAlphabet[(triple >> 18U) & 0x3FU];
    encoded += kAlphabet[(triple >> 12U) & 0x3FU];
    encoded += left == 2 ? kAlphabet[(triple >> 6U) & 0x3FU] : '=';
    encoded += '=';
  }
  return encoded;
}

}  // namespace mgit::discovery
