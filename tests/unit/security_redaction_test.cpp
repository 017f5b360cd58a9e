#include <gtest/gtest.h>

#include <string>

#include "mgit/security/redaction.hpp"

namespace mgit::security {
namespace {

TEST(RedactUrl, RemovesEveryKindOfUserinfo) {
  EXPECT_EQ(redact_url("https://alice:s3cr3t@git.example.com/org/app.git"),
            "https://git.example.com/org/app.git");
  EXPECT_EQ(redact_url("https://user:tok@git.example.com/org/app.git"),
            "https://git.example.com/org/app.git");
  // Over http(s) a lone "user name" is how a token is passed.
  EXPECT_EQ(redact_url("https://tok@git.example.com/org/app.git"),
            "https://git.example.com/org/app.git");
  EXPECT_EQ(redact_url("https://a@b@git.example.com/x"), "https://git.example.com/x");
  EXPECT_EQ(redact_url("https://u:p@ss@host/x"), "https://host/x");
  EXPECT_EQ(redact_url("https://@host/x"), "https://host/x");
}

TEST(RedactUrl, DropsBareSshUsersToo) {
  EXPECT_EQ(redact_url("ssh://git@git.example.com:2222/org/app"),
            "ssh://git.example.com:2222/org/app");
  EXPECT_EQ(redact_url("ssh://git:pw@host/org/app"), "ssh://host/org/app");
  EXPECT_EQ(redact_url("git@git.example.com:org/app.git"), "git.example.com:org/app.git");
}

TEST(RedactUrl, ScpLikeUserinfoGoesUpToTheLastAtSign) {
  EXPECT_EQ(redact_url("git:secret@git.example.com:org/app.git"), "git.example.com:org/app.git");
  EXPECT_EQ(redact_url("git:p@ss@host:org/app"), "host:org/app");
  EXPECT_EQ(redact_url("tok@host/x"), "host/x");
}

TEST(RedactUrl, QueryAndFragmentCharactersDoNotEndTheUserinfo) {
  EXPECT_EQ(redact_url("https://oauth2:glpat-SECRET#x@gitlab.example.com/org/app.git"),
            "https://gitlab.example.com/org/app.git");
  EXPECT_EQ(redact_url("https://tok?x@host/"), "https://host/");
  EXPECT_EQ(redact_url("https://tok\\x@host/"), "https://host/");
  EXPECT_EQ(redact_url("https://to ken@host/x"), "https://host/x");
}

TEST(RedactUrl, EverythingUpToTheLastAtSignGoesWhereverItStands) {
  // A refused URL has no structure to trust: a '/' in a password, a missing slash, a second
  // URL glued on. Cutting at the last '@' never leaves a part of a userinfo behind.
  EXPECT_EQ(redact_url("https://user:ab/cd@host/x"), "https://host/x");
  EXPECT_EQ(redact_url("https:/u:p@host/x"), "host/x");
  EXPECT_EQ(redact_url("a@b@c:d/e@f"), "f");
  EXPECT_EQ(redact_url("https://host?next=https://u:p@other/x"), "https://other/x");
  EXPECT_EQ(redact_url("git:tok3n@host:org/app?next=https://u:p@x/"), "x/");
  // An accepted URL has no '@' in its path (docs/job-schema.md), so a path's '@' is read
  // as the end of a userinfo too: over-redaction, never a leak.
  EXPECT_EQ(redact_url("https://git.example.com/org/app@v2"), "https://v2");
}

TEST(RedactUrl, ScpLikeHeadBeforeALaterSchemeLosesItsUserinfo) {
  EXPECT_EQ(redact_url("git:tok3n@host:org/app?next=https://x"), "host:org/app");
  EXPECT_EQ(redact_urls_in_text("rejected git:tok3n@host:org/app?next=https://x here"),
            "rejected host:org/app here");
}

TEST(RedactUrl, QueryAndFragmentGoToo) {
  // No accepted URL has either; in a refused one the query is where tokens travel.
  EXPECT_EQ(redact_url("https://gitlab.example.com/x.git?private_token=s3cr3t"),
            "https://gitlab.example.com/x.git");
  EXPECT_EQ(redact_url("https://host/x#tok"), "https://host/x");
  EXPECT_EQ(redact_urls_in_text("fetch https://h/x?access_token=s3cr3t failed"),
            "fetch https://h/x failed");
}

TEST(RedactUrl, LeavesUrlsWithoutUserinfoAlone) {
  for (const std::string url :
       {"https://git.example.com/org/app", "ftp://host/x", "git.example.com:org/app.git",
        "ssh://[::1]:2222/org/app", "not a url", ""}) {
    EXPECT_EQ(redact_url(url), url);
  }
}

TEST(RedactUrlsInText, ReadsEveryUrlAsRedactUrlDoes) {
  for (const std::string url :
       {"https://alice:s3cr3t@git.example.com/org/app.git", "https://tok@host/x",
        "https://oauth2:glpat-SECRET#x@gitlab.example.com/org/app.git", "https://tok?x@host/",
        "ssh://git@host:2222/org/app", "git@host:org/app.git", "git:p@ss@host:org/app",
        "https://a@b@host/x", "https://host/org/app@v2", "host:org/app.git"}) {
    SCOPED_TRACE(url);
    EXPECT_EQ(redact_urls_in_text("fetch '" + url + "' failed: " + url),
              "fetch '" + redact_url(url) + "' failed: " + redact_url(url));
  }
}

TEST(RedactUrlsInText, HandlesLibgit2StyleMessagesAndSeveralUrls) {
  const std::string text =
      "unexpected http status code: 401 for https://u:s3cr3t@host/org/a.git; "
      "redirected to 'HTTP://x:y@other:8443/b?q=1' then http://z:w@third";
  EXPECT_EQ(redact_urls_in_text(text),
            "unexpected http status code: 401 for https://host/org/a.git; "
            "redirected to 'HTTP://other:8443/b' then http://third");
}

TEST(RedactUrlsInText, LeavesEverythingElseAlone) {
  const std::string text =
      "fetch of https://host/org/app failed: mail admin@example.com, see ://weird and "
      "a://b, \"quoted\" <x> `y`\ttab";
  EXPECT_EQ(redact_urls_in_text(text), text);
  EXPECT_EQ(redact_urls_in_text("https://@host"), "https://host");
  EXPECT_EQ(redact_urls_in_text(""), "");
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
            "unexpected http status code: 401 for https://host/x");
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

TEST(Redactor, WithoutSecretsOnlyRedactsUrls) {
  const Redactor redactor;
  EXPECT_EQ(redactor.redact("plain text"), "plain text");
}

}  // namespace
}  // namespace mgit::security
