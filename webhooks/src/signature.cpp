#include "mgit/webhooks/signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
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
  return basics::lower_hex(digest.data(), length);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool well_formed_proof(Provider provider, std::string_view proof) {
  const auto hex64 = [](std::string_view text) {
    return text.size() == 64 && std::all_of(text.begin(), text.end(), basics::is_ascii_hex);
  };
  switch (provider) {
    case Provider::kGitHub:
      return proof.substr(0, 7) == "sha256=" && hex64(proof.substr(7));
    case Provider::kGitLab:
      return !proof.empty() && proof.size() <= 1024;
    case Provider::kGitea:
      return hex64(proof);
  }
  return false;
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
      // Through digests: equal lengths, so the time does not tell the secret's length either.
      return constant_time_equal(hmac_sha256_hex(proof, "gitlab-token"),
                                 hmac_sha256_hex(secret, "gitlab-token"));
    case Provider::kGitea:
      return constant_time_equal(basics::to_lower(proof), hmac_sha256_hex(secret, body));
  }
  return false;
}

}  // namespace mgit::webhooks
