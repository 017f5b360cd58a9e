// libFuzzer target: the URL grammar a job's `repository.url` passes, the network policy that
// judges its host, and the redaction of every URL mgitd echoes. Beyond "no crash", it checks the
// properties the security rules rest on (docs/job-schema.md, docs/credentials.md) and traps when
// one breaks.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mgit/jobs/repository_key.hpp"
#include "mgit/security/network_policy.hpp"
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

/// The policy reads an IPv4 host the way the resolver will connect to it: inet_aton(3)'s
/// spellings (`0x7f.1`, `2130706433`, …). A spelling it read differently, or not at all, would
/// let a denied address through as a "host name".
void check_ipv4_spelling(std::string_view text) {
  for (const char c : text) {
    // inet_aton stops at white space and ignores what follows; hosts never hold any.
    if (c == '\0' || c == ' ' || (c >= '\t' && c <= '\r')) return;
  }
  const std::string terminated(text);
  in_addr expected{};
  const bool resolver_reads_it = inet_aton(terminated.c_str(), &expected) != 0;
  const auto parsed = mgit::security::parse_ipv4_any_spelling(text);
  require(parsed.has_value() == resolver_reads_it);
  if (parsed) {
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&expected.s_addr);
    for (int i = 0; i < 4; ++i) require(parsed->bytes[static_cast<std::size_t>(i)] == bytes[i]);
  }
}

/// A literal host is judged the same before resolution (check_host) as the address it is
/// (check_address), and an IPv6 form carrying an IPv4 address is never more open than it.
void check_policy(std::string_view host) {
  static const mgit::security::NetworkPolicy kDefault;
  const auto literal = mgit::security::parse_ip_literal(host);
  const bool denied_by_name = kDefault.check_host(host).has_value();
  if (!literal) return;
  require(denied_by_name == kDefault.check_address(host, *literal).has_value());
  if (const auto embedded = literal->embedded_ipv4()) {
    if (kDefault.check_address(host, *embedded)) require(denied_by_name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view url(reinterpret_cast<const char*>(data), size);
  check_ipv4_spelling(url);
  check_policy(url);
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
  const std::string_view key_host = connect_host(key_view);
  // An address is keyed in one spelling (`0x7f.1` -> `127.0.0.1`): the same address, then;
  // a name is the same name.
  if (const auto address = mgit::security::parse_ip_literal(host)) {
    require(mgit::security::parse_ip_literal(key_host) == address);
  } else {
    require(key_host == host);
  }
  check_policy(host);
  // The key is an accepted URL too, except where a `.git` is left to strip
  // (`https://h/.git.git` -> `https://h/.git`, whose path is then empty).
  const auto again = mgit::jobs::normalize_repository_url(*key);
  require(again.has_value() || key->ends_with(".git"));
  return 0;
}
