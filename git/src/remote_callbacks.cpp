#include "remote_callbacks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

#include "libgit2_handles.hpp"
#include "mgit/basics/ascii.hpp"
#include "mgit/security/known_hosts.hpp"

namespace mgit::git {
namespace {

// libgit2 calls the credential callback again on every 401 without limit; two tries let a
// first anonymous probe be followed by the credential, and no more.
constexpr int kMaxAuthAttempts = 2;

int on_credentials(git_credential** out, const char* url, const char* username_from_url,
                   unsigned int allowed, void* payload) {
  auto& t = *static_cast<Transfer*>(payload);
  if (t.control->should_stop()) {
    t.stopped = true;
    return GIT_EUSER;
  }
  if (t.credential == nullptr) {
    t.findings.auth_without_credential = true;
    return GIT_EUSER;
  }
  if (t.credential_presented) {
    // The header carried the credential already: the server's 401 is its answer to it, not
    // a challenge, and asking again would only repeat the rejected request.
    t.findings.auth_exhausted = true;
    return GIT_EUSER;
  }
  const security::Credential& cred = *t.credential;
  const std::string_view libgit2_url = url == nullptr ? "" : url;
  if (basics::starts_with(basics::to_lower(libgit2_url.substr(0, 7)), "http://")) {
    t.findings.policy_denied =
        fmt::format("credential '{}' is never sent over plain http", cred.name);
    return GIT_EUSER;
  }
  // Upstream libgit2 1.5 names the job URL even after a redirect (Debian's deb12u2 names the
  // redirected host, CVE-2026-53586); either way the credential is bound to where the
  // stream actually connected. Through the proxy the tunnel goes to the URL's host, whose
  // name TLS verifies.
  const ConnectLog* log = t.connections;
  if (log == nullptr || !log->connected) {
    t.findings.policy_denied = fmt::format(
        "credential '{}' withheld: no connection it could be bound to is known", cred.name);
    return GIT_EUSER;
  }
  std::string host = log->connected->host;
  std::optional<int> port = log->connected->port;
  if (log->via_proxy) {
    std::tie(host, port) = security::url_host(libgit2_url);
  } else if (log->connected->port == t.job_endpoint.port) {
    port = t.job_url_port;  // a `hosts` entry without a port matches a URL without one
  }
  if (!cred.allows_host(host, port)) {
    t.findings.host_not_allowed = port ? fmt::format("{}:{}", host, *port) : host;
    return GIT_EUSER;
  }
  const std::string url_user = username_from_url != nullptr ? username_from_url : "";
  // Over ssh the URL's user (`git@host`) is the account the key is for; over HTTP the
  // credential's user name goes with its password.
  std::string ssh_user =
      url_user.empty() ? (cred.username.empty() ? "git" : cred.username) : url_user;
  if ((allowed & GIT_CREDENTIAL_USERNAME) != 0) {
    return git_credential_username_new(out, ssh_user.c_str());
  }
  if (++t.auth_attempts > kMaxAuthAttempts) {
    t.findings.auth_exhausted = true;
    return GIT_EUSER;
  }
  // A key is preferred over a password where the server takes both (ssh): it never crosses
  // the wire.
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) != 0 && cred.has_ssh_key()) {
    // From memory: the worker running this may not open the credentials directory.
    const std::string& pub = cred.ssh_public_key_text;
    return git_credential_ssh_key_memory_new(
        out, ssh_user.c_str(), pub.empty() ? nullptr : pub.c_str(),
        cred.ssh_private_key_pem.reveal().c_str(),
        cred.ssh_passphrase.empty() ? nullptr : cred.ssh_passphrase.reveal().c_str());
  }
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0 && cred.has_userpass()) {
    return git_credential_userpass_plaintext_new(out, cred.username.c_str(),
                                                 cred.password.reveal().c_str());
  }
  t.findings.auth_exhausted = true;  // the server wants a kind of credential this one lacks
  return GIT_EUSER;
}

int on_certificate(git_cert* cert, int /*valid*/, const char* host, void* payload) {
  auto& t = *static_cast<Transfer*>(payload);
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) return GIT_PASSTHROUGH;  // TLS: libgit2 decides
  // libgit2 1.5 accepts any ssh host key on its own, so the check is ours.
  const auto* hostkey = reinterpret_cast<const git_cert_hostkey*>(cert);
  std::string& problem = t.findings.host_key_problem;
  if (t.credential == nullptr || t.credential->known_hosts.empty()) {
    problem = "ssh needs a credential with known_hosts to verify the server";
  } else if ((hostkey->type & GIT_CERT_SSH_RAW) == 0) {
    problem = "ssh server offered no raw host key to verify";
  } else {
    // ssh URLs without a port use 22; `[host]:port` entries are told apart from `host` ones.
    constexpr int kSshPort = 22;
    const auto url_port = security::url_host(t.url).second;
    problem = security::check_known_hosts(t.credential->known_hosts_text,
                                          host == nullptr ? "" : host, url_port.value_or(kSshPort),
                                          hostkey->hostkey, hostkey->hostkey_len);
  }
  return problem.empty() ? 0 : GIT_ECERTIFICATE;
}

int checked(Transfer& t) {
  t.control->report(t.progress);
  if (t.control->should_stop()) {
    t.stopped = true;
    return GIT_EUSER;
  }
  return 0;
}

int on_transfer(const git_indexer_progress* stats, void* payload) {
  auto& t = *static_cast<Transfer*>(payload);
  t.progress.received_bytes = stats->received_bytes;
  t.progress.received_objects = stats->received_objects;
  t.progress.indexed_objects = stats->indexed_objects;
  t.progress.indexed_deltas = stats->indexed_deltas;
  // Checked as the bytes arrive, so a remote sending an endless or huge pack is stopped
  // before the pack fills the disk.
  if (t.max_received_bytes != 0 && stats->received_bytes > t.max_received_bytes) {
    t.findings.limit_exceeded =
        fmt::format("fetch exceeded the limit of {} received bytes per job (max_fetch_size_mb)",
                    t.max_received_bytes);
    return GIT_EUSER;
  }
  return checked(t);
}

int on_sideband(const char* /*text*/, int /*length*/, void* payload) {
  auto& t = *static_cast<Transfer*>(payload);
  ++t.progress.sideband_messages;
  return checked(t);
}

int on_update_tips(const char* refname, const git_oid* old_oid, const git_oid* new_oid,
                   void* payload) {
  auto& t = *static_cast<Transfer*>(payload);
  t.updates.push_back(jobs::RefUpdate{refname, oid_hex(old_oid), oid_hex(new_oid)});
  return 0;
}

}  // namespace

git_remote_callbacks make_callbacks(Transfer& transfer) {
  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  callbacks.credentials = &on_credentials;
  callbacks.certificate_check = &on_certificate;
  callbacks.transfer_progress = &on_transfer;
  callbacks.sideband_progress = &on_sideband;
  callbacks.update_tips = &on_update_tips;
  callbacks.payload = &transfer;
  return callbacks;
}

}  // namespace mgit::git
