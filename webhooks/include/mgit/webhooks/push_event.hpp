#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/webhooks/provider.hpp"

namespace mgit::webhooks {

/// What mgitd reads of a push (or tag push) webhook. Nothing here becomes a URL: the job's
/// URL is built from the route and `repository` alone.
struct PushEvent {
  std::string repository;  ///< full name: `org/app` (GitLab: `group/sub/app`)
  std::string host;        ///< host of the payload's repository web URL, lower-case; may be empty
  std::string ref;         ///< `refs/heads/main`, `refs/tags/v1`
  std::string after;       ///< the new tip; forty zeros for a deleted branch or tag
  bool deleted = false;    ///< the ref was deleted (all-zero `after`)
};

/// Reads a push payload of `provider` (GitHub and Gitea: `repository.full_name`,
/// `repository.html_url`; GitLab: `project.path_with_namespace`, `project.web_url`; all:
/// `ref`, `after`). The error says which field is missing or unacceptable, never echoing more
/// than the field's name. The full name must be path segments of `[A-Za-z0-9._-]`, none `.`
/// or `..` nor starting with `-`, at most 255 characters in all.
tl::expected<PushEvent, std::string> parse_push_event(Provider provider, std::string_view body);

/// Whether `name` is an acceptable repository full name (the rule above).
bool valid_repository_name(std::string_view name);

}  // namespace mgit::webhooks
