// The discovery HTTP client against a real loopback socket (plain http, which needs
// allow_http): what it sends, header handling, the body cap, the timeout, refusals. TLS
// verification is exercised against the stand-in's certificate by
// tests/integration/mgitctl_discover_test.cpp.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>

#include "mgit/discovery/discover.hpp"
#include "support/loopback_server.hpp"

namespace mgit::discovery {
namespace {

using test_support::LoopbackServer;
using namespace std::chrono_literals;

/// Reads one request head, records it, answers `response` (empty: answers nothing).
class CannedServer {
 public:
  explicit CannedServer(std::string response)
      : response_(std::move(response)), server_([this](int client) { serve(client); }) {}

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + path;
  }
  std::string request() {
    std::lock_guard lock(mutex_);
    return request_;
  }
  int connections() const { return server_.connections(); }

 private:
  void serve(int client) {
    std::string head;
    char buffer[1024];
    while (head.find("\r\n\r\n") == std::string::npos && !server_.stopping()) {
      if (!test_support::readable(client)) continue;
      const auto n = ::recv(client, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      head.append(buffer, static_cast<std::size_t>(n));
    }
    {
      std::lock_guard lock(mutex_);
      request_ = head;
    }
    if (response_.empty()) {
      while (!server_.stopping()) (void)test_support::readable(client);
      return;
    }
    test_support::send_all(client, response_.data(), response_.size());
  }

  std::mutex mutex_;
  std::string request_;
  std::string response_;
  LoopbackServer server_;  // last: stops before what its handler uses goes away
};

HttpsOptions plain() {
  HttpsOptions options;
  options.allow_http = true;
  return options;
}

TEST(DiscoveryHttpClient, SendsTheRequestAndReadsTheResponse) {
  CannedServer server(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLink: <a>; rel=\"next\"\r\n"
      "X-RateLimit-Remaining: 4999\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
      "Content-Length: 2\r\n\r\n[]");
  const auto transport = make_https_transport(plain());
  const auto response = transport->get(
      {server.url("/orgs/acme/repos?per_page=100"), {{"Authorization", "Bearer t"}}});
  ASSERT_TRUE(response) << response.error().error.message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "[]");
  EXPECT_EQ(response->header("link"), "<a>; rel=\"next\"");
  EXPECT_EQ(response->header("x-ratelimit-remaining"), "4999");
  int cookies = 0;
  for (const auto& [name, value] : response->headers) cookies += name == "set-cookie";
  EXPECT_EQ(cookies, 2);
  const auto request = server.request();
  EXPECT_EQ(request.rfind("GET /orgs/acme/repos?per_page=100 HTTP/1.1\r\n", 0), 0U) << request;
  EXPECT_NE(request.find("Authorization: Bearer t\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("Host: 127.0.0.1:"), std::string::npos) << request;
}

TEST(DiscoveryHttpClient, ABodyOverTheCapIsRefused) {
  CannedServer server("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'x'));
  auto options = plain();
  options.max_body_bytes = 1000;
  const auto response = make_https_transport(options)->get({server.url("/"), {}});
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().error.code, DiscoveryErrorCode::kBadResponse);
  EXPECT_FALSE(response.error().transient);
  EXPECT_NE(response.error().error.message.find("over 1000 bytes"), std::string::npos);
}

TEST(DiscoveryHttpClient, ASilentServerTimesOut) {
  CannedServer server("");
  auto options = plain();
  options.request_timeout = 500ms;
  const auto started = std::chrono::steady_clock::now();
  const auto response = make_https_transport(options)->get({server.url("/"), {}});
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().error.code, DiscoveryErrorCode::kUnreachable);
  EXPECT_TRUE(response.error().transient);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

TEST(DiscoveryHttpClient, PlainHttpNeedsAllowHttp) {
  CannedServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]");
  const auto response =
      make_https_transport(HttpsOptions{})->get({server.url("/"), {{"Authorization", "Bearer t"}}});
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().error.code, DiscoveryErrorCode::kUsage);
  EXPECT_NE(response.error().error.message.find("--allow-http"), std::string::npos);
  EXPECT_EQ(server.connections(), 0);
}

TEST(DiscoveryHttpClient, RefusedConnectionsAndBadUrls) {
  int port = 0;
  {
    CannedServer gone("");
    port = std::stoi(gone.url("").substr(std::string("http://127.0.0.1:").size()));
  }
  auto response =
      make_https_transport(plain())->get({"http://127.0.0.1:" + std::to_string(port) + "/", {}});
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().error.code, DiscoveryErrorCode::kUnreachable);
  EXPECT_TRUE(response.error().transient);
  for (const char* url : {"ftp://h/x", "https://user:pw@h/x", "https://h/x#f", "https://h:99999/",
                          "https://h/a b", "no-scheme"}) {
    response = make_https_transport(plain())->get({url, {}});
    ASSERT_FALSE(response) << url;
    EXPECT_EQ(response.error().error.code, DiscoveryErrorCode::kUsage) << url;
    EXPECT_EQ(response.error().error.message.find("pw"), std::string::npos) << url;
  }
}

}  // namespace
}  // namespace mgit::discovery
