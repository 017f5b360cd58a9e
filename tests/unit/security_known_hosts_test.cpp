#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "mgit/security/known_hosts.hpp"
#include "support/test_environment.hpp"

namespace mgit::security {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

/// Real keys made by ssh-keygen, and known_hosts files written and hashed the way OpenSSH
/// does it, so libssh2 parses what operators actually mount.
class KnownHosts : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"server", "other"}) {
      const fs::path key = dir_.path() / name;
      ASSERT_EQ(std::system(("ssh-keygen -q -t ed25519 -N '' -C '' -f '" + key.string() +
                             "' </dev/null >/dev/null")
                                .c_str()),
                0);
    }
  }

  /// `ssh-ed25519 AAAA…` of a generated key.
  std::string public_line(const char* name) const {
    std::istringstream fields(read_text(dir_.path() / (std::string(name) + ".pub")));
    std::string type, blob;
    fields >> type >> blob;
    return type + " " + blob;
  }
  /// The raw key blob, as the ssh server presents it to libgit2.
  std::string raw_key(const char* name) const {
    const std::string line = public_line(name);
    const std::string blob = line.substr(line.find(' ') + 1);
    std::string out(blob.size(), '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(blob.data()),
                                  static_cast<int>(blob.size()));
    out.resize(static_cast<std::size_t>(n));
    for (std::size_t i = blob.size(); i > 0 && blob[i - 1] == '='; --i) out.pop_back();
    return out;
  }
  std::string check(const std::string& known_hosts, std::string_view host, int port,
                    const char* key = "server") const {
    const std::string raw = raw_key(key);
    return check_known_hosts(known_hosts, host, port, raw.data(), raw.size());
  }

  test_support::TempDir dir_;
};

TEST_F(KnownHosts, PlainEntryMatchesOnPort22) {
  const std::string file = "# comment\n\ngit.example.com " + public_line("server") + "\n";
  EXPECT_EQ(check(file, "git.example.com", 22), "");
  EXPECT_EQ(check(file, "GIT.example.COM", 22), "");
  EXPECT_TRUE(unparsable_known_hosts_lines(file).empty());
}

TEST_F(KnownHosts, Ipv6HostsMatchWithOrWithoutTheUrlsBrackets) {
  const std::string file =
      "::1 " + public_line("server") + "\n[::1]:2222 " + public_line("server") + "\n";
  EXPECT_EQ(check(file, "::1", 22), "");
  EXPECT_EQ(check(file, "[::1]", 22), "");  // as libgit2 passes an scp-like URL's host
  EXPECT_EQ(check(file, "[::1]", 2222), "");
}

TEST_F(KnownHosts, CommaListsMatchEveryName) {
  const std::string file =
      "other.example.com,[git.example.com]:2222 " + public_line("server") + "\n";
  EXPECT_EQ(check(file, "git.example.com", 2222), "");
  EXPECT_EQ(check(file, "other.example.com", 22), "");
}

TEST_F(KnownHosts, PortMismatchIsRefused) {
  const std::string plain = "git.example.com " + public_line("server") + "\n";
  EXPECT_EQ(check(plain, "git.example.com", 2222),
            "ssh host key of '[git.example.com]:2222' is not in the credential's known_hosts");
  const std::string bracketed = "[git.example.com]:2222 " + public_line("server") + "\n";
  EXPECT_EQ(check(bracketed, "git.example.com", 22),
            "ssh host key of 'git.example.com' is not in the credential's known_hosts");
  EXPECT_EQ(check(bracketed, "git.example.com", 2223),
            "ssh host key of '[git.example.com]:2223' is not in the credential's known_hosts");
}

TEST_F(KnownHosts, HashedEntriesMatch) {
  const fs::path file = dir_.path() / "known_hosts";
  std::ofstream(file) << "git.example.com " << public_line("server") << "\n"
                      << "[git.example.com]:2222 " << public_line("server") << "\n";
  ASSERT_EQ(std::system(("ssh-keygen -q -H -f '" + file.string() + "' >/dev/null 2>&1").c_str()),
            0);
  const std::string hashed = read_text(file);
  ASSERT_EQ(hashed.find("git.example.com"), std::string::npos) << hashed;
  ASSERT_EQ(hashed.rfind("|1|", 0), 0u) << hashed;
  EXPECT_EQ(check(hashed, "git.example.com", 22), "");
  EXPECT_EQ(check(hashed, "git.example.com", 2222), "");
  EXPECT_NE(check(hashed, "git.example.com", 2223), "");
  EXPECT_NE(check(hashed, "else.example.com", 22), "");
  EXPECT_EQ(check(hashed, "git.example.com", 22, "other"),
            "ssh host key of 'git.example.com' differs from the one the credential's known_hosts "
            "lists for it");
}

TEST_F(KnownHosts, WrongKeyIsRefused) {
  const std::string file = "git.example.com " + public_line("other") + "\nelse.example.com " +
                           public_line("server") + "\n";
  EXPECT_EQ(check(file, "git.example.com", 22),
            "ssh host key of 'git.example.com' differs from the one the credential's known_hosts "
            "lists for it");
  EXPECT_EQ(check(file, "else.example.com", 22), "");
}

TEST_F(KnownHosts, UnparsableLineIsNamedAndRefusesTheFile) {
  // The good entry is on line 3: libssh2's own reader would stop at line 2 and never see it.
  const std::string file =
      "# comment\ngit.example.com ssh-ed25519\ngit.example.com " + public_line("server") + "\n";
  EXPECT_EQ(unparsable_known_hosts_lines(file), std::vector<int>{2});
  EXPECT_EQ(check(file, "git.example.com", 22),
            "known_hosts line 2 cannot be parsed by libssh2; fix or remove it (mgitctl "
            "credentials check lists every such line)");
}

TEST_F(KnownHosts, LinesLibssh2WouldNeverMatchCountAsUnparsable) {
  // Taken by libssh2's reader, but as an unknown key type it never matches: a revocation
  // would be ignored without a word.
  const std::string file =
      "git.example.com " + public_line("server") + "\n" + "@revoked git.example.com " +
      public_line("server") + "\n" + "other.example.com ssh-future AAAAAAAAAAAAAAAAAAAAAAAAAAAA\n" +
      // A hashed name whose hash is not SHA-1's 20 bytes.
      "|1|c2FsdHNhbHRzYWx0c2FsdHNhbHQ=|c2hvcnQ= " + public_line("server") + "\n";
  EXPECT_EQ(unparsable_known_hosts_lines(file), (std::vector<int>{2, 3, 4}));
  EXPECT_NE(check(file, "git.example.com", 22), "");
}

TEST_F(KnownHosts, EmptyContentTrustsNothing) {
  EXPECT_EQ(check("", "git.example.com", 22),
            "ssh host key of 'git.example.com' is not in the credential's known_hosts");
}

}  // namespace
}  // namespace mgit::security
