#pragma once

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

#include "mgit/discovery/provider.hpp"

namespace mgit::discovery {

// Typed access to the fields of an API answer (untrusted JSON). Every failure is a
// kBadResponse that names the provider and the field's path ("values[3].links.clone"), never
// the field's value: an answer is not ours to echo, and could carry anything.

/// "`provider` API: `what`" as a kBadResponse.
DiscoveryError bad_response(std::string_view provider, std::string_view what);

/// Parses `body` into `document` (iterative, UTF-8 validated: a deeply nested or malformed
/// answer is an error, not a stack overflow or bytes passed on to a job).
tl::expected<void, DiscoveryError> parse_body(std::string_view provider, std::string_view body,
                                              rapidjson::Document& document);

/// One JSON object of an answer and its path, for error messages.
class ObjectFields {
 public:
  ObjectFields(std::string_view provider, std::string path, const rapidjson::Value& object)
      : provider_(provider), path_(std::move(path)), object_(object) {}

  /// A string that must be present and not empty.
  [[nodiscard]] tl::expected<std::string, DiscoveryError> required_string(
      std::string_view name) const;
  /// A string that may be absent or null (then empty).
  [[nodiscard]] tl::expected<std::string, DiscoveryError> optional_string(
      std::string_view name) const;
  [[nodiscard]] tl::expected<bool, DiscoveryError> required_bool(std::string_view name) const;
  /// A boolean that may be absent or null (then `otherwise`).
  [[nodiscard]] tl::expected<bool, DiscoveryError> optional_bool(std::string_view name,
                                                                 bool otherwise) const;
  /// An object that may be absent or null (then nullptr).
  [[nodiscard]] tl::expected<const rapidjson::Value*, DiscoveryError> optional_object(
      std::string_view name) const;
  /// An object that must be present.
  [[nodiscard]] tl::expected<const rapidjson::Value*, DiscoveryError> required_object(
      std::string_view name) const;
  /// An array that must be present.
  [[nodiscard]] tl::expected<const rapidjson::Value*, DiscoveryError> required_array(
      std::string_view name) const;
  /// An array of strings, or nullopt-like empty when absent; `present` tells which.
  [[nodiscard]] tl::expected<std::vector<std::string>, DiscoveryError> string_array(
      std::string_view name, bool& present) const;

  /// An error about field `name` of this object.
  [[nodiscard]] DiscoveryError error(std::string_view name, std::string_view problem) const;
  [[nodiscard]] std::string path_of(std::string_view name) const;
  [[nodiscard]] std::string_view provider() const { return provider_; }

 private:
  [[nodiscard]] const rapidjson::Value* find(std::string_view name) const;

  std::string_view provider_;
  std::string path_;
  const rapidjson::Value& object_;
};

/// `url` with query parameter `name` set to `encoded_value` (replacing every earlier
/// occurrence; the fragment, if any, dropped).
std::string with_query_parameter(std::string_view url, std::string_view name,
                                 std::string_view encoded_value);

/// The (still encoded) value of the first query parameter `name` of `url`, if any.
std::optional<std::string_view> query_parameter(std::string_view url, std::string_view name);

/// `url` without a `user@` (or `user:password@`) before its host: clone URLs such as
/// Bitbucket's `https://alice@bitbucket.org/…` name the API caller, not the job's credential.
std::string without_userinfo(std::string_view url);

/// "Basic base64(user:secret)" (RFC 7617).
std::string basic_authorization(std::string_view user, std::string_view secret);

}  // namespace mgit::discovery
