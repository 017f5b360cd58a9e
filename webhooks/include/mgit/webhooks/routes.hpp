#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "mgit/jobs/job.hpp"
#include "mgit/webhooks/provider.hpp"

namespace mgit::webhooks {

/// One entry of the routes file: which repositories of which provider may trigger a job, and
/// the job they trigger. The file is the allowlist (docs/webhooks.md).
struct Route {
  std::string name;
  Provider provider = Provider::kGitHub;
  std::string secret_file;                ///< one or two accepted secrets, one per line
  std::vector<std::string> repositories;  ///< full-name globs
  std::string host;                       ///< empty: any; else the payload's web URL host
  std::string url;                        ///< clone URL template with `{repository}`
  jobs::Operation operation = jobs::Operation::kSync;
  std::string target;  ///< template with `{repository}`; empty: derived from the key
  std::string credential;
  std::string ref;  ///< empty: the remote's default branch
};

/// `*` matches within one path segment, `**` across segments (`group/**` matches
/// `group/a` and `group/sub/a`); everything else literally, case-sensitively.
bool repository_glob_matches(std::string_view glob, std::string_view repository);

/// `text` with every `{repository}` replaced by `repository`.
std::string render_template(std::string_view text, std::string_view repository);

class RouteTable {
 public:
  /// Parses the TOML text of a routes file; every route is checked by building the job it
  /// would build for a sample repository, so a route that can only make invalid jobs fails
  /// here, at startup or reload, not on the first push. The error names the route.
  static tl::expected<RouteTable, std::string> parse(std::string_view toml_text);
  static tl::expected<RouteTable, std::string> load(const std::string& path);

  [[nodiscard]] const std::vector<Route>& routes() const { return routes_; }

  /// The first route of `provider` whose secret file is `secret_file`, whose host matches
  /// `host` and one of whose globs matches `repository`; nullptr when none does.
  [[nodiscard]] const Route* match(Provider provider, std::string_view secret_file,
                                   std::string_view host, std::string_view repository) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace mgit::webhooks
