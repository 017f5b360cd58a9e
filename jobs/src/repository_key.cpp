// Repository keys: URL validation and normalization (see docs/job-schema.md).
#include "mgit/jobs/repository_key.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/basics/ascii.hpp"
#include "mgit/jobs/error.hpp"
#include "mgit/security/network_policy.hpp"
#include "path_segments.hpp"

namespace mgit::jobs {
namespace {

constexpr std::size_t kMaxUrlBytes = 2048;

tl::unexpected<JobError> invalid_url(std::string_view why) {
  return tl::unexpected(JobError{ErrorCode::kInvalidJob, "repository.url: " + std::string(why)});
}

tl::unexpected<JobError> credentials_in_url() {
  return tl::unexpected(JobError{
      ErrorCode::kPolicyDenied,
      "repository.url: credentials in the URL are not allowed; use repository.credential"});
}

tl::unexpected<JobError> not_a_git_url() {
  return invalid_url("not a supported git URL; use https, http, ssh or user@host:path");
}

/// Whether `text` has a ':' before any '/', ignoring the inside of a leading `[...]`:
/// git's own test for the scp-like `host:path` form.
bool colon_before_slash(std::string_view text) {
  std::size_t from = 0;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return false;
    from = close + 1;
  }
  const auto colon = text.find(':', from);
  const auto slash = text.find('/', from);
  return colon != std::string_view::npos && (slash == std::string_view::npos || colon < slash);
}

/// Characters a remote shell would read as syntax. libgit2 hands an ssh path to the server
/// inside single quotes, but a server-side wrapper (gitolite, a forced command) may not, so
/// an ssh path keeps to what repositories are named with. '~' stays: `~user/app` is git's
/// home-directory form.
constexpr std::string_view kShellMetacharacters = "`$;&|<>()\\\"'*!{}[]^";

/// A user name as ssh and libssh2 take it: `[A-Za-z0-9._~-]`, not starting with '-' (which
/// an ssh client would read as an option).
tl::expected<void, JobError> check_user(std::string_view user) {
  if (user.empty()) return invalid_url("user name is empty");
  if (user.front() == '-') return invalid_url("user name must not start with '-'");
  for (char c : user) {
    if (!basics::is_ascii_alnum(c) && c != '.' && c != '_' && c != '~' && c != '-') {
      return invalid_url("user name may only contain letters, digits, '.', '_', '~' and '-'");
    }
  }
  return {};
}

bool valid_reg_name(std::string_view host) {
  if (host.empty() || host.front() == '-' || host.front() == '.') return false;
  for (char c : host) {
    if (!basics::is_ascii_alnum(c) && c != '-' && c != '.' && c != '_') return false;
  }
  return true;
}

bool valid_ipv6_literal(std::string_view bracketed) {
  if (bracketed.size() < 4 || bracketed.front() != '[' || bracketed.back() != ']') return false;
  const auto inner = bracketed.substr(1, bracketed.size() - 2);
  bool has_colon = false;
  for (char c : inner) {
    if (c == ':') {
      has_colon = true;
    } else if (!basics::is_ascii_hex(c) && c != '.') {
      return false;
    }
  }
  return has_colon;
}

/// Lower-cased host, or an error. Zone ids (`%25eth0`) are not supported. An address is
/// written one way whatever its spelling (`0x7f.1`, `2130706433` -> `127.0.0.1`; IPv6 as
/// inet_ntop writes it), and a trailing dot is refused: the key names the host the rate
/// limits and a target are kept per, so one host must not have several keys.
tl::expected<std::string, JobError> normalize_host(std::string_view host) {
  if (host.empty()) return invalid_url("host is missing");
  if (host.front() == '[') {
    if (!valid_ipv6_literal(host)) return invalid_url("invalid IPv6 host literal");
    const auto address = security::parse_ip_literal(host);
    if (!address || !address->v6) return invalid_url("invalid IPv6 host literal");
    return "[" + address->to_string() + "]";
  }
  if (!valid_reg_name(host)) return invalid_url("invalid host name");
  if (host.back() == '.') return invalid_url("host name must not end with '.'");
  if (const auto address = security::parse_ipv4_any_spelling(host)) return address->to_string();
  return basics::to_lower(host);
}

/// `:PORT` when it is not the scheme's default, empty otherwise.
tl::expected<std::string, JobError> normalize_port(std::string_view port, int default_port) {
  if (port.empty()) return std::string();  // RFC 3986: an empty port is the default
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return invalid_url("port must be a number");
    value = value * 10 + (c - '0');
    if (value > 65535) return invalid_url("port out of range");
  }
  if (value == 0) return invalid_url("port out of range");
  if (value == default_port) return std::string();
  return ":" + std::to_string(value);
}

