#include "mgit/webhooks/push_event.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "mgit/basics/ascii.hpp"

namespace mgit::webhooks {
namespace {

constexpr std::size_t kMaxRepositoryName = 255;

const rapidjson::Value* member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  const auto found = object.FindMember(name);
  return found == object.MemberEnd() ? nullptr : &found->value;
}

std::string string_member(const rapidjson::Value& object, const char* name) {
  const auto* value = member(object, name);
  if (value == nullptr || !value->IsString()) return {};
  return {value->GetString(), value->GetStringLength()};
}

/// The host of an http(s) web URL, lower-case, without port; empty when there is none.
std::string host_of(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  auto rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest.front() == '[')
    return basics::to_lower(rest.substr(0, rest.find(']') + 1));
  return basics::to_lower(rest.substr(0, rest.find(':')));
}

bool all_zeros(std::string_view sha) {
  return !sha.empty() && sha.find_first_not_of('0') == std::string_view::npos;
}

}  // namespace

bool valid_repository_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxRepositoryName) return false;
  std::size_t start = 0;
  while (true) {
    const auto slash = name.find('/', start);
    const auto segment =
        name.substr(start, slash == std::string_view::npos ? name.npos : slash - start);
    if (segment.empty() || segment == "." || segment == ".." || segment.front() == '-')
      return false;
    for (const char c : segment) {
      if (!basics::is_ascii_alnum(c) && c != '.' && c != '_' && c != '-') return false;
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

tl::expected<PushEvent, std::string> parse_push_event(Provider provider, std::string_view body) {
  rapidjson::Document document;
  // Iterative: a body of nested brackets must not recurse down the HTTP thread's stack.
  document.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
      body.data(), body.size());
  if (document.HasParseError()) {
    return tl::make_unexpected(std::string("the body is not JSON: ") +
                               rapidjson::GetParseError_En(document.GetParseError()));
  }
  if (!document.IsObject()) return tl::make_unexpected("the body is not a JSON object");
  const char* owner = provider == Provider::kGitLab ? "project" : "repository";
  const auto* repository = member(document, owner);
  if (repository == nullptr || !repository->IsObject()) {
    return tl::make_unexpected(std::string("the payload has no '") + owner + "' object");
  }
  PushEvent event;
  event.repository = string_member(
      *repository, provider == Provider::kGitLab ? "path_with_namespace" : "full_name");
  event.host =
      host_of(string_member(*repository, provider == Provider::kGitLab ? "web_url" : "html_url"));
  event.ref = string_member(document, "ref");
  event.after = string_member(document, "after");
  if (event.repository.empty()) return tl::make_unexpected("the payload names no repository");
  if (!valid_repository_name(event.repository)) {
    return tl::make_unexpected("the payload's repository name is not acceptable");
  }
  if (event.ref.empty()) return tl::make_unexpected("the payload has no 'ref'");
  event.deleted = all_zeros(event.after);
  return event;
}

}  // namespace mgit::webhooks
