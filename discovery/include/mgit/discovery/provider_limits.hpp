#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mgit::discovery {

/// Which repository facts provider `provider_name`'s listing cannot give. A filter on such a
/// fact would select nothing (or everything) without saying why, so the CLI refuses it.
/// Azure DevOps has no topics and no push time; Bitbucket Cloud has no topics and no
/// archived flag (docs/discovery.md).
struct ProviderLimits {
  bool topics = true;
  bool pushed_at = true;
  bool archived = true;
};

ProviderLimits limits_of(std::string_view provider_name);

/// A usage message when `--topic` (`topics`) or `--pushed-since` (`pushed_since`) asks
/// `provider_name` for what it cannot give; nullopt when the filters are answerable.
std::optional<std::string> unanswerable_filter(std::string_view provider_name, bool topics,
                                               bool pushed_since);

}  // namespace mgit::discovery
