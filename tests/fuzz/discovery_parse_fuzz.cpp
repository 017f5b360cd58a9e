// A provider's API answer is untrusted: whatever listens at the API base (or sits between)
// chooses the body and the paging headers. Every provider's parser must never crash, hang or
// read out of bounds, and whatever it accepts must keep the token on the API's origin: a
// next page or follow-up listing elsewhere traps.
//
// Input: byte 0 picks the provider, byte 1 the request (the listing's first request, or the
// provider's follow-up listing); then one header value up to '\n' (sent as every paging header
// the providers read), then the body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mgit/discovery/provider.hpp"
#include "provider_support.hpp"

namespace {

using mgit::discovery::ApiRequest;
using mgit::discovery::ApiResponse;
using mgit::discovery::Provider;
using mgit::discovery::Query;

struct Target {
  const char* name;
  /// A follow-up listing's path under the API base, for providers that have one.
  const char* follow_up;
};

// One line per provider (make_provider resolves the name).
constexpr Target kTargets[] = {
    {"gitlab", nullptr},
    {"azure-devops",
     "/acme/6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c/_apis/git/repositories?api-version=7.1"},
    {"bitbucket", nullptr},
    {"github", nullptr},
    {"gitea", nullptr},
};
constexpr std::size_t kTargetCount = sizeof(kTargets) / sizeof(kTargets[0]);
constexpr std::string_view kBase = "https://api.example.test/base";

void check(bool condition) {
  if (!condition) __builtin_trap();
}

void check_request(const ApiRequest& request) {
  check(mgit::discovery::same_origin(kBase, request.url));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const Target& target = kTargets[data[0] % kTargetCount];
  static const auto providers = [] {
    std::vector<std::unique_ptr<Provider>> made;
    for (const Target& t : kTargets) made.push_back(mgit::discovery::make_provider(t.name));
    return made;
  }();
  const Provider* provider = providers[static_cast<std::size_t>(&target - kTargets)].get();
  if (provider == nullptr) return 0;
  const Query query{std::string(kBase), "acme/sub group"};
  ApiRequest request;
  if (data[1] % 2 == 1 && target.follow_up != nullptr) {
    request.url = std::string(kBase) + target.follow_up;
  } else {
    request = provider->first(query).front();
  }
  const std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  const auto newline = rest.find('\n');
  const std::string_view header =
      newline == std::string_view::npos ? std::string_view() : rest.substr(0, newline);
  ApiResponse response;
  response.status = 200;
  response.body = std::string(newline == std::string_view::npos ? rest : rest.substr(newline + 1));
  for (const char* name : {"x-next-page", "x-ms-continuationtoken", "link", "x-total-count"}) {
    response.headers.emplace_back(name, std::string(header));
  }
  const auto page = provider->parse(query, request, response);
  if (!page) {
    check(!page.error().message.empty());
    return 0;
  }
  if (page->next) {
    check_request(*page->next);
    // A next page is a different request: the same one again would page forever.
    check(page->next->url != request.url);
  }
  for (const ApiRequest& more : page->more) check_request(more);
  for (const auto& repository : page->repositories) {
    check(!repository.full_name.empty());
    check(!repository.name.empty());
    check(!repository.https_url.empty());
  }
  return 0;
}
