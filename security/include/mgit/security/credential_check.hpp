#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace mgit::security {

/// One problem of one file of a credentials directory. `message` names the credential and
/// the problem, never a value from a file.
struct CredentialProblem {
  std::string file;  ///< the file's name in the directory (the directory itself when unusable)
  std::string message;
};

/// What a look at every file of a credentials directory found.
struct CredentialsReport {
  std::vector<std::string> credentials;     ///< names that load, sorted
  std::vector<std::string> without_hosts;   ///< of those, the ones without `hosts=`, sorted
  std::vector<CredentialProblem> problems;  ///< by file name, then as found
};

/// Loads every credential file of `directory` as a job would and lists every problem: a
/// missing `hosts=` line, a malformed file, an unreadable key or known_hosts file, each
/// known_hosts line libssh2 cannot parse. Files a credential names (keys, known_hosts) are
/// not credential files and are not reported; names starting with a dot (Kubernetes'
/// `..data`) are skipped. Reads the filesystem only; thread-safe.
CredentialsReport check_credentials_directory(const std::filesystem::path& directory);

}  // namespace mgit::security
