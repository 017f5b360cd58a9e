#include "mgit/security/credential_check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "mgit/security/credentials.hpp"
#include "mgit/security/known_hosts.hpp"

namespace mgit::security {
namespace {

namespace fs = std::filesystem;

fs::path canonical_or_empty(const fs::path& path) {
  std::error_code ec;
  auto out = fs::canonical(path, ec);
  return ec ? fs::path() : out;
}

}  // namespace

CredentialsReport check_credentials_directory(const fs::path& directory) {
  CredentialsReport report;
  std::error_code ec;
  std::vector<std::string> names;
  for (fs::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code type_error;
    if (name.front() == '.' || !fs::is_regular_file(it->path(), type_error)) continue;
    names.push_back(name);
  }
  if (ec) {
    report.problems.push_back(
        {directory.string(), fmt::format("credentials directory unavailable: {}", ec.message())});
    return report;
  }
  std::sort(names.begin(), names.end());

  const CredentialStore store(directory);
  std::set<fs::path> referenced;  // key and known_hosts files, which are no credential files
  std::map<std::string, CredentialError> failed;
  std::map<std::string, std::vector<std::string>> found;
  for (const auto& name : names) {
    if (!is_valid_credential_name(name)) {
      failed.emplace(name, CredentialError{CredentialErrorCode::kInvalidName,
                                           "file name is not a valid credential name"});
      continue;
    }
    auto credential = store.load(name);
    if (!credential) {
      failed.emplace(name, std::move(credential.error()));
      continue;
    }
    report.credentials.push_back(name);
    auto& messages = found[name];
    if (credential->hosts.empty()) {
      report.without_hosts.push_back(name);
      messages.push_back(credential->missing_hosts_message());
    }
    for (const int line : unparsable_known_hosts_lines(credential->known_hosts_text)) {
      messages.push_back(fmt::format(
          "credential \"{}\": known_hosts file '{}' line {} cannot be parsed by libssh2", name,
          credential->known_hosts.filename().string(), line));
    }
    for (const fs::path* file :
         {&credential->ssh_private_key, &credential->ssh_public_key, &credential->known_hosts}) {
      if (!file->empty()) referenced.insert(canonical_or_empty(*file));
    }
  }
  for (auto& [name, failure] : failed) {
    if (referenced.count(canonical_or_empty(directory / name)) != 0) continue;
    found[name].push_back(std::move(failure.message));
  }
  for (auto& [name, messages] : found) {
    for (auto& message : messages) report.problems.push_back({name, std::move(message)});
  }
  return report;
}

}  // namespace mgit::security
