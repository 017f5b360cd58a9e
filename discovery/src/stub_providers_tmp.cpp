// TEMPORARY (branch dcore only): links until helper discover-providers' gitlab, azure-devops
// and bitbucket parsers are merged. Delete this file when merging theirs.
#include "provider_support.hpp"

namespace mgit::discovery {
std::unique_ptr<Provider> make_gitlab_provider() { return nullptr; }
std::unique_ptr<Provider> make_azure_devops_provider() { return nullptr; }
std::unique_ptr<Provider> make_bitbucket_provider() { return nullptr; }
}  // namespace mgit::discovery
