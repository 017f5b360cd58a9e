#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "mgit/security/credentials.hpp"

namespace mgit::security {
namespace {

namespace fs = std::filesystem;

class CredentialStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/mgit-cred-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
    dir_ = root_ / "credentials";
    fs::create_directory(dir_);
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const fs::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary);
    out << content;
  }

  fs::path root_;
  fs::path dir_;
};

TEST_F(CredentialStoreTest, ParsesUsernameAndPassword) {
  write(dir_ / "basic", "# comment\n\nusername=alice\npassword=pa ss=word\r\n");
  const auto credential = CredentialStore(dir_).load("basic");
  ASSERT_TRUE(credential) << credential.error().message;
  EXPECT_EQ(credential->name, "basic");
  EXPECT_EQ(credential->username, "alice");
  EXPECT_EQ(credential->password.reveal(), "pa ss=word");
  EXPECT_TRUE(credential->has_userpass());
  EXPECT_FALSE(credential->has_ssh_key());
  EXPECT_EQ(credential->secrets(), std::vector<std::string>{"pa ss=word"});
}

TEST_F(CredentialStoreTest, TokenDefaultsUserName) {
  write(dir_ / "tok", "token=ghp_123456\n");
  const auto credential = CredentialStore(dir_).load("tok");
  ASSERT_TRUE(credential) << credential.error().message;
  EXPECT_EQ(credential->username, "x-access-token");
  EXPECT_EQ(credential->password.reveal(), "ghp_123456");

  write(dir_ / "tok2", "username=oauth2\ntoken=glpat-xyz\n");
  const auto gitlab = CredentialStore(dir_).load("tok2");
  ASSERT_TRUE(gitlab) << gitlab.error().message;
  EXPECT_EQ(gitlab->username, "oauth2");
}

TEST_F(CredentialStoreTest, SshKeyPathsResolveInsideTheDirectory) {
  write(dir_ / "deploy.key", "KEY");
  write(dir_ / "deploy.key.pub", "PUB");
  write(dir_ / "known_hosts", "host ssh-ed25519 AAAA\n");
  write(dir_ / "ssh",
        "ssh_private_key=deploy.key\nssh_public_key=deploy.key.pub\n"
        "ssh_passphrase=phrase-1\nknown_hosts=known_hosts\n");
  const auto credential = CredentialStore(dir_).load("ssh");
  ASSERT_TRUE(credential) << credential.error().message;
  EXPECT_TRUE(credential->has_ssh_key());
  EXPECT_FALSE(credential->has_userpass());
  EXPECT_EQ(fs::canonical(credential->ssh_private_key), fs::canonical(dir_ / "deploy.key"));
  EXPECT_EQ(fs::canonical(credential->known_hosts), fs::canonical(dir_ / "known_hosts"));
  EXPECT_EQ(credential->ssh_passphrase.reveal(), "phrase-1");
  // Read into memory at load time, for a worker that may not open the directory.
  EXPECT_EQ(credential->ssh_private_key_pem.reveal(), "KEY");
  EXPECT_EQ(credential->ssh_public_key_text, "PUB");
  EXPECT_EQ(credential->known_hosts_text, "host ssh-ed25519 AAAA\n");
  EXPECT_EQ(credential->secrets(), (std::vector<std::string>{"phrase-1", "KEY"}));
}

TEST_F(CredentialStoreTest, MissingCredentialIsNotFound) {
  const auto credential = CredentialStore(dir_).load("absent");
  ASSERT_FALSE(credential);
  EXPECT_EQ(credential.error().code, CredentialErrorCode::kNotFound);
  EXPECT_NE(credential.error().message.find("'absent'"), std::string::npos);
}

TEST_F(CredentialStoreTest, InvalidNamesAreRefusedBeforeTouchingTheFilesystem) {
  write(root_ / "x", "token=outside\n");
  write(dir_ / ".hidden", "token=hidden\n");
  const CredentialStore store(dir_);
  using namespace std::string_literals;
  for (const std::string& name :
       {"../x"s, ".hidden"s, ""s, "a/b"s, std::string(129, 'a'), "sp ace"s, "nul\0x"s}) {
    const auto credential = store.load(name);
    ASSERT_FALSE(credential) << name;
    EXPECT_EQ(credential.error().code, CredentialErrorCode::kInvalidName) << name;
  }
  EXPECT_TRUE(is_valid_credential_name(std::string(128, 'a')));
  EXPECT_TRUE(is_valid_credential_name("my-cred_1.v2"));
}

