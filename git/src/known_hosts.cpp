#include "known_hosts.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "mgit/basics/ascii.hpp"

namespace mgit::git {
namespace {

using basics::contains;
using basics::starts_with;
using basics::to_lower;

std::vector<unsigned char> base64_decode(std::string_view text) {
  std::vector<unsigned char> out(3 * ((text.size() + 3) / 4) + 1);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return {};
  auto size = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;
  out.resize(size);
  return out;
}

bool host_matches(std::string_view patterns, std::string_view host) {
  std::size_t begin = 0;
  while (begin <= patterns.size()) {
    const std::size_t end = std::min(patterns.find(',', begin), patterns.size());
    std::string_view pattern = patterns.substr(begin, end - begin);
    // `[host]:22` names the default port; other ports are not told apart here.
    if (starts_with(pattern, "[") && contains(pattern, "]")) {
      pattern = pattern.substr(1, pattern.find(']') - 1);
    }
    if (to_lower(pattern) == to_lower(host)) return true;
    begin = end + 1;
  }
  return false;
}

}  // namespace

std::string check_known_hosts(std::string_view known_hosts, std::string_view host, const char* key,
                              std::size_t key_length) {
  std::istringstream in{std::string(known_hosts)};
  const std::vector<unsigned char> wanted(key, key + key_length);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string hosts, type, blob;
    if (!(fields >> hosts >> type >> blob) || hosts.front() == '#' || hosts.front() == '@') {
      continue;  // comments, markers (@revoked, @cert-authority) and hashed names unsupported
    }
    if (host_matches(hosts, host) && base64_decode(blob) == wanted) return {};
  }
  return fmt::format("ssh host key of '{}' is not in the credential's known_hosts", host);
}

}  // namespace mgit::git
