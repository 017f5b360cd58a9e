// A credential file is written by an operator, or by whatever tooling syncs a secret store
// into the mounted directory; mgitd parses it for every job that names it. The parser and
// the known_hosts reading behind it must never crash, hang or read out of bounds, and a file
// without `hosts=` must never allow a host.
#include <stdlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "mgit/security/credentials.hpp"
#include "mgit/security/known_hosts.hpp"

namespace {

namespace fs = std::filesystem;

/// One directory for the whole run: `c` is the credential file, `kh` a known_hosts file
/// (reached through `known_hosts=kh`), `key` a private key file.
const fs::path& directory() {
  static const fs::path dir = [] {
    std::string pattern = (fs::temp_directory_path() / "mgit-cred-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    std::ofstream(fs::path(pattern) / "key") << "-----BEGIN OPENSSH PRIVATE KEY-----\n";
    return fs::path(pattern);
  }();
  return dir;
}

void write(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

/// The input is the credential file, then optionally a line `---` and the known_hosts file.
constexpr std::string_view kSeparator = "\n---\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mgit::security;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t split = std::min(input.find(kSeparator), input.size());
  write(directory() / "c", input.substr(0, split));
  write(directory() / "kh", input.substr(std::min(split + kSeparator.size(), input.size())));
  const auto credential = CredentialStore(directory()).load("c");
  if (!credential) return 0;
  const auto refusal = credential_refusal(*credential, "ssh://git@git.example.com:2222/org/app");
  if (credential->hosts.empty() && (!refusal || credential->allows_host("git.example.com", 2222))) {
    std::abort();  // a credential without hosts= was usable
  }
  (void)unparsable_known_hosts_lines(credential->known_hosts_text);
  const std::string key = "ssh-host-key-bytes";
  (void)check_known_hosts(credential->known_hosts_text, "git.example.com", 2222, key.data(),
                          key.size());
  return 0;
}
