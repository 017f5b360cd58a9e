#include "network_access.hpp"

#include <fmt/format.h>

#include "mgit/basics/ascii.hpp"
#include "mgit/security/credentials.hpp"

namespace mgit::git {

using jobs::ErrorCode;
using jobs::JobError;

JobEndpoint job_endpoint(std::string_view url) {
  const std::string lowered = basics::to_lower(url.substr(0, 8));
  JobEndpoint out;
  int default_port = 22;  // ssh:// and scp-like
  if (basics::starts_with(lowered, "https://")) {
    default_port = 443;
  } else if (basics::starts_with(lowered, "http://")) {
    default_port = 80;
    out.plain_http = true;
  }
  const auto [host, port] = security::url_host(url);
  out.endpoint = Endpoint{security::normalize_host(host), port.value_or(default_port)};
  out.port_in_url = port;
  return out;
}

tl::expected<Endpoint, std::string> proxy_endpoint(std::string_view url) {
  const std::string lowered = basics::to_lower(url);
  const bool https = basics::starts_with(lowered, "https://");
  if (!https && !basics::starts_with(lowered, "http://")) {
    return tl::make_unexpected(std::string("git_proxy must be an http:// or https:// URL"));
  }
  std::string_view rest = url.substr(https ? 8 : 7);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('@') != std::string_view::npos) {
    // Not echoed: the userinfo may be a password.
    return tl::make_unexpected(std::string("git_proxy must not carry a user or password"));
  }
  if (rest.empty() || rest.find_first_of("/?#") != std::string_view::npos) {
    return tl::make_unexpected(std::string("git_proxy must be scheme://host[:port] only"));
  }
  const auto [host, port] = security::url_host(url.substr(0, (https ? 8 : 7) + rest.size()));
  const std::size_t colon = rest.rfind(':');
  const bool names_port =
      colon != std::string_view::npos && rest.find(']', colon) == std::string_view::npos;
  if (names_port && !port) {
    return tl::make_unexpected(std::string("git_proxy's port is not a number 0..99999"));
  }
  if (port && (*port < 1 || *port > 65535)) {
    return tl::make_unexpected(std::string("git_proxy's port is not 1..65535"));
  }
  if (host.empty()) return tl::make_unexpected(std::string("git_proxy names no host"));
  return Endpoint{security::normalize_host(host), port.value_or(https ? 443 : 80)};
}

std::string git_proxy_problem(std::string_view url) {
  auto endpoint = proxy_endpoint(url);
  return endpoint ? std::string() : endpoint.error();
}

tl::expected<ConnectPolicy, JobError> admit_job(const jobs::Job& job,
                                                const GitExecutorSettings& settings) {
  const JobEndpoint target = job_endpoint(job.repository_url);
  if (target.plain_http && !job.credential.empty()) {
    return tl::make_unexpected(
        JobError{ErrorCode::kPolicyDenied,
                 fmt::format("credential '{}' is never sent over plain http: use an https URL",
                             job.credential)});
  }
  if (target.plain_http && !settings.allow_plain_http) {
    return tl::make_unexpected(
        JobError{ErrorCode::kPolicyDenied,
                 "plain http URLs are refused (allow_plain_http is off): use an https URL"});
  }
  if (auto denial = settings.network_policy.check_host(target.endpoint.host)) {
    return tl::make_unexpected(JobError{ErrorCode::kPolicyDenied, denial->message});
  }
  ConnectPolicy policy;
  policy.network = &settings.network_policy;
  policy.job = target.endpoint;
  policy.follow_redirects = settings.follow_redirects;
  policy.connect_timeout = settings.connect_timeout;
  policy.socket_timeout = settings.socket_timeout;
  if (!settings.git_proxy.empty()) {
    auto proxy = proxy_endpoint(settings.git_proxy);
    if (!proxy) return tl::make_unexpected(JobError{ErrorCode::kInternal, proxy.error()});
    policy.proxy = std::move(*proxy);
  }
  return policy;
}

}  // namespace mgit::git
