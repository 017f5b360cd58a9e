#pragma once

#include <string>

namespace mgit::test_support {

/// The smart-HTTP test server's repositories (scripts/git-server), driven from tests:
/// repositories are created and advanced with the script and inspected with git itself,
/// so expected values come from the server side, never from the code under test.
class TestGitServer {
 public:
  /// `state_dir` is the server's directory (MGITD_TEST_GIT_DIR): repos/NAME.git live there.
  explicit TestGitServer(std::string state_dir) : state_dir_(std::move(state_dir)) {}

  /// A new bare repository with `commits` commits on main; returns main's commit.
  std::string create_repo(const std::string& name, int commits) const;
  /// Adds `commits` commits to main; returns the new head.
  std::string add_commits(const std::string& name, int commits) const;
  std::string rev_parse(const std::string& name, const std::string& rev) const;
  std::string bare_path(const std::string& name) const;

  /// The https listener (`https://127.0.0.1:PORT`): MGITD_TEST_GIT_HTTPS_URL, else the
  /// server's DIR/https_url. Throws (test failure) when the server predates https.
  std::string https_url() const;
  /// The CA the https certificate is signed by (mgitd's `git_ca_file`):
  /// MGITD_TEST_GIT_CA_FILE, else DIR/ca.pem.
  std::string ca_file() const;
  /// The access log (one line per request, both listeners).
  std::string access_log() const { return state_dir_ + "/access.log"; }

 private:
  std::string state_dir_;
};

}  // namespace mgit::test_support
