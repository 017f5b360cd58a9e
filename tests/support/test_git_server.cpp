#include "support/test_git_server.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "support/test_environment.hpp"

namespace mgit::test_support {
namespace {

std::string script() { return shell_quote(std::string(MGITD_SOURCE_DIR) + "/scripts/git-server"); }

/// The environment's value when scripts/test exported it, else the server directory's file
/// (a server started by hand, or by a harness that exports only MGITD_TEST_GIT_DIR).
std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

}  // namespace

std::string TestGitServer::create_repo(const std::string& name, int commits) const {
  run_trimmed(script() + " create-repo " + shell_quote(state_dir_) + " " + shell_quote(name) + " " +
              std::to_string(commits));
  return rev_parse(name, "refs/heads/main");
}

std::string TestGitServer::add_commits(const std::string& name, int commits) const {
  run_trimmed(script() + " add-commits " + shell_quote(state_dir_) + " " + shell_quote(name) + " " +
              std::to_string(commits));
  return rev_parse(name, "refs/heads/main");
}

std::string TestGitServer::rev_parse(const std::string& name, const std::string& rev) const {
  return run_trimmed("git --git-dir=" + shell_quote(bare_path(name)) + " rev-parse " +
                     shell_quote(rev));
}

std::string TestGitServer::https_url() const {
  if (const char* value = std::getenv("MGITD_TEST_GIT_HTTPS_URL"); value != nullptr && *value) {
    return value;
  }
  std::ifstream in(state_dir_ + "/https_url");
  std::string url;
  if (!std::getline(in, url) || url.empty()) {
    throw std::runtime_error("the git server in " + state_dir_ +
                             " has no https listener: restart it with scripts/git-server");
  }
  return url;
}

std::string TestGitServer::ca_file() const {
  return env_or("MGITD_TEST_GIT_CA_FILE", state_dir_ + "/ca.pem");
}

std::string TestGitServer::bare_path(const std::string& name) const {
  return state_dir_ + "/repos/" + name + ".git";
}

}  // namespace mgit::test_support
