#include "mgit/security/known_hosts.hpp"

#include <fmt/format.h>
#include <libssh2.h>

#include <algorithm>
#include <new>

#include "mgit/basics/ascii.hpp"
#include "mgit/basics/handle.hpp"

namespace mgit::security {
namespace {

constexpr int kDefaultSshPort = 22;

void free_session(LIBSSH2_SESSION* session) { libssh2_session_free(session); }
using SessionPtr = basics::Handle<LIBSSH2_SESSION, &free_session>;
using KnownHostsPtr = basics::Handle<LIBSSH2_KNOWNHOSTS, &libssh2_knownhost_free>;

/// libssh2 hangs its known-hosts collection off a session; this one never connects.
struct Collection {
  SessionPtr session;
  KnownHostsPtr hosts;
  std::vector<int> unparsable;
};

/// Whether a hashed name (`|1|salt|hash`) carries a hash of SHA-1's 20 bytes in base64.
/// libssh2 1.10 takes any hash, and then leaks an HMAC context on every check against one of
/// another length; such a line is reported instead, and a file with one is never checked.
bool well_formed_hash(std::string_view host_field) {
  if (!basics::starts_with(host_field, "|1|")) return true;
  const std::size_t bar = host_field.find('|', 3);
  if (bar == std::string_view::npos) return false;
  const std::string_view hash = host_field.substr(bar + 1);
  constexpr std::size_t kSha1Base64 = 28;  // 20 bytes: 27 characters and one '='
  return hash.size() == kSha1Base64 && hash.back() == '=' &&
         std::all_of(hash.begin(), hash.end() - 1,
                     [](char c) { return basics::is_ascii_alnum(c) || c == '+' || c == '/'; });
}

Collection read_collection(std::string_view known_hosts) {
  Collection out;
  // libssh2_session_init runs libssh2_init when nobody did; libssh2 counts the callers.
  out.session.reset(libssh2_session_init());
  if (out.session) out.hosts.reset(libssh2_knownhost_init(out.session.get()));
  if (!out.hosts) throw std::bad_alloc();
  libssh2_knownhost* last = nullptr;  // the newest entry so far: libssh2 appends
  int number = 0;
  std::size_t begin = 0;
  while (begin < known_hosts.size()) {
    const std::size_t end = std::min(known_hosts.find('\n', begin), known_hosts.size());
    ++number;
    // A copy: libssh2 reads one byte past the length it is given, looking for a newline.
    std::string line(known_hosts.substr(begin, end - begin));
    begin = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::size_t host_begin = std::min(line.find_first_not_of(" \t"), line.size());
    const std::string_view host_field = std::string_view(line).substr(
        host_begin, line.find_first_of(" \t", host_begin) - host_begin);
    if (!well_formed_hash(host_field) ||
        libssh2_knownhost_readline(out.hosts.get(), line.c_str(), line.size(),
                                   LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
      out.unparsable.push_back(number);
      continue;
    }
    // libssh2 also takes a line whose key type it does not know (an `@revoked` or
    // `@cert-authority` marker reads that way too) and then never matches it: as good as
    // unparsed, and a silently ignored revocation is worse than a refusal.
    bool unknown = false;
    for (libssh2_knownhost* next = nullptr;
         libssh2_knownhost_get(out.hosts.get(), &next, last) == 0; last = next) {
      unknown =
          unknown || (next->typemask & LIBSSH2_KNOWNHOST_KEY_MASK) == LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
    }
    if (unknown) out.unparsable.push_back(number);
  }
  return out;
}

}  // namespace

std::vector<int> unparsable_known_hosts_lines(std::string_view known_hosts) {
  return read_collection(known_hosts).unparsable;
}

std::string check_known_hosts(std::string_view known_hosts, std::string_view host, int port,
                              const char* key, std::size_t key_length) {
  const Collection collection = read_collection(known_hosts);
  if (!collection.unparsable.empty()) {
    return fmt::format(
        "known_hosts line {} cannot be parsed by libssh2; fix or remove it (mgitctl credentials "
        "check lists every such line)",
        collection.unparsable.front());
  }
  // OpenSSH writes `host` for port 22 and `[host]:port` for any other, and hashes that same
  // string. libssh2_knownhost_checkp would also accept a plain `host` entry for another port,
  // so the exact name is built here and checked on its own.
  // OpenSSH writes names lower-case; libssh2 compares them byte for byte.
  // libgit2 1.5 keeps the brackets of an scp-like IPv6 host (`git@[::1]:org/app`); OpenSSH
  // writes the address bare (`::1`, or `[::1]:2222` with the brackets of the port form).
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string lower = basics::to_lower(host);
  const std::string name =
      port == kDefaultSshPort || port <= 0 ? lower : fmt::format("[{}]:{}", lower, port);
  const int rc =
      libssh2_knownhost_check(collection.hosts.get(), name.c_str(), key, key_length,
                              LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW, nullptr);
  switch (rc) {
    case LIBSSH2_KNOWNHOST_CHECK_MATCH:
      return {};
    case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
      return fmt::format(
          "ssh host key of '{}' differs from the one the credential's known_hosts lists for it",
          name);
    case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
      return fmt::format("ssh host key of '{}' is not in the credential's known_hosts", name);
    default:
      return fmt::format("ssh host key of '{}' could not be checked against known_hosts", name);
  }
}

}  // namespace mgit::security
