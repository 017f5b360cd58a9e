#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "mgit/discovery/provider.hpp"

namespace mgit::mgitctl {

// The pure half of `mgitctl discover`: which listed repositories become jobs, and the jobs.

struct RepositoryFilter {
  bool include_archived = false;
  bool include_forks = false;
  std::vector<std::string> visibilities;  ///< any of; empty: every visibility
  std::vector<std::string> name_globs;    ///< fnmatch on the name or the full name; any of
  std::vector<std::string> topics;        ///< every one of them; empty: no condition
  std::optional<std::chrono::system_clock::time_point> pushed_since;
};

/// Why `repository` is left out ("archived", "fork", "visibility", "name", "topic",
/// "pushed"), or nullopt when it is kept. Checked in that order; the first reason counts.
std::optional<std::string_view> filtered_out(const RepositoryFilter& filter,
                                             const discovery::Repository& repository);

struct JobShape {
  std::string provider;
  std::string org;
  std::string operation = "mirror";
  /// Placeholders {provider}, {org}, {full_name}, {name}.
  std::string target_template = "{provider}/{full_name}";
  std::string credential;  ///< the git credential the jobs name; empty: none
  bool ssh = false;        ///< clone over the ssh URL instead of https
  std::string requested_by;
  std::size_t max_message_bytes = 65536;
};

/// Checks the template's placeholders and that a plain repository yields a valid target;
/// the message names the problem and the fix.
tl::expected<void, std::string> check_shape(const JobShape& shape);

/// The target `shape.target_template` gives for `repository`.
std::string render_target(const JobShape& shape, const discovery::Repository& repository);

/// One job (a JSON line) for `repository`, validated as mgitd would validate it; the error
/// says why it is not a valid job (an API-provided name that makes an unsafe target, no ssh
/// URL, …) without echoing the untrusted values.
tl::expected<std::string, std::string> make_job(const JobShape& shape,
                                                const discovery::Repository& repository,
                                                const std::string& job_id);

}  // namespace mgit::mgitctl
