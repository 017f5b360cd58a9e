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

}  // namespace mgit::jobs
