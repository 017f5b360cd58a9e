// The network policy as the executor enforces it: through libgit2's registered standard
// stream, against real listening sockets on loopback.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "mgit/basics/file_descriptor.hpp"
#include "mgit/git/git_executor.hpp"
#include "support/stalling_remote.hpp"
#include "support/test_environment.hpp"

namespace mgit::git {
namespace {

namespace fs = std::filesystem;
using basics::FileDescriptor;
using jobs::ErrorCode;
using test_support::StallingRemote;
using test_support::TempDir;

/// A listening socket that is never accepted from: whether anything connected shows as a
/// pending connection.
class Listener {
 public:
  explicit Listener(const char* address) {
    fd_.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in in{};
    in.sin_family = AF_INET;
    inet_pton(AF_INET, address, &in.sin_addr);
    socklen_t length = sizeof(in);
    EXPECT_EQ(bind(fd_.get(), reinterpret_cast<sockaddr*>(&in), length), 0);
    EXPECT_EQ(listen(fd_.get(), 16), 0);
    getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&in), &length);
    port_ = ntohs(in.sin_port);
  }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] bool connected() const {
    pollfd p{fd_.get(), POLLIN, 0};
    return poll(&p, 1, 0) > 0;
  }

 private:
  FileDescriptor fd_;
  int port_ = 0;
};

/// Answers every request with a redirect to `location` (a real HTTP server's answer, enough
/// for libgit2's first request).
class Redirector {
 public:
  explicit Redirector(std::string location)
      : location_(std::move(location)), listener_("127.0.0.1") {
    thread_ = std::thread([this] { serve(); });
  }
  ~Redirector() {
    stop_ = true;
    thread_.join();
  }
  [[nodiscard]] int port() const { return listener_.port(); }

 private:
  void serve() {
    while (!stop_) {
      if (!listener_.connected()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      FileDescriptor client(accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client) continue;
      std::string request;
      char buffer[4096];
      pollfd p{client.get(), POLLIN, 0};
      while (request.find("\r\n\r\n") == std::string::npos && poll(&p, 1, 2000) > 0) {
        const ssize_t got = recv(client.get(), buffer, sizeof(buffer), 0);
        if (got <= 0) break;
        request.append(buffer, static_cast<std::size_t>(got));
      }
      const std::string answer = fmt::format(
          "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
          location_);
      (void)!send(client.get(), answer.data(), answer.size(), MSG_NOSIGNAL);
    }
  }
  std::string location_;
  Listener listener_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class PolicyStreamTest : public ::testing::Test {
 protected:
  GitExecutorSettings settings() const {
    GitExecutorSettings s;
    s.workspace = dir_.path();
    s.min_free_disk_percent = 0;
    s.socket_timeout = std::chrono::seconds(1);
    s.connect_timeout = std::chrono::seconds(2);
    return s;
  }

  tl::expected<jobs::ExecutionReport, jobs::JobError> run(GitExecutorSettings s,
                                                          const std::string& url) {
    GitExecutor executor(std::move(s));
    jobs::Job job;
    job.job_id = "job-" + std::to_string(++jobs_);
    job.correlation_id = job.job_id;
    job.operation = jobs::Operation::kClone;
    job.repository_url = url;
    job.repository_key = url;
    job.target = "t" + std::to_string(jobs_);
    execution::ExecutionControl control;
    return executor.execute(job, observability::JobContext{}, control);
  }

  TempDir dir_;
  int jobs_ = 0;
};

TEST_F(PolicyStreamTest, EverySpellingOfADeniedAddressIsRefusedWithoutAConnection) {
  const Listener listener("127.0.0.2");
  const int port = listener.port();
  for (const char* host : {"127.0.0.2", "2130706434", "0x7f.2", "0177.0.0.2", "127.0.2",
                           "0x7f000002", "[::ffff:127.0.0.2]"}) {
    for (const char* scheme : {"https", "ssh"}) {
      const auto result = run(settings(), fmt::format("{}://{}:{}/x.git", scheme, host, port));
      ASSERT_FALSE(result) << host;
      EXPECT_EQ(result.error().code, ErrorCode::kPolicyDenied) << result.error().message;
      EXPECT_NE(result.error().message.find("127.0.0.2"), std::string::npos)
          << result.error().message;
      EXPECT_NE(result.error().message.find("loopback"), std::string::npos);
      EXPECT_FALSE(fs::exists(dir_.path() / ("t" + std::to_string(jobs_))));
    }
  }
  EXPECT_FALSE(listener.connected());
}

TEST_F(PolicyStreamTest, ANameResolvingToADeniedAddressIsRefusedAtConnect) {
  const Listener listener("127.0.0.1");
  auto s = settings();
  s.allow_plain_http = true;
  const auto result = run(s, fmt::format("http://localhost:{}/x.git", listener.port()));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kPolicyDenied) << result.error().message;
  EXPECT_NE(result.error().message.find("of localhost is loopback"), std::string::npos)
      << result.error().message;
  EXPECT_FALSE(listener.connected());

  // Opened by name, the same host is connected to.
  s.network_policy = *security::NetworkPolicy::parse({"localhost"});
  const StallingRemote silent(StallingRemote::Mode::kSilent);
  const auto opened = run(s, fmt::format("http://localhost:{}/x.git", silent.port()));
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kNetwork) << opened.error().message;
  EXPECT_GE(silent.connections(), 1);
}

