#include "mgit/webhooks/provider.hpp"

namespace mgit::webhooks {

std::string_view to_string(Provider provider) {
  switch (provider) {
    case Provider::kGitHub:
      return "github";
    case Provider::kGitLab:
      return "gitlab";
    case Provider::kGitea:
      return "gitea";
  }
  return "unknown";
}

std::optional<Provider> parse_provider(std::string_view name) {
  if (name == "github") return Provider::kGitHub;
  if (name == "gitlab") return Provider::kGitLab;
  if (name == "gitea") return Provider::kGitea;
  return std::nullopt;
}

}  // namespace mgit::webhooks
