#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "mgit/git/git_executor.hpp"
#include "mgit/security/network_policy.hpp"

namespace mgit::git {

/// A host (normalized: lower-case, no brackets, no trailing dot) and a port.
struct Endpoint {
  std::string host;
  int port = 0;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

/// What libgit2's connections may reach during one job (docs/git-executor.md, "Network
/// policy").
struct ConnectPolicy {
  const security::NetworkPolicy* network = nullptr;  ///< never null while installed
  Endpoint job;  ///< the job URL's host and port (the scheme's default when it names none)
  FollowRedirects follow_redirects = FollowRedirects::kNone;
  std::optional<Endpoint> proxy;  ///< `git_proxy`: exempt from the address check
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds socket_timeout{300000};
};

/// What the stream did during one job, for the credential callback and the error's
/// classification.
struct ConnectLog {
  std::optional<security::NetworkDenial> denial;  ///< why the last connection was refused
  std::optional<Endpoint> connected;  ///< where the latest connection went (host as asked)
  bool via_proxy = false;             ///< … and that was the proxy
  bool refused = false;               ///< the last connect failed because every address refused it
};

/// Installs `policy` and `log` for the libgit2 calls this thread makes while the scope
/// lives; the previous scope (if any) comes back on destruction. Outside every scope the
/// stream refuses to connect. Both must outlive the scope.
class ConnectScope {
 public:
  ConnectScope(const ConnectPolicy& policy, ConnectLog& log);
  ~ConnectScope();
  ConnectScope(const ConnectScope&) = delete;
  ConnectScope& operator=(const ConnectScope&) = delete;

  [[nodiscard]] const ConnectPolicy& policy() const { return policy_; }
  [[nodiscard]] ConnectLog& log() const { return log_; }

 private:
  const ConnectPolicy& policy_;
  ConnectLog& log_;
  const ConnectScope* previous_;
};

/// Makes this stream libgit2's standard (socket) stream for the whole process: plain http,
/// the socket under libgit2's mbedTLS stream and the ssh transport's socket all come from
/// it. Idempotent; the error says why libgit2 refused.
tl::expected<void, std::string> register_policy_stream();

}  // namespace mgit::git
