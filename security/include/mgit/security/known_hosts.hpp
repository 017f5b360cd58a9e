#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mgit::security {

/// Line numbers (1-based) of `known_hosts` (an OpenSSH known_hosts file's content) that
/// libssh2's parser refuses, in order; empty when every line parses. libssh2 reads a file
/// only up to its first such line, so the content is fed to it line by line and each refusal
/// is kept. Comments and blank lines always parse. Thread-safe.
std::vector<int> unparsable_known_hosts_lines(std::string_view known_hosts);

/// Empty when the raw ssh host `key` is listed for `host` on `port` in `known_hosts`, else
/// the problem, fit for a job's error message (names the host and line numbers, never file
/// content). Matching is libssh2's (`libssh2_knownhost_check`): plain and hashed (`|1|…`)
/// names, comma lists; like OpenSSH, port 22 matches `host` entries and any other port only
/// `[host]:port` entries. A file with a line libssh2 cannot parse is refused as a whole,
/// naming the line: the line may be a revocation, and skipping it could trust a revoked key.
/// libgit2 1.5 accepts every ssh host key by itself, so this is the whole check.
std::string check_known_hosts(std::string_view known_hosts, std::string_view host, int port,
                              const char* key, std::size_t key_length);

}  // namespace mgit::security
