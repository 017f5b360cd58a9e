#pragma once

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "mgit/discovery/provider.hpp"

namespace mgit::discovery {

// Reading the fields of one repository object of an API answer, each checked for its type.
// The first problem is kept and names the provider, the repository's index on the page and the
// field (never the field's value: it is untrusted text).

/// Parses `body` (iteratively: a deeply nested answer cannot exhaust the stack) and requires a
/// top-level array.
tl::expected<rapidjson::Document, DiscoveryError> parse_array_body(std::string_view provider,
                                                                   const std::string& body);

class FieldReader {
 public:
  FieldReader(std::string_view provider, const rapidjson::Value& object, std::size_t index);

  /// A string; `required`: missing (or null) is an error, else it gives "".
  std::string string(const char* name, bool required);
  /// A boolean; missing gives `fallback` unless `required`.
  bool boolean(const char* name, bool required, bool fallback = false);
  /// An optional array of strings (missing or null: empty).
  std::vector<std::string> strings(const char* name);
  /// An optional RFC 3339 timestamp (missing or null: nullopt; malformed: error).
  std::optional<std::chrono::system_clock::time_point> timestamp(const char* name);

  [[nodiscard]] bool ok() const { return !error_; }
  [[nodiscard]] DiscoveryError error() const;

 private:
  const rapidjson::Value* member(const char* name);
  void fail(const char* name, std::string_view problem);

  std::string_view provider_;
  const rapidjson::Value& object_;
  std::size_t index_;
  std::optional<DiscoveryError> error_;
};

/// The next-page request from a `Link: <…>; rel="next"` header, carrying `request`'s headers;
/// kBadResponse when it leaves the origin of `query.api_base` (the token would follow it).
tl::expected<std::optional<ApiRequest>, DiscoveryError> link_next_request(
    std::string_view provider, const Query& query, const ApiRequest& request,
    const ApiResponse& response);

}  // namespace mgit::discovery
