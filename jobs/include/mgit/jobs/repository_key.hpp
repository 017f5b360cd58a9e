#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/jobs/error.hpp"

namespace mgit::jobs {

/// Repository key: lower-cased scheme+host(+non-default port), path without trailing
/// `.git` or `/`, no userinfo, no query. scp-like `git@host:org/app.git` becomes
/// `ssh://host/org/app`. Fails with `invalid_job` for anything that is not a git URL
/// mgitd can fetch (https, http, ssh, scp-like) and with `policy_denied` when the URL
/// carries a password or token in its userinfo.
tl::expected<std::string, JobError> normalize_repository_url(std::string_view url);

/// The host part of a repository key ("https://github.com/org/app" -> "github.com",
/// "ssh://git.example.com:2222/x" -> "git.example.com:2222"): the key already lower-cases the
/// host, spells an address one way, drops userinfo and the scheme's default port, so one
/// host has one spelling (what rate limits and audit events are kept per).
std::string host_of_repository_key(std::string_view key);

}  // namespace mgit::jobs