/// Path without trailing `/` and one trailing `.git` (`app.git` or `app/.git`); rejects empty,
/// `.` and `..` segments.
tl::expected<std::string, JobError> normalize_path(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  constexpr std::string_view kGitSuffix = ".git";
  constexpr std::string_view kGitSegment = "/.git";
  // `app/.git` names the same repository as `app.git` (git accepts the work tree's git dir);
  // keeping the segment would also derive a default target ending in `.git`.
  if (path.ends_with(kGitSegment)) {
    path.remove_suffix(kGitSegment.size());
  } else if (path.size() > kGitSuffix.size() + 1 && path.ends_with(kGitSuffix)) {
    path.remove_suffix(kGitSuffix.size());
  }
  if (path.empty()) return invalid_url("repository path is missing");
  if (path.front() != '/') return invalid_url("repository path must be absolute");
  // An argument that starts with '-' is an option to the program the server runs.
  if (path.size() > 1 && path[1] == '-') return invalid_url("path must not start with '-'");
  // '@' is only ever the ssh user's separator: with none in a path, every '@' of an accepted
  // URL ends its user name, and redaction needs no parse to find where a userinfo ends.
  if (path.find('@') != std::string_view::npos) return invalid_url("path must not contain '@'");
  for (const std::string_view segment : split_segments(path.substr(1))) {
    if (const auto why = refused_segment(segment)) {
      return invalid_url("path must not contain " + std::string(*why));
    }
  }
  return std::string(path);
}

struct Scheme {
  std::string_view name;  // as it appears in the key
  int default_port;
  bool user_allowed;  // a bare user name (no password) in userinfo
};

std::optional<Scheme> find_scheme(std::string_view lowered) {
  if (lowered == "https") return Scheme{"https", 443, false};
  if (lowered == "http") return Scheme{"http", 80, false};
  // git+ssh and ssh+git are git's historical spellings of ssh.
  if (lowered == "ssh" || lowered == "git+ssh" || lowered == "ssh+git") {
    return Scheme{"ssh", 22, true};
  }
  return std::nullopt;
}

tl::expected<std::string, JobError> normalize_scheme_url(std::string_view url,
                                                         std::size_t separator) {
  const auto scheme = find_scheme(basics::to_lower(url.substr(0, separator)));
  if (!scheme) return invalid_url("unsupported scheme; use https, http or ssh");

  const auto rest = url.substr(separator + 3);
  auto authority_end = rest.find('/');
  if (authority_end == std::string_view::npos) authority_end = rest.size();
  auto authority = rest.substr(0, authority_end);
  const auto path = rest.substr(authority_end);

  // The last '@' ends the userinfo: an unencoded '@' inside a token must not leak it
  // into the host.
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const auto userinfo = authority.substr(0, at);
    if (userinfo.find(':') != std::string_view::npos) return credentials_in_url();
    // Over http(s) a lone userinfo is how tokens are passed (`https://TOKEN@host`).
    if (!userinfo.empty() && !scheme->user_allowed) return credentials_in_url();
    if (!userinfo.empty()) {
      if (auto user = check_user(userinfo); !user) return tl::unexpected(user.error());
    }
    authority = authority.substr(at + 1);
  }

  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return invalid_url("invalid IPv6 host literal");
    host = authority.substr(0, close + 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid_url("invalid host");
      port = after.substr(1);
    }
  } else if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }

  auto normalized_host = normalize_host(host);
  if (!normalized_host) return tl::unexpected(normalized_host.error());
  auto normalized_port = normalize_port(port, scheme->default_port);
  if (!normalized_port) return tl::unexpected(normalized_port.error());
  if (scheme->name == "ssh" && path.find_first_of(kShellMetacharacters) != std::string_view::npos) {
    return invalid_url("ssh path must not contain shell metacharacters");
  }
  auto normalized_path = normalize_path(path);
  if (!normalized_path) return tl::unexpected(normalized_path.error());
  return std::string(scheme->name) + "://" + *normalized_host + *normalized_port + *normalized_path;
}

