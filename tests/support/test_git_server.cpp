#include "support/test_git_server.hpp"

#include "support/test_environment.hpp"

namespace mgit::test_support {
namespace {

std::string script() { return shell_quote(std::string(MGITD_SOURCE_DIR) + "/scripts/git-server"); }

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

std::string TestGitServer::bare_path(const std::string& name) const {
  return state_dir_ + "/repos/" + name + ".git";
}

}  // namespace mgit::test_support
