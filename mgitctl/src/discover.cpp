// mgitctl discover: an organisation's repositories from its provider's REST API, as jobs.

#include "mgit/discovery/discover.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <map>

#include "commands.hpp"
#include "discover_jobs.hpp"
#include "fleet_model.hpp"
#include "mgit/discovery/provider_limits.hpp"
#include "mgit/security/credentials.hpp"

namespace mgit::mgitctl {

namespace {

std::string without_trailing_slashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string api_host(const std::string& base) {
  const auto [host, port] = security::url_host(base);
  return port ? fmt::format("{}:{}", host, *port) : host;
}

/// The token and user name of --api-credential, refused unless its hosts= allows the API.
void load_api_credential(const DiscoverCommandOptions& options, const std::string& base,
                         discovery::DiscoverOptions& discover) {
  if (options.api_credential.empty()) return;
  if (options.credentials_dir.empty()) {
    throw CtlError(
        "--api-credential needs --credentials-dir (env MGITD_CREDENTIALS_DIR): the directory "
        "of mgitd's credential files");
  }
  const security::CredentialStore store(options.credentials_dir);
  auto credential = store.load(options.api_credential);
  if (!credential) {
    throw CtlError(fmt::format("--api-credential: {} (in {}; see docs/credentials.md)",
                               credential.error().message, options.credentials_dir));
  }
  if (auto refusal = security::credential_refusal(*credential, base)) {
    throw CtlError(fmt::format("--api-credential: {}", *refusal));
  }
  if (!credential->has_userpass()) {
    throw CtlError(fmt::format(
        "--api-credential: credential '{}' has no password= line; the API token goes there",
        options.api_credential));
  }
  discover.token = credential->password;
  // The store's default user for a token is x-access-token: no user name to the providers.
  if (credential->username != "x-access-token") discover.username = credential->username;
}

/// The error message with what to do about it, for the person at the terminal.
std::string with_fix(const discovery::DiscoveryError& error, const DiscoverCommandOptions& options,
                     const std::string& base) {
  using Code = discovery::DiscoveryErrorCode;
  switch (error.code) {
    case Code::kUnauthorized:
      if (options.api_credential.empty()) {
        return fmt::format(
            "{}; no --api-credential was given: name a credential file holding an API token "
            "(--api-credential NAME --credentials-dir DIR, its hosts= allowing {})",
            error.message, api_host(base));
      }
      return fmt::format(
          "{}; check the token (password=) in credential '{}' in {} and that it may read the "
          "organisation '{}' on {}",
          error.message, options.api_credential, options.credentials_dir, options.org,
          api_host(base));
    case Code::kNotFound:
      return fmt::format(
          "{}; check --org '{}' (the organisation's exact name) and --api-url {} (the API's "
          "base, e.g. https://host/api/v3 for GitHub Enterprise)",
          error.message, options.org, base);
    case Code::kRateLimited:
    case Code::kUsage:
    case Code::kUnreachable:
    case Code::kBadResponse:
      return error.message;
  }
  return error.message;
}

int exit_code_of(discovery::DiscoveryErrorCode code) {
  using Code = discovery::DiscoveryErrorCode;
  switch (code) {
    case Code::kRateLimited:
      return kExitTimeout;
    case Code::kBadResponse:
      return kExitFailed;
    case Code::kUsage:
    case Code::kUnauthorized:
    case Code::kNotFound:
    case Code::kUnreachable:
      return kExitUsage;
  }
  return kExitUsage;
}

RepositoryFilter make_filter(const DiscoverCommandOptions& options) {
  RepositoryFilter filter;
  filter.include_archived = options.include_archived;
  filter.include_forks = options.include_forks;
  filter.visibilities = options.visibilities;
  filter.name_globs = options.names;
  filter.topics = options.topics;
  if (!options.pushed_since.empty()) {
    if (auto when = parse_rfc3339(options.pushed_since)) {
      filter.pushed_since = *when;
    } else if (auto ago = parse_duration(options.pushed_since)) {
      filter.pushed_since = std::chrono::system_clock::now() - *ago;
    } else {
      throw CtlError(fmt::format(
          "--pushed-since: '{}' is neither an RFC 3339 time (2026-11-23T09:00:00Z) nor a "
          "duration (30d, 12h)",
          options.pushed_since));
    }
  }
  return filter;
}

std::string summary_of(const std::map<std::string_view, int>& reasons) {
  std::string text;
  for (const auto& [reason, count] : reasons) {
    text += fmt::format("{}{} {}", text.empty() ? "" : ", ", count, reason);
  }
  return text;
}

}  // namespace

int run_discover(const KafkaOptions& kafka, const DiscoverCommandOptions& options) {
  const auto provider = discovery::make_provider(options.provider);
  if (!provider) {
    throw CtlError(fmt::format(
        "--provider '{}' is not available; use github, gitlab, gitea, azure-devops or bitbucket",
        options.provider));
  }
  if (options.org.empty()) throw CtlError("--org is required");
  const std::string base = without_trailing_slashes(
      options.api_url.empty() ? provider->default_api_base() : options.api_url);
  if (base.empty()) {
    throw CtlError(
        fmt::format("--api-url is required for {} (it has no public default "
                    "instance), e.g. --api-url https://git.example.com",
                    provider->name()));
  }
  if (base.rfind("https://", 0) != 0 && !(options.allow_http && base.rfind("http://", 0) == 0)) {
    throw CtlError(fmt::format(
        "--api-url must start with https:// (plain http:// only with --allow-http, on a trusted "
        "network: the token would travel unencrypted)"));
  }
  // A filter on a fact the provider does not list would select nothing, silently.
  if (auto refused = discovery::unanswerable_filter(provider->name(), !options.topics.empty(),
                                                    !options.pushed_since.empty())) {
    throw CtlError(*refused);
  }
  const RepositoryFilter filter = make_filter(options);
  JobShape shape;
  shape.provider = std::string(provider->name());
  shape.org = options.org;
  shape.operation = options.operation;
  shape.target_template = options.target;
  shape.credential = options.credential;
  shape.ssh = options.url_scheme == "ssh";
  const char* user = std::getenv("USER");
  shape.requested_by = fmt::format("mgitctl-discover:{}", user != nullptr ? user : "unknown");
  shape.max_message_bytes = options.enqueue_options.max_message_bytes;
  if (auto checked = check_shape(shape); !checked) throw CtlError(checked.error());

  discovery::DiscoverOptions discover;
  discover.query = discovery::Query{base, options.org};
  discover.max_wait = std::chrono::seconds(options.max_wait_seconds);
  discover.max_repositories = static_cast<std::size_t>(options.max_repositories);
  discover.notice = [](std::string_view text) {
    fmt::print(stderr, "mgitctl: {}\n", text);
    std::fflush(stderr);
  };
  load_api_credential(options, base, discover);
  if (options.api_credential.empty()) {
    fmt::print(stderr,
               "mgitctl: no --api-credential: unauthenticated requests see public repositories "
               "only, with the lowest rate limit\n");
  }

  discovery::HttpsOptions https;
  https.ca_file = options.ca_file;
  https.allow_http = options.allow_http;
  https.request_timeout = std::chrono::seconds(options.request_timeout_seconds);
  const auto transport = discovery::make_https_transport(https);
  auto listed = discovery::discover(*provider, discover, *transport, discovery::system_clock());
  if (!listed) {
    fmt::print(stderr, "mgitctl: discover {} {}: {}\n", provider->name(), options.org,
               with_fix(listed.error(), options, base));
    return exit_code_of(listed.error().code);
  }

  std::map<std::string_view, int> filtered;
  std::vector<InputDocument> jobs;
  // Two repositories rendered to one target (`{name}` across GitLab subgroups or Azure DevOps
  // projects) would make mgitd answer `conflict` for whichever job comes second, every run.
  std::map<std::string, int> target_lines;
  int invalid = 0;
  int line = 0;
  for (const auto& repository : listed->repositories) {
    if (auto reason = filtered_out(filter, repository)) {
      ++filtered[*reason];
      continue;
    }
    ++line;
    const auto [first, fresh] = target_lines.emplace(render_target(shape, repository), line);
    if (!fresh) {
      fmt::print(stderr,
                 "mgitctl: repository {} of the listing skipped: its target is repository {}'s "
                 "too; add {{full_name}} to --target\n",
                 line, first->second);
      ++invalid;
      continue;
    }
    auto job = make_job(shape, repository, generate_job_id());
    if (!job) {
      // The index, not the name: an API-provided name may hold anything.
      fmt::print(stderr, "mgitctl: repository {} of the listing skipped: {}\n", line, job.error());
      ++invalid;
      continue;
    }
    jobs.push_back(InputDocument{line, std::move(*job)});
  }

  const auto& stats = listed->stats;
  int filtered_total = 0;
  for (const auto& [reason, count] : filtered) filtered_total += count;
  fmt::print(stderr,
             "mgitctl: {} {}: {} repositories listed, {} filtered out{}{}, {} job(s){}; {} "
             "page(s), {} request(s), {} rate-limit wait(s) ({}s), {} retry(ies){}\n",
             provider->name(), options.org, listed->repositories.size(), filtered_total,
             filtered.empty() ? "" : " (", filtered.empty() ? "" : summary_of(filtered) + ")",
             jobs.size(), invalid > 0 ? fmt::format(", {} invalid", invalid) : "", stats.pages,
             stats.requests, stats.waits, stats.waited.count(), stats.retries,
             stats.duplicates > 0
                 ? fmt::format(", {} listed twice by offset paging (dropped)", stats.duplicates)
                 : "");
  if (jobs.empty()) {
    fmt::print(stderr, "mgitctl: no jobs {}\n", options.enqueue ? "to enqueue" : "written");
    return invalid > 0 ? kExitFailed : kExitOk;
  }
  if (options.enqueue) {
    const int code = enqueue_documents(kafka, options.enqueue_options, jobs);
    return code == kExitOk && invalid > 0 ? kExitFailed : code;
  }
  for (const auto& job : jobs) fmt::print("{}\n", job.text);
  std::fflush(stdout);
  return invalid > 0 ? kExitFailed : kExitOk;
}

}  // namespace mgit::mgitctl
