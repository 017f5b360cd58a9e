#include "preemptive_auth.hpp"

#include <openssl/evp.h>

#include <string>

#include "mgit/basics/ascii.hpp"

namespace mgit::git {

security::Secret basic_auth_token(const security::Credential& credential) {
  const security::Secret plain(credential.username + ":" + credential.password.reveal());
  const std::string& in = plain.reveal();
  // 4 output bytes for every 3 input bytes, rounded up, and EVP_EncodeBlock's final NUL.
  std::string out(((in.size() + 2) / 3) * 4 + 1, '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(in.data()),
                                     static_cast<int>(in.size()));
  out.resize(length < 0 ? 0 : static_cast<std::size_t>(length));
  return security::Secret(std::move(out));
}

std::optional<security::Secret> preemptive_auth_header(const security::Credential* credential,
                                                       std::string_view url,
                                                       FollowRedirects follow_redirects) {
  if (credential == nullptr || !credential->has_userpass() || credential->username.empty() ||
      credential->username.find(':') != std::string::npos) {
    return std::nullopt;
  }
  if (basics::to_lower(url.substr(0, 8)) != "https://") return std::nullopt;
  if (follow_redirects != FollowRedirects::kNone) return std::nullopt;
  if (security::credential_refusal(*credential, url)) return std::nullopt;
  return security::Secret("Authorization: Basic " + basic_auth_token(*credential).reveal());
}

}  // namespace mgit::git
