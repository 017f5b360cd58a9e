#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mgit::security {

// One function for every URL that leaves the process (results, log lines, spans, error
// messages, Kafka keys, mgitctl output), whether or not the URL was accepted:
//   - all userinfo goes, not only `user:password@`: over http(s) a lone "user" is usually a
//     token (`https://ghp_xxx@github.com/`), and a bare ssh user (`ssh://git@host`,
//     `git@host:org/app`) is an account name that identifies nothing the repository key does
//     not, so dropping it costs no information and spares the scheme-by-scheme exceptions;
//   - the userinfo ends at the URL's *last* '@'. An accepted URL has no '@' but the user's
//     (docs/job-schema.md), so that is exact for it; for a refused one there is no telling
//     where a userinfo ends (`https://u:pa/ss@host/`, `https://oauth2:glpat-x#y@host/`), and
//     cutting at the last '@' over-redacts rather than guesses.

/// `url` without everything between its `://` (its start, when there is none) and its last
/// '@': `https://u:p@host/x` -> `https://host/x`, `git:secret@host:org/app` -> `host:org/app`.
/// Use this for one URL, e.g. a job's `repository.url` or a configured endpoint.
std::string redact_url(std::string_view url);

/// Free text (an error message, a log line) with every URL in it redacted by `redact_url`.
/// A URL ends at white space, a control character or one of `"'<>` and the backtick;
/// without `://`, only a word shaped `…@host:…` counts as an scp-like URL, so a mail address
/// stays. Text without URLs comes back unchanged.
std::string redact_urls_in_text(std::string_view text);

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
  /// `redact_urls_in_text`.
  [[nodiscard]] std::string redact(std::string_view text) const;

 private:
  std::vector<std::string> secrets_;  ///< longest first, so a secret containing another wins
};

}  // namespace mgit::security