TEST_F(PolicyStreamTest, PlainHttpNeedsAllowPlainHttp) {
  const Listener listener("127.0.0.1");
  auto s = settings();
  s.network_policy = *security::NetworkPolicy::parse({"127.0.0.1"});
  const auto result = run(s, fmt::format("http://127.0.0.1:{}/x.git", listener.port()));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kPolicyDenied);
  EXPECT_NE(result.error().message.find("allow_plain_http"), std::string::npos);
  EXPECT_FALSE(listener.connected());
}

TEST_F(PolicyStreamTest, ACredentialNeverGoesOverPlainHttp) {
  const Listener listener("127.0.0.1");
  auto s = settings();
  s.network_policy = *security::NetworkPolicy::parse({"127.0.0.1"});
  s.allow_plain_http = true;
  GitExecutor executor(std::move(s));
  jobs::Job job;
  job.job_id = job.correlation_id = "with-credential";
  job.operation = jobs::Operation::kClone;
  job.repository_url = fmt::format("http://127.0.0.1:{}/x.git", listener.port());
  job.repository_key = job.repository_url;
  job.credential = "org-token";
  job.target = "t";
  const auto result =
      executor.execute(job, observability::JobContext{}, execution::ExecutionControl{});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kPolicyDenied);
  EXPECT_EQ(result.error().message,
            "credential 'org-token' is never sent over plain http: use an https URL");
  EXPECT_FALSE(listener.connected());
}

TEST_F(PolicyStreamTest, ARedirectToAnotherPortIsNotFollowedByDefault) {
  const StallingRemote other(StallingRemote::Mode::kSilent);
  const Redirector redirector(
      fmt::format("http://127.0.0.1:{}/x.git/info/refs?service=git-upload-pack", other.port()));
  auto s = settings();
  s.network_policy = *security::NetworkPolicy::parse({"127.0.0.1"});
  s.allow_plain_http = true;
  const std::string url = fmt::format("http://127.0.0.1:{}/x.git", redirector.port());

  const auto refused = run(s, url);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kPolicyDenied) << refused.error().message;
  EXPECT_NE(refused.error().message.find("follow_redirects = none"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(other.connections(), 0);

  s.follow_redirects = FollowRedirects::kSameHost;
  const auto followed = run(s, url);
  ASSERT_FALSE(followed);
  EXPECT_EQ(followed.error().code, ErrorCode::kNetwork) << followed.error().message;
  EXPECT_EQ(other.connections(), 1);
}

TEST_F(PolicyStreamTest, NoProxyUnlessConfiguredAndTheTargetIsStillCheckedByName) {
  const StallingRemote proxy(StallingRemote::Mode::kSilent);
  const StallingRemote target(StallingRemote::Mode::kSilent);
  const std::string proxy_url = fmt::format("http://127.0.0.1:{}", proxy.port());
  for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy"}) {
    setenv(name, proxy_url.c_str(), 1);
  }
  auto s = settings();
  s.network_policy = *security::NetworkPolicy::parse({"127.0.0.1"});
  s.allow_plain_http = true;
  const auto direct = run(s, fmt::format("https://127.0.0.1:{}/x.git", target.port()));
  for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy"}) {
    unsetenv(name);
  }
  ASSERT_FALSE(direct);
  EXPECT_EQ(direct.error().code, ErrorCode::kNetwork) << direct.error().message;
  EXPECT_EQ(target.connections(), 1);
  EXPECT_EQ(proxy.connections(), 0);

  // git_proxy: the proxy (on loopback, not opened) is exempt; the target is checked by name.
  auto proxied = settings();
  proxied.allow_plain_http = true;
  proxied.git_proxy = proxy_url;
  const auto metadata = run(proxied, "https://169.254.169.254/x.git");
  ASSERT_FALSE(metadata);
  EXPECT_EQ(metadata.error().code, ErrorCode::kPolicyDenied) << metadata.error().message;
  EXPECT_EQ(proxy.connections(), 0);
  // libgit2 1.5 tunnels only https through a proxy (CONNECT); http goes direct, checked.
  const auto through = run(proxied, "https://git.example.invalid/x.git");
  ASSERT_FALSE(through);
  EXPECT_EQ(through.error().code, ErrorCode::kNetwork) << through.error().message;
  EXPECT_EQ(proxy.connections(), 1) << through.error().message;
  // A job naming the proxy's own host:port is checked like any other target: only the
  // tunnel libgit2 opens is exempt.
  const auto at_proxy = run(proxied, fmt::format("ssh://git@127.0.0.1:{}/x.git", proxy.port()));
  ASSERT_FALSE(at_proxy);
  EXPECT_EQ(at_proxy.error().code, ErrorCode::kPolicyDenied) << at_proxy.error().message;
  EXPECT_EQ(proxy.connections(), 1);
}

TEST_F(PolicyStreamTest, ConnectFailuresDoNotTellRefusedFromSilent) {
  auto s = settings();
  s.network_policy = *security::NetworkPolicy::parse({"127.0.0.1"});
  s.connect_timeout = std::chrono::milliseconds(300);
  int closed_port = 0;
  {
    const Listener gone("127.0.0.1");
    closed_port = gone.port();
  }
  const auto refused = run(s, fmt::format("https://127.0.0.1:{}/x.git", closed_port));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kNetwork);
  EXPECT_EQ(refused.error().message,
            fmt::format("connect failed: cannot connect to 127.0.0.1:{}", closed_port));
}

}  // namespace
}  // namespace mgit::git
