#pragma once

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "mgit/discovery/provider.hpp"

namespace mgit::test {

/// `json` with the value at RFC 6901 pointer `pointer` replaced by the JSON text
/// `replacement`, or removed when `replacement` is nullopt: one malformed field at a time in
/// an otherwise documented answer.
inline std::string edit_json(std::string_view json, const char* pointer,
                             std::optional<std::string_view> replacement) {
  rapidjson::Document document;
  document.Parse(json.data(), json.size());
  if (document.HasParseError()) throw std::invalid_argument("edit_json: input is not JSON");
  if (replacement) {
    rapidjson::Document value(&document.GetAllocator());
    value.Parse(replacement->data(), replacement->size());
    if (value.HasParseError()) throw std::invalid_argument("edit_json: replacement is not JSON");
    rapidjson::Pointer(pointer).Set(document, value);
  } else if (!rapidjson::Pointer(pointer).Erase(document)) {
    throw std::invalid_argument(std::string("edit_json: nothing at ") + pointer);
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  document.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

/// A 200 answer with `body` and `headers` (names lower-case, as the loop delivers them).
inline discovery::ApiResponse ok_response(
    std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
  discovery::ApiResponse response;
  response.status = 200;
  response.body = std::move(body);
  response.headers = std::move(headers);
  return response;
}

}  // namespace mgit::test
