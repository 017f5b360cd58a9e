#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "known_hosts.hpp"

namespace mgit::git {
namespace {

namespace fs = std::filesystem;

// "ssh-host-key-bytes" and "another-key" in base64.
constexpr const char* kKeyBase64 = "c3NoLWhvc3Qta2V5LWJ5dGVz";
constexpr const char* kOtherBase64 = "YW5vdGhlci1rZXk=";
const std::string kKey = "ssh-host-key-bytes";

class KnownHosts : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mgitd-known-hosts-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& content) {
    const fs::path file = dir_ / "known_hosts";
    std::ofstream(file) << content;
    return file;
  }
  static std::string check(const fs::path& file, std::string_view host) {
    std::ifstream in(file);
    std::stringstream content;
    content << in.rdbuf();
    return check_known_hosts(content.str(), host, kKey.data(), kKey.size());
  }

  fs::path dir_;
};

TEST_F(KnownHosts, ListedKeyIsAccepted) {
  const fs::path file =
      write(std::string("# comment\ngit.example.com ssh-ed25519 ") + kKeyBase64 + "\n");
  EXPECT_EQ(check(file, "git.example.com"), "");
  EXPECT_EQ(check(file, "GIT.example.COM"), "");
}

TEST_F(KnownHosts, CommaListsAndBracketedPortsMatch) {
  const fs::path file =
      write(std::string("other.example.com,[git.example.com]:2222 ssh-rsa ") + kKeyBase64 + "\n");
  EXPECT_EQ(check(file, "git.example.com"), "");
}

TEST_F(KnownHosts, OtherKeyOrOtherHostIsRefused) {
  const fs::path file = write(std::string("git.example.com ssh-ed25519 ") + kOtherBase64 +
                              "\nelse.example.com ssh-ed25519 " + kKeyBase64 + "\n");
  EXPECT_EQ(check(file, "git.example.com"),
            "ssh host key of 'git.example.com' is not in the credential's known_hosts");
}

TEST_F(KnownHosts, MarkerLinesAreNotTrusted) {
  const fs::path file =
      write(std::string("@cert-authority git.example.com ssh-ed25519 ") + kKeyBase64 + "\n");
  EXPECT_NE(check(file, "git.example.com"), "");
}

TEST_F(KnownHosts, EmptyContentTrustsNothing) {
  EXPECT_EQ(check_known_hosts("", "git.example.com", kKey.data(), kKey.size()),
            "ssh host key of 'git.example.com' is not in the credential's known_hosts");
}

}  // namespace
}  // namespace mgit::git
