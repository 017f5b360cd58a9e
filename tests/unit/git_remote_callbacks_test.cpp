#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "remote_callbacks.hpp"

namespace mgit::git {
namespace {

// The host a credential's `hosts` list is matched against (docs/credentials.md): lower-cased,
// without user, with the port only when the URL names one.
TEST(GitUrlHost, TakesHostAndExplicitPort) {
  struct Row {
    const char* url;
    std::string host;
    std::optional<int> port;
  };
  const Row rows[] = {
      {"https://Git.Example.com/org/app.git", "git.example.com", std::nullopt},
      {"https://git.example.com:8443/org/app.git", "git.example.com", 8443},
      {"https://user@git.example.com/org/app", "git.example.com", std::nullopt},
      {"ssh://git@git.example.com:2222/org/app", "git.example.com", 2222},
      // scp-like: the colon starts the path, not a port.
      {"git@git.example.com:org/app.git", "git.example.com", std::nullopt},
      {"ssh://git@[::1]:22/org/app", "[::1]", 22},
      {"https://git.example.com:notaport/x", "git.example.com", std::nullopt},
      {"", "", std::nullopt},
  };
  for (const Row& row : rows) {
    const auto [host, port] = url_host(row.url);
    EXPECT_EQ(host, row.host) << row.url;
    EXPECT_EQ(port, row.port) << row.url;
  }
}

}  // namespace
}  // namespace mgit::git
