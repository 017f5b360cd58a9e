// A webhook's body and headers are untrusted until its proof is checked, and its payload stays
// untrusted after (a provider relays what users named their repositories). Traps when a
// security property breaks: a payload must never move a job off its route's host, and a
// forged X-Forwarded-For must never name an address that is not one.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mgit/security/network_policy.hpp"
#include "mgit/webhooks/push_event.hpp"
#include "mgit/webhooks/routes.hpp"
#include "mgit/webhooks/source_limits.hpp"
#include "mgit/webhooks/webhook_job.hpp"

using namespace mgit::webhooks;

namespace {

const Route& route() {
  static const Route the_route = [] {
    Route r;
    r.name = "fuzz";
    r.provider = Provider::kGitHub;
    r.secret_file = "/dev/null";
    r.repositories = {"**"};
    r.url = "https://git.example.com/{repository}.git";
    r.target = "mirrors/{repository}";
    return r;
  }();
  return the_route;
}

const TrustedProxies& proxies() {
  static const TrustedProxies trusted = *TrustedProxies::parse({"10.0.0.0/8", "fd00::/8"});
  return trusted;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto provider = static_cast<Provider>(data[0] % 3);
  if (const auto event = parse_push_event(provider, input)) {
    if (!valid_repository_name(event->repository)) std::abort();
    if (const auto job = build_webhook_job(route(), event->repository, "delivery")) {
      if (job->repository_key.rfind("https://git.example.com/", 0) != 0) std::abort();
    }
    (void)repository_glob_matches(event->repository, event->repository);
  }
  const auto client = client_address("10.1.2.3", input, proxies());
  if (client != "10.1.2.3" && !mgit::security::parse_ip_literal(client)) std::abort();
  return 0;
}
