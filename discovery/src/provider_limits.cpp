#include "mgit/discovery/provider_limits.hpp"

namespace mgit::discovery {

ProviderLimits limits_of(std::string_view provider_name) {
  ProviderLimits limits;
  if (provider_name == "azure-devops") {
    limits.topics = false;
    limits.pushed_at = false;
  } else if (provider_name == "bitbucket") {
    limits.topics = false;
    limits.archived = false;
  }
  return limits;
}

std::optional<std::string> unanswerable_filter(std::string_view provider_name, bool topics,
                                               bool pushed_since) {
  const ProviderLimits limits = limits_of(provider_name);
  const std::string provider(provider_name);
  if (topics && !limits.topics) {
    return "--topic: " + provider + " repositories have no topics; leave --topic out for " +
           provider;
  }
  if (pushed_since && !limits.pushed_at) {
    return "--pushed-since: " + provider +
           " lists no push time for a repository; leave --pushed-since out for " + provider;
  }
  return std::nullopt;
}

}  // namespace mgit::discovery
