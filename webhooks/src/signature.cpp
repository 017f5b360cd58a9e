#include "mgit/webhooks/signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

#include "mgit/basics/ascii.hpp"

namespace mgit::webhooks {

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  const auto* done = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                          digest.data(), &length);
  if (done == nullptr) return {};  // no digest matches any proof
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string hex;
  hex.reserve(std::size_t{length} * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4U]);
    hex.push_back(kHex[digest[i] & 0x0fU]);
  }
  return hex;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool proves_secret(Provider provider, std::string_view proof, std::string_view body,
                   std::string_view secret) {
  if (proof.empty() || secret.empty()) return false;
  switch (provider) {
    case Provider::kGitHub: {
      constexpr std::string_view kScheme = "sha256=";
      if (proof.substr(0, kScheme.size()) != kScheme) return false;
      return constant_time_equal(basics::to_lower(proof.substr(kScheme.size())),
                                 hmac_sha256_hex(secret, body));
    }
    case Provider::kGitLab:
      return constant_time_equal(proof, secret);
    case Provider::kGitea:
      return constant_time_equal(basics::to_lower(proof), hmac_sha256_hex(secret, body));
  }
  return false;
}

}  // namespace mgit::webhooks