TEST_F(CredentialStoreTest, SymlinkInsideIsFollowedButEscapingOneIsNot) {
  // The shape Kubernetes uses for mounted secrets.
  fs::create_directory(dir_ / "..data");
  write(dir_ / "..data" / "inside", "token=t-inside\n");
  fs::create_symlink("..data/inside", dir_ / "inside");
  write(root_ / "outside", "token=t-outside\n");
  fs::create_symlink(root_ / "outside", dir_ / "escape");

  const CredentialStore store(dir_);
  const auto inside = store.load("inside");
  ASSERT_TRUE(inside) << inside.error().message;
  EXPECT_EQ(inside->password.reveal(), "t-inside");
  const auto escape = store.load("escape");
  ASSERT_FALSE(escape);
  EXPECT_EQ(escape.error().code, CredentialErrorCode::kNotFound);
}

TEST_F(CredentialStoreTest, MalformedFilesNeverEchoValues) {
  const CredentialStore store(dir_);
  const std::pair<std::string, std::string> cases[] = {
      {"noeq", "s3cr3t-line-without-equals\n"},
      {"unknown", "passwd=s3cr3t-value\n"},
      {"both", "username=u\npassword=s3cr3t-a\ntoken=s3cr3t-b\n"},
      {"nouser", "password=s3cr3t-pw\n"},
      {"empty", "# nothing\n"},
      {"dup", "token=s3cr3t-1\ntoken=s3cr3t-2\n"},
      {"nokey", "ssh_private_key=missing.key\n"},
      {"dotdot", "ssh_private_key=../s3cr3t\n"},
      {"orphan", "token=t\nssh_passphrase=s3cr3t-p\n"},
  };
  for (const auto& [name, content] : cases) {
    write(dir_ / name, content);
    const auto credential = store.load(name);
    ASSERT_FALSE(credential) << name;
    EXPECT_EQ(credential.error().code, CredentialErrorCode::kMalformed) << name;
    EXPECT_EQ(credential.error().message.find("s3cr3t"), std::string::npos)
        << name << ": " << credential.error().message;
  }
}

TEST_F(CredentialStoreTest, UnknownKeyMessageHasOnlyTheLineNumber) {
  // A bare secret that happens to contain '=' (padded base64) parses as an unknown key: no
  // part of it, before or after the '=', may reach the message.
  write(dir_ / "bare", "# token below\ntoken=t\nc2VjcmV0LXRva2Vu=\n");
  write(dir_ / "word", "\npasswd=hunter2\n");
  const CredentialStore store(dir_);
  const auto bare = store.load("bare");
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error().code, CredentialErrorCode::kMalformed);
  EXPECT_EQ(bare.error().message, "credential 'bare': line 3: unknown key");
  const auto word = store.load("word");
  ASSERT_FALSE(word);
  EXPECT_EQ(word.error().message, "credential 'word': line 2: unknown key");
}

TEST_F(CredentialStoreTest, FileWithoutHostsLoadsButIsNeverUsable) {
  write(dir_ / "any", "token=t\n");
  write(dir_ / "scoped",
        "token=t\nhosts= Git.Example.COM , mirror.example.com:8443,[2001:DB8::1]\n");
  const CredentialStore store(dir_);
  const auto any = store.load("any");
  ASSERT_TRUE(any) << any.error().message;
  EXPECT_TRUE(any->hosts.empty());
  const auto scoped = store.load("scoped");
  ASSERT_TRUE(scoped) << scoped.error().message;
  EXPECT_EQ(scoped->hosts, (std::vector<std::string>{"git.example.com", "mirror.example.com:8443",
                                                     "[2001:db8::1]"}));
}

TEST_F(CredentialStoreTest, MalformedHostsAreRefusedWithoutEcho) {
  const CredentialStore store(dir_);
  for (const std::string hosts :
       {"", ",", "a.example.com,", "h0st s3cr3t", "s3cr3t:", "s3cr3t:0", "s3cr3t:65536", "s3cr3t:x",
        "s3cr3t/x", "user@s3cr3t", "::1", "[::1", "[s3cr3t]", "[::1]x", "[]:22"}) {
    SCOPED_TRACE(hosts);
    write(dir_ / "h", "token=t\nhosts=" + hosts + "\n");
    const auto credential = store.load("h");
    ASSERT_FALSE(credential);
    EXPECT_EQ(credential.error().code, CredentialErrorCode::kMalformed);
    EXPECT_EQ(credential.error().message,
              "credential 'h': hosts has an entry that is not host or host:port");
  }
}

