#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace mgit::git {

/// Empty when the raw ssh host `key` is listed for `host` in `known_hosts` (an OpenSSH
/// known_hosts file's content);
/// else the problem, fit for a job's error message. Plain host names only: hashed names,
/// `@cert-authority` and `@revoked` lines are skipped, and `[host]:port` matches `host` on any
/// port. libgit2 1.5 accepts every ssh host key by itself, so this is the whole check.
std::string check_known_hosts(std::string_view known_hosts, std::string_view host, const char* key,
                              std::size_t key_length);

}  // namespace mgit::git
