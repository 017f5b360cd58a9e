#pragma once

#include <optional>
#include <string_view>

namespace mgit::webhooks {

/// The git hosting products whose push webhooks mgitd accepts (docs/webhooks.md).
enum class Provider { kGitHub, kGitLab, kGitea };

/// `github`, `gitlab`, `gitea`: the path segment, the routes file's `provider` and the
/// `provider` metric label.
std::string_view to_string(Provider provider);
std::optional<Provider> parse_provider(std::string_view name);

}  // namespace mgit::webhooks
