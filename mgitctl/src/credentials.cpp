#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "commands.hpp"
#include "mgit/security/credential_check.hpp"

namespace mgit::mgitctl {

int run_credentials_check(const CredentialsCheckOptions& options) {
  const auto report = security::check_credentials_directory(options.directory);
  for (const auto& problem : report.problems) {
    fmt::print("{}: {}\n", problem.file, problem.message);
  }
  for (const auto& name : report.credentials) {
    const bool clean = std::none_of(report.problems.begin(), report.problems.end(),
                                    [&](const auto& problem) { return problem.file == name; });
    if (clean) fmt::print("ok {}\n", name);
  }
  std::fflush(stdout);
  if (!report.problems.empty()) {
    fmt::print(stderr, "{}: {} problem(s); see docs/credentials.md\n", options.directory,
               report.problems.size());
    return kExitFailed;
  }
  if (report.credentials.empty()) {
    fmt::print(stderr, "{}: no credential files found\n", options.directory);
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace mgit::mgitctl