TEST(CredentialAllowsHost, EmptyListAllowsNoHost) {
  Credential credential;
  credential.name = "org-token";
  EXPECT_FALSE(credential.allows_host("git.example.com", std::nullopt));
  EXPECT_FALSE(credential.allows_host("evil.example", 22));
  EXPECT_EQ(credential.missing_hosts_message("github.com"),
            "credential \"org-token\" has no hosts= line; add hosts=github.com "
            "(docs/credentials.md)");
  EXPECT_EQ(credential.missing_hosts_message(),
            "credential \"org-token\" has no hosts= line; add hosts=<git host> "
            "(docs/credentials.md)");
}

TEST(CredentialAllowsHost, HostIsCaseInsensitiveAndPortIsOptional) {
  Credential credential;
  credential.hosts = {"git.example.com", "mirror.example.com:8443", "[2001:db8::1]:22"};
  EXPECT_TRUE(credential.allows_host("git.example.com", std::nullopt));
  EXPECT_TRUE(credential.allows_host("GIT.Example.com", 443));
  EXPECT_TRUE(credential.allows_host("git.example.com", 2222));  // no port: any port
  EXPECT_TRUE(credential.allows_host("mirror.example.com", 8443));
  EXPECT_FALSE(credential.allows_host("mirror.example.com", 443));
  EXPECT_FALSE(credential.allows_host("mirror.example.com", std::nullopt));
  EXPECT_TRUE(credential.allows_host("[2001:DB8::1]", 22));
  EXPECT_TRUE(credential.allows_host("2001:db8::1", 22));
  EXPECT_FALSE(credential.allows_host("2001:db8::1", 2222));
  EXPECT_FALSE(credential.allows_host("example.com", std::nullopt));
  EXPECT_FALSE(credential.allows_host("git.example.com.evil", std::nullopt));
  EXPECT_FALSE(credential.allows_host("evil-git.example.com", std::nullopt));
  EXPECT_FALSE(credential.allows_host("", std::nullopt));
}

TEST_F(CredentialStoreTest, LoadedHostsDriveAllowsHost) {
  write(dir_ / "c", "token=t\nhosts=GIT.example.com:8443\n");
  const auto credential = CredentialStore(dir_).load("c");
  ASSERT_TRUE(credential) << credential.error().message;
  EXPECT_TRUE(credential->allows_host("git.EXAMPLE.com", 8443));
  EXPECT_FALSE(credential->allows_host("git.example.com", 443));
  EXPECT_FALSE(credential->allows_host("other.example.com", 8443));
}

// What the supervisor and the worker check before a credential goes anywhere near a job's
// host: the job URL's host and port against `hosts`, and a file without `hosts` refused.
TEST(CredentialRefusal, NamesTheHostAndPortOrHowToFixTheFile) {
  Credential credential;
  credential.name = "deploy";
  credential.hosts = {"git.example.com", "mirror.example.com:8443"};
  EXPECT_EQ(credential_refusal(credential, "https://git.example.com/org/app"), std::nullopt);
  EXPECT_EQ(credential_refusal(credential, "ssh://git@git.example.com:2222/org/app"), std::nullopt);
  EXPECT_EQ(credential_refusal(credential, "git@GIT.example.com:org/app.git"), std::nullopt);
  EXPECT_EQ(credential_refusal(credential, "https://mirror.example.com:8443/x"), std::nullopt);
  EXPECT_EQ(credential_refusal(credential, "https://mirror.example.com/x"),
            "credential 'deploy' is not allowed for host 'mirror.example.com'");
  EXPECT_EQ(credential_refusal(credential, "https://git.example.com.evil/x"),
            "credential 'deploy' is not allowed for host 'git.example.com.evil'");
  // The userinfo is never taken for the host, and never echoed.
  EXPECT_EQ(credential_refusal(credential, "https://git.example.com:tok3n@evil.example:444/x"),
            "credential 'deploy' is not allowed for host 'evil.example:444'");
  credential.hosts.clear();
  EXPECT_EQ(credential_refusal(credential, "https://git.example.com/org/app"),
            "credential \"deploy\" has no hosts= line; add hosts=git.example.com "
            "(docs/credentials.md)");
}

TEST_F(CredentialStoreTest, RotatedFileIsReadAgain) {
  write(dir_ / "rot", "token=first\n");
  const CredentialStore store(dir_);
  ASSERT_EQ(store.load("rot")->password.reveal(), "first");
  write(dir_ / "rot", "token=second\n");
  EXPECT_EQ(store.load("rot")->password.reveal(), "second");
}

}  // namespace
}  // namespace mgit::security
