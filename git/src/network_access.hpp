#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/git/git_executor.hpp"
#include "mgit/jobs/error.hpp"
#include "mgit/jobs/job.hpp"
#include "policy_stream.hpp"

namespace mgit::git {

/// The job URL as the network policy sees it.
struct JobEndpoint {
  Endpoint endpoint;               ///< port: the URL's, else the scheme's default
  std::optional<int> port_in_url;  ///< only when the URL names one
  bool plain_http = false;
};

/// Host, port and scheme of an `https://`, `http://`, `ssh://` or scp-like URL.
JobEndpoint job_endpoint(std::string_view url);

/// The checks a job passes before its target is touched or anything is connected: plain
/// http only with `allow_plain_http` and never with a credential, and the host by name
/// (metadata names, denied literals). Then the policy its connections run under, which
/// refers to `settings.network_policy`. Denials are `policy_denied`.
tl::expected<ConnectPolicy, jobs::JobError> admit_job(const jobs::Job& job,
                                                      const GitExecutorSettings& settings);

/// `git_proxy`'s endpoint: `http://host[:port]` or `https://host[:port]` (default 80/443),
/// no user, no path; the error says what is wrong.
tl::expected<Endpoint, std::string> proxy_endpoint(std::string_view url);

}  // namespace mgit::git
