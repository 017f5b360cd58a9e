#pragma once

#include <string>
#include <string_view>

#include "mgit/webhooks/provider.hpp"

namespace mgit::webhooks {

/// Lower-case hex HMAC-SHA256 of `message` under `key`.
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

/// Equality whose time does not depend on where the inputs differ (only their lengths, which
/// an attacker knows anyway, may show).
bool constant_time_equal(std::string_view a, std::string_view b);

/// Whether `proof` has the provider's shape (`sha256=` and 64 hex digits for GitHub, 64 hex
/// for Gitea, 1..1024 bytes for GitLab): checked before any HMAC over the body is computed.
bool well_formed_proof(Provider provider, std::string_view proof);

/// Whether `proof` (the provider's signature or token header, as sent) proves that whoever
/// sent `body` holds `secret`:
/// - GitHub: `X-Hub-Signature-256` = `sha256=` + hex HMAC-SHA256 of the raw body;
/// - GitLab: `X-Gitlab-Token` = the secret itself;
/// - Gitea/Forgejo: `X-Gitea-Signature` = hex HMAC-SHA256 of the raw body.
/// An empty proof or secret never matches.
bool proves_secret(Provider provider, std::string_view proof, std::string_view body,
                   std::string_view secret);

}  // namespace mgit::webhooks
