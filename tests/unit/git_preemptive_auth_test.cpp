#include <gtest/gtest.h>

#include <string>

#include "preemptive_auth.hpp"

namespace mgit::git {
namespace {

class PreemptiveAuth : public ::testing::Test {
 protected:
  PreemptiveAuth() {
    credential_.name = "org-token";
    credential_.username = "user";
    credential_.password = security::Secret("pass");
    credential_.hosts = {"git.example.com", "127.0.0.1:8443"};
  }

  [[nodiscard]] std::optional<security::Secret> header(
      std::string_view url, FollowRedirects redirects = FollowRedirects::kNone) const {
    return preemptive_auth_header(&credential_, url, redirects);
  }

  security::Credential credential_;
};

// RFC 7617's encoding of `user:pass`.
constexpr const char* kUserPass = "dXNlcjpwYXNz";

TEST_F(PreemptiveAuth, BasicHeaderForAnHttpsHostTheCredentialNames) {
  EXPECT_EQ(basic_auth_token(credential_).reveal(), kUserPass);
  for (const char* url : {"https://git.example.com/org/app.git", "HTTPS://Git.Example.com/org/app",
                          "https://127.0.0.1:8443/org/app.git"}) {
    const auto line = header(url);
    ASSERT_TRUE(line) << url;
    EXPECT_EQ(line->reveal(), std::string("Authorization: Basic ") + kUserPass) << url;
  }
}

TEST_F(PreemptiveAuth, NeverOverPlainHttpNorToAHostTheCredentialDoesNotName) {
  EXPECT_FALSE(header("http://git.example.com/org/app.git"));
  EXPECT_FALSE(header("https://evil.example.com/org/app.git"));
  EXPECT_FALSE(header("https://git.example.com.evil.example/org/app.git"));
  EXPECT_FALSE(header("https://127.0.0.1:9443/org/app.git"));  // another port
  EXPECT_FALSE(header("ssh://git@git.example.com/org/app.git"));
  EXPECT_FALSE(header("git@git.example.com:org/app.git"));
  credential_.hosts.clear();  // a file without hosts= is never used
  EXPECT_FALSE(header("https://git.example.com/org/app.git"));
}

TEST_F(PreemptiveAuth, NeverWhereARedirectCouldCarryItElsewhere) {
  EXPECT_FALSE(header("https://git.example.com/org/app.git", FollowRedirects::kSameHost));
}

TEST_F(PreemptiveAuth, OnlyForAUserNameAndPassword) {
  EXPECT_FALSE(
      preemptive_auth_header(nullptr, "https://git.example.com/x", FollowRedirects::kNone));
  security::Credential key = credential_;
  key.password = security::Secret();
  key.ssh_private_key = "/keys/id_ed25519";
  EXPECT_FALSE(preemptive_auth_header(&key, "https://git.example.com/x", FollowRedirects::kNone));
  security::Credential colon = credential_;
  colon.username = "a:b";  // basic auth cannot tell its user from its password
  EXPECT_FALSE(preemptive_auth_header(&colon, "https://git.example.com/x", FollowRedirects::kNone));
}

}  // namespace
}  // namespace mgit::git
