#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "mgit/execution/executor.hpp"
#include "remote_callbacks.hpp"

namespace mgit::git {
namespace {

// The host a credential's `hosts` list is matched against (docs/credentials.md): lower-cased,
// without user, with the port only when the URL names one.
TEST(GitUrlHost, TakesHostAndExplicitPort) {
  struct Row {
    const char* url;
    std::string host;
    std::optional<int> port;
  };
  const Row rows[] = {
      {"https://Git.Example.com/org/app.git", "git.example.com", std::nullopt},
      {"https://git.example.com:8443/org/app.git", "git.example.com", 8443},
      {"https://user@git.example.com/org/app", "git.example.com", std::nullopt},
      {"ssh://git@git.example.com:2222/org/app", "git.example.com", 2222},
      // scp-like: the colon starts the path, not a port.
      {"git@git.example.com:org/app.git", "git.example.com", std::nullopt},
      {"ssh://git@[::1]:22/org/app", "[::1]", 22},
      {"https://git.example.com:notaport/x", "git.example.com", std::nullopt},
      {"", "", std::nullopt},
  };
  for (const Row& row : rows) {
    const auto [host, port] = security::url_host(row.url);
    EXPECT_EQ(host, row.host) << row.url;
    EXPECT_EQ(port, row.port) << row.url;
  }
}

}  // namespace
}  // namespace mgit::git

namespace mgit::git {
namespace {

/// The credential callback binds the credential to where the stream connected, not to the
/// URL libgit2 names (the job's even after a redirect, before Debian's deb12u2).
class CredentialBinding : public ::testing::Test {
 protected:
  // ctest runs each test in its own process: libgit2 must be initialized here, not by
  // whichever test happened to run before in the same binary.
  void SetUp() override { ASSERT_GE(git_libgit2_init(), 0); }
  void TearDown() override { git_libgit2_shutdown(); }

  CredentialBinding() {
    credential_.name = "org-token";
    credential_.username = "x-access-token";
    credential_.password = security::Secret("tok-secret");
    credential_.hosts = {"git.example.com"};
    transfer_.control = &control_;
    transfer_.credential = &credential_;
    transfer_.connections = &log_;
    transfer_.job_endpoint = Endpoint{"git.example.com", 443};
  }

  int ask(const char* url) {
    git_credential* out = nullptr;
    const git_remote_callbacks callbacks = make_callbacks(transfer_);
    const int rc = callbacks.credentials(&out, url, nullptr, GIT_CREDENTIAL_USERPASS_PLAINTEXT,
                                         callbacks.payload);
    if (out != nullptr) git_credential_free(out);
    return rc;
  }

  execution::ExecutionControl control_;
  security::Credential credential_;
  ConnectLog log_;
  Transfer transfer_;
};

TEST_F(CredentialBinding, GivenForTheHostTheStreamConnectedTo) {
  log_.connected = Endpoint{"git.example.com", 443};
  EXPECT_EQ(ask("https://git.example.com/org/app.git"), 0);
  EXPECT_TRUE(transfer_.findings.host_not_allowed.empty());
  EXPECT_TRUE(transfer_.findings.policy_denied.empty());
}

TEST_F(CredentialBinding, WithheldWhenTheConnectionWentElsewhere) {
  log_.connected = Endpoint{"evil.example.com", 8443};
  EXPECT_EQ(ask("https://git.example.com/org/app.git"), GIT_EUSER);
  EXPECT_EQ(transfer_.findings.host_not_allowed, "evil.example.com:8443");
}

TEST_F(CredentialBinding, WithheldWithoutAKnownConnection) {
  EXPECT_EQ(ask("https://git.example.com/org/app.git"), GIT_EUSER);
  EXPECT_NE(transfer_.findings.policy_denied.find("no connection"), std::string::npos);
}

TEST_F(CredentialBinding, NeverOverPlainHttp) {
  log_.connected = Endpoint{"git.example.com", 80};
  transfer_.job_endpoint = Endpoint{"git.example.com", 80};
  EXPECT_EQ(ask("http://git.example.com/org/app.git"), GIT_EUSER);
  EXPECT_EQ(transfer_.findings.policy_denied,
            "credential 'org-token' is never sent over plain http");
}

TEST_F(CredentialBinding, RefusedOnceTheHeaderCarriedIt) {
  // The first request carried the credential (preemptive_auth.hpp): a 401 is the server's
  // verdict on it, and a second try would only repeat the request.
  log_.connected = Endpoint{"git.example.com", 443};
  transfer_.credential_presented = true;
  EXPECT_EQ(ask("https://git.example.com/org/app.git"), GIT_EUSER);
  EXPECT_TRUE(transfer_.findings.auth_exhausted);
  EXPECT_EQ(transfer_.auth_attempts, 0);
}

}  // namespace
}  // namespace mgit::git
