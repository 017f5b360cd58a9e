#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "mgit/security/credential_check.hpp"
#include "support/test_environment.hpp"

namespace mgit::security {
namespace {

namespace fs = std::filesystem;

class CredentialCheck : public ::testing::Test {
 protected:
  void write(const std::string& name, const std::string& content) const {
    std::ofstream(dir_.path() / name, std::ios::binary) << content;
  }
  std::vector<std::string> problems_of(const CredentialsReport& report,
                                       const std::string& file) const {
    std::vector<std::string> out;
    for (const auto& problem : report.problems) {
      if (problem.file == file) out.push_back(problem.message);
    }
    return out;
  }

  test_support::TempDir dir_;
};

TEST_F(CredentialCheck, HealthyDirectoryHasNoProblems) {
  write("org-token", "token=ghp_healthy\nhosts=github.com\n");
  write("deploy.key", "-----BEGIN OPENSSH PRIVATE KEY-----\nnot=a credential\n");
  write("known_hosts", "# nothing trusted yet\n");
  write("deploy", "ssh_private_key=deploy.key\nknown_hosts=known_hosts\nhosts=git.example.com\n");
  fs::create_directory(dir_.path() / "..data");  // a Kubernetes Secret mount's internals
  const auto report = check_credentials_directory(dir_.path());
  EXPECT_EQ(report.credentials, (std::vector<std::string>{"deploy", "org-token"}));
  EXPECT_TRUE(report.without_hosts.empty());
  EXPECT_TRUE(report.problems.empty()) << report.problems.front().message;
}

TEST_F(CredentialCheck, EveryProblemOfEveryFileIsListed) {
  write("old-token", "token=ghp_S3CRET\n");
  write("broken", "token=ghp_S3CRET\nnot a key value line\n");
  write("lost-key", "ssh_private_key=missing.key\nhosts=git.example.com\n");
  write("bad_known_hosts", "git.example.com ssh-ed25519\n# fine\nwhat is this\n");
  write("deploy.key", "KEY");
  write("ssh", "ssh_private_key=deploy.key\nknown_hosts=bad_known_hosts\n");
  const auto report = check_credentials_directory(dir_.path());
  EXPECT_EQ(report.credentials, (std::vector<std::string>{"old-token", "ssh"}));
  EXPECT_EQ(report.without_hosts, (std::vector<std::string>{"old-token", "ssh"}));
  EXPECT_EQ(problems_of(report, "old-token"),
            std::vector<std::string>{"credential \"old-token\" has no hosts= line; add "
                                     "hosts=<git host> (docs/credentials.md)"});
  EXPECT_EQ(problems_of(report, "broken"),
            std::vector<std::string>{"credential 'broken': line 2 is not key=value"});
  EXPECT_EQ(problems_of(report, "lost-key"),
            std::vector<std::string>{
                "credential 'lost-key': ssh_private_key names a file that does not exist"});
  EXPECT_EQ(problems_of(report, "ssh"),
            (std::vector<std::string>{
                "credential \"ssh\" has no hosts= line; add hosts=<git host> (docs/credentials.md)",
                "credential \"ssh\": known_hosts file 'bad_known_hosts' line 1 cannot be parsed "
                "by libssh2",
                "credential \"ssh\": known_hosts file 'bad_known_hosts' line 3 cannot be parsed "
                "by libssh2"}));
  // Files a credential names are not credential files.
  EXPECT_TRUE(problems_of(report, "deploy.key").empty());
  EXPECT_TRUE(problems_of(report, "bad_known_hosts").empty());
  EXPECT_EQ(report.problems.size(), 6u);
  for (const auto& problem : report.problems) {
    EXPECT_EQ(problem.message.find("S3CRET"), std::string::npos) << problem.message;
  }
}

TEST_F(CredentialCheck, MissingDirectoryIsOneProblem) {
  const auto report = check_credentials_directory(dir_.path() / "absent");
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems[0].file, (dir_.path() / "absent").string());
  EXPECT_NE(report.problems[0].message.find("credentials directory unavailable"),
            std::string::npos);
}

TEST_F(CredentialCheck, UnreadableKnownHostsIsAProblem) {
  write("deploy.key", "KEY");
  fs::create_directory(dir_.path() / "kh");  // not a regular file: cannot be read as one
  write("ssh", "ssh_private_key=deploy.key\nknown_hosts=kh\nhosts=git.example.com\n");
  const auto report = check_credentials_directory(dir_.path());
  EXPECT_EQ(
      problems_of(report, "ssh"),
      std::vector<std::string>{"credential 'ssh': known_hosts names a file that does not exist"});
}

}  // namespace
}  // namespace mgit::security
