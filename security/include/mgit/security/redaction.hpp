#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mgit::security {

/// Replaces the userinfo of every URL-looking substring (`scheme://userinfo@host`).
/// `user:password@` becomes `***@`. A bare user name is kept only for ssh schemes
/// (`ssh://git@host`), because for http(s) a lone "user name" is often a token
/// (`https://ghp_xxx@github.com/`). scp-like `git@host:path` is not a URL and is kept.
std::string redact_userinfo(std::string_view text);

/// Removes known secret strings from text that may leave the process (error messages,
/// log lines). Not thread-safe for `add`; `redact` is const and may run concurrently.
class Redactor {
 public:
  /// Secrets of 4 characters or more are replaced wherever they occur. Shorter ones are
  /// replaced only where they stand as a whole token (not inside a longer run of letters and
  /// digits), so a 1-character password does not shred every message; the output grows by at
  /// most 3x either way. Empty secrets are ignored.
  void add(std::string secret);

  /// Replaces every secret, and its percent-encoded form, with `***`, then applies
  /// `redact_userinfo`.
  std::string redact(std::string_view text) const;

 private:
  std::vector<std::string> secrets_;  ///< longest first, so a secret containing another wins
};

}  // namespace mgit::security
