// libFuzzer target: the URL grammar a job's `repository.url` passes, and the redaction of every
// URL mgitd echoes. Beyond "no crash", it checks the properties the security rules rest on
// (docs/job-schema.md, docs/credentials.md) and traps when one breaks.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mgit/jobs/repository_key.hpp"
#include "mgit/security/redaction.hpp"

namespace {

void require(bool property) {
  if (!property) __builtin_trap();
}

/// The host an accepted URL connects to, read the way a connection would read it: after the
/// userinfo's '@' (or the scheme), up to the port or path.
std::string_view connect_host(std::string_view url) {
  const auto scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  if (scheme != std::string_view::npos) rest = rest.substr(0, rest.find('/'));
  if (const auto at = rest.find('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest.front() == '[') return rest.substr(0, rest.find(']') + 1);
  return rest.substr(0, rest.find(':'));
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view url(reinterpret_cast<const char*>(data), size);
  const std::string redacted = mgit::security::redact_url(url);
  // Whatever the URL, no userinfo survives redaction.
  require(redacted.find('@') == std::string::npos);
  (void)mgit::security::redact_urls_in_text(url);

  const auto key = mgit::jobs::normalize_repository_url(url);
  if (!key) return 0;
  // An accepted URL: no query, fragment or second '@', so every reader finds the same host,
  // and that host is the key's.
  require(url.find_first_of("?#") == std::string_view::npos);
  require(url.find('@') == url.rfind('@'));
  const std::string host = lower(connect_host(url));
  const std::string_view key_view = *key;
  const std::string_view key_authority = key_view.substr(key_view.find("://") + 3);
  require(key_authority.substr(0, host.size()) == host);
  require(key_authority.size() == host.size() || key_authority[host.size()] == '/' ||
          key_authority[host.size()] == ':');
  // The key is an accepted URL too, except where a `.git` is left to strip
  // (`https://h/.git.git` -> `https://h/.git`, whose path is then empty).
  const auto again = mgit::jobs::normalize_repository_url(*key);
  require(again.has_value() || key->ends_with(".git"));
  return 0;
}
