#include <gtest/gtest.h>

#include <string>

#include "mgit/security/redaction.hpp"

namespace mgit::security {
namespace {

TEST(RedactUserinfo, ReplacesUserAndPassword) {
  EXPECT_EQ(redact_userinfo("https://alice:s3cr3t@git.example.com/org/app.git"),
            "https://***@git.example.com/org/app.git");
}

TEST(RedactUserinfo, ReplacesLoneUserNameOverHttpBecauseItMayBeAToken) {
  EXPECT_EQ(redact_userinfo("clone https://ghp_abcdef123456@github.com/org/app"),
            "clone https://***@github.com/org/app");
}

TEST(RedactUserinfo, KeepsBareSshUserButNotSshPassword) {
  EXPECT_EQ(redact_userinfo("ssh://git@host/org/app"), "ssh://git@host/org/app");
  EXPECT_EQ(redact_userinfo("ssh://git:pw@host/org/app"), "ssh://***@host/org/app");
  EXPECT_EQ(redact_userinfo("git@host:org/app.git"), "git@host:org/app.git");
}

TEST(RedactUserinfo, HandlesLibgit2StyleMessagesAndSeveralUrls) {
  const std::string text =
      "unexpected http status code: 401 for https://u:s3cr3t@host/org/a.git; "
      "redirected to 'HTTP://x:y@other:8443/b?q=1' then http://z:w@third";
  EXPECT_EQ(redact_userinfo(text),
            "unexpected http status code: 401 for https://***@host/org/a.git; "
            "redirected to 'HTTP://***@other:8443/b?q=1' then http://***@third");
}

TEST(RedactUserinfo, PasswordHoldingAtSignIsRemovedWhole) {
  EXPECT_EQ(redact_userinfo("https://u:p@ss@host/x"), "https://***@host/x");
}

TEST(RedactUserinfo, LeavesEverythingElseAlone) {
  const std::string text =
      "fetch of https://host/org/app failed: mail admin@example.com, see ://weird and "
      "https://@host and a://b";
  EXPECT_EQ(redact_userinfo(text), text);
  EXPECT_EQ(redact_userinfo(""), "");
}

TEST(Redactor, ReplacesEverySecretOccurrence) {
  Redactor redactor;
  redactor.add("hunter2-token");
  EXPECT_EQ(redactor.redact("token hunter2-token rejected; hunter2-token again"),
            "token *** rejected; *** again");
}

TEST(Redactor, ReplacesPercentEncodedForms) {
  Redactor redactor;
  redactor.add("p@ss/w rd");
  EXPECT_EQ(redactor.redact("a p%40ss%2Fw%20rd b p%40ss%2fw%20rd c p@ss/w rd"),
            "a *** b *** c ***");
}

TEST(Redactor, AppliesUserinfoRedactionAfterSecrets) {
  Redactor redactor;
  redactor.add("s3cr3t");
  EXPECT_EQ(redactor.redact("unexpected http status code: 401 for https://u:s3cr3t@host/x"),
            "unexpected http status code: 401 for https://***@host/x");
  EXPECT_EQ(redactor.redact("bad password s3cr3t"), "bad password ***");
}

TEST(Redactor, LongerSecretWinsOverOneItContains) {
  Redactor redactor;
  redactor.add("abcd");
  redactor.add("abcdefgh");
  EXPECT_EQ(redactor.redact("x abcdefgh y abcd z"), "x *** y *** z");
}

TEST(Redactor, ShortSecretsOnlyAsWholeTokens) {
  Redactor redactor;
  redactor.add("ab");
  redactor.add("");
  EXPECT_EQ(redactor.redact("password ab was wrong; about tabs"),
            "password *** was wrong; about tabs");
  Redactor symbols;
  symbols.add("!#");
  EXPECT_EQ(symbols.redact("x!#y"), "x***y");
}

TEST(Redactor, WithoutSecretsOnlyRedactsUserinfo) {
  const Redactor redactor;
  EXPECT_EQ(redactor.redact("plain text"), "plain text");
}

}  // namespace
}  // namespace mgit::security