/// `user@host:path`: exactly one '@', before the ':' that ends the host. A second '@' would
/// leave two readings of the host (`u@evil:path@good`), and without a user a word such as
/// `javascript:alert(1)` would read as a host named "javascript".
tl::expected<std::string, JobError> normalize_scp_like(std::string_view url) {
  const auto at = url.find('@');
  if (at == std::string_view::npos) return not_a_git_url();
  const auto user = url.substr(0, at);
  const auto text = url.substr(at + 1);
  if (user.find(':') != std::string_view::npos) return credentials_in_url();
  if (text.find('@') != std::string_view::npos) {
    return invalid_url("an scp-like URL has one '@', before the host");
  }
  if (auto checked = check_user(user); !checked) return tl::unexpected(checked.error());
  if (!colon_before_slash(text)) return not_a_git_url();
  std::string_view host;
  std::string_view path;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return invalid_url("invalid IPv6 host literal");
    }
    host = text.substr(0, close + 1);
    path = text.substr(close + 2);
  } else {
    const auto colon = text.find(':');
    host = text.substr(0, colon);
    path = text.substr(colon + 1);
  }
  // `https:/host/x` or `http:host/x` are typos of a URL, not an ssh host named "https".
  if (find_scheme(basics::to_lower(host)) || basics::to_lower(host) == "file" ||
      basics::to_lower(host) == "git") {
    return invalid_url("malformed URL");
  }
  auto normalized_host = normalize_host(host);
  if (!normalized_host) return tl::unexpected(normalized_host.error());
  if (path.find_first_of(kShellMetacharacters) != std::string_view::npos) {
    return invalid_url("ssh path must not contain shell metacharacters");
  }
  std::string absolute_path;
  if (path.empty() || path.front() != '/') absolute_path = "/";
  absolute_path += path;
  auto normalized_path = normalize_path(absolute_path);
  if (!normalized_path) return tl::unexpected(normalized_path.error());
  return "ssh://" + *normalized_host + *normalized_path;
}

}  // namespace

tl::expected<std::string, JobError> normalize_repository_url(std::string_view url) {
  if (url.empty()) return invalid_url("must not be empty");
  if (url.size() > kMaxUrlBytes) return invalid_url("longer than 2048 bytes");
  for (char c : url) {
    if (basics::is_ascii_control(c) || c == ' ') {
      return invalid_url("must not contain whitespace or control characters");
    }
  }
  // A query or fragment means nothing to a git remote; accepting one would make two keys
  // for one repository and give a token in it a place to hide from redaction.
  if (url.find_first_of("?#") != std::string_view::npos) {
    return invalid_url("must not contain a query or fragment ('?' or '#')");
  }
  if (const auto separator = url.find("://"); separator != std::string_view::npos) {
    return normalize_scheme_url(url, separator);
  }
  return normalize_scp_like(url);
}

std::string host_of_repository_key(std::string_view key) {
  auto rest = key;
  if (const auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    rest.remove_prefix(scheme + 3);
  }
  return std::string(rest.substr(0, rest.find('/')));
}

}  // namespace mgit::jobs
