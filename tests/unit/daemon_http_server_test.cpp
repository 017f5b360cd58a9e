#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "mgit/daemon/http_server.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"

namespace mgit::daemon {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpServerSettings settings = {}) {
    settings.listen = "127.0.0.1:0";
    auto server = HttpServer::start(settings, [](const HttpRequestView& request) {
      if (request.target == "/hello") {
        return HttpResponse{200, "text/plain", "hello " + std::string(request.method), {}};
      }
      return HttpResponse{404, "text/plain", "nope", {}};
    });
    ASSERT_TRUE(server) << server.error();
    server_ = std::move(*server);
  }

  // A raw client that sends `bytes` and then stays silent.
  std::unique_ptr<tcp::socket> stalled_client(const std::string& bytes) {
    auto socket = std::make_unique<tcp::socket>(io_);
    socket->connect({asio::ip::make_address("127.0.0.1"), server_->port()});
    if (!bytes.empty()) asio::write(*socket, asio::buffer(bytes));
    return socket;
  }

  asio::io_context io_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, AnswersAndKeepsHandlerStatus) {
  start();
  auto result = test_support::http_request(server_->port(), "GET", "/hello");
  EXPECT_EQ(result.status, 200u) << result.error;
  EXPECT_EQ(result.body, "hello GET");
  result = test_support::http_request(server_->port(), "GET", "/missing");
  EXPECT_EQ(result.status, 404u);
  // HEAD over a raw socket: the client library would not notice a body sent anyway.
  auto head = stalled_client("HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string reply;
  std::array<char, 4096> chunk{};
  boost::system::error_code ec;
  while (!ec) {
    const auto n = head->read_some(asio::buffer(chunk), ec);
    reply.append(chunk.data(), n);
  }
  const auto header_end = reply.find("\r\n\r\n");
  ASSERT_NE(header_end, std::string::npos) << reply;
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 200");
  // What GET would send ("hello HEAD": the handler echoes the method), announced, not sent.
  EXPECT_NE(reply.find("Content-Length: 10\r\n"), std::string::npos) << reply;
  EXPECT_EQ(reply.size(), header_end + 4) << "no body after the header";
}

TEST_F(HttpServerTest, OversizedRequestsAreRefused) {
  HttpServerSettings settings;
  settings.max_body_bytes = 1024;
  settings.max_header_bytes = 1024;
  start(settings);
  auto result =
      test_support::http_request(server_->port(), "POST", "/hello", 5s, std::string(4096, 'x'));
  EXPECT_EQ(result.status, 413u) << result.error;
  result = test_support::http_request(server_->port(), "GET", "/hello?" + std::string(4096, 'q'));
  EXPECT_EQ(result.status, 431u) << result.error;
  // Garbage is a 400, and the server goes on serving.
  auto garbage = stalled_client("NOT HTTP AT ALL\r\n\r\n");
  std::string reply(12, '\0');
  boost::system::error_code ec;
  asio::read(*garbage, asio::buffer(reply), ec);
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 400");
  EXPECT_EQ(test_support::http_request(server_->port(), "GET", "/hello").status, 200u);
}

TEST_F(HttpServerTest, StalledClientsNeitherBlockOthersNorStayForever) {
  HttpServerSettings settings;
  settings.read_timeout = 300ms;
  settings.idle_timeout = 300ms;
  start(settings);
  std::vector<std::unique_ptr<tcp::socket>> stalled;
  for (int i = 0; i < 20; ++i) stalled.push_back(stalled_client("GET /hello HTTP/1.1\r\nHo"));
  stalled.push_back(stalled_client(""));  // connected, never sends a byte
  ASSERT_TRUE(test_support::eventually([&] { return server_->connections() == 21; }, 5s));
  const auto answer = test_support::http_request(server_->port(), "GET", "/hello", 2s);
  EXPECT_EQ(answer.status, 200u) << "stalled clients must not block others: " << answer.error;
  // The read deadline closes every stalled connection.
  EXPECT_TRUE(test_support::eventually([&] { return server_->connections() == 0; }, 5s))
      << server_->connections() << " still open";
  std::array<char, 1> byte{};
  boost::system::error_code ec;
  stalled.front()->read_some(asio::buffer(byte), ec);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
}

TEST_F(HttpServerTest, ConnectionLimitRefusesExtraConnections) {
  HttpServerSettings settings;
  settings.max_connections = 2;
  start(settings);
  auto first = stalled_client("");
  auto second = stalled_client("");
  ASSERT_TRUE(test_support::eventually([&] { return server_->connections() == 2; }, 5s));
  const auto refused = test_support::http_request(server_->port(), "GET", "/hello", 2s);
  EXPECT_EQ(refused.status, 0u) << "over the limit: closed at once";
  first.reset();
  second.reset();
  ASSERT_TRUE(test_support::eventually([&] { return server_->connections() == 0; }, 15s));
  EXPECT_EQ(test_support::http_request(server_->port(), "GET", "/hello").status, 200u);
}

TEST(HttpServerStart, RefusesABadListenAddress) {
  auto handler = [](const HttpRequestView&) { return HttpResponse{}; };
  EXPECT_FALSE(
      HttpServer::start(HttpServerSettings{"nonsense", 1, 1, 1, 1s, 1s, 1s, 1s, {}}, handler));
  EXPECT_FALSE(HttpServer::start(HttpServerSettings{"example.com:80", 1, 1, 1, 1s, 1s, 1s, 1s, {}},
                                 handler));
  EXPECT_FALSE(HttpServer::start(HttpServerSettings{"127.0.0.1:99999", 1, 1, 1, 1s, 1s, 1s, 1s, {}},
                                 handler));
}

// The webhook listener answers after the broker acknowledged: from another thread, after the
// handler returned, with the request's headers and body read.
TEST(HttpServerAsync, AnswersFromAnotherThreadLaterWithHeadersAndBodyRead) {
  std::mutex mutex;
  std::vector<std::thread> answering;
  std::string seen;
  auto server = HttpServer::start(
      HttpServerSettings{"127.0.0.1:0", 4, 8192, 4096, 5s, 5s, 5s, 5s, {}},
      [&](const HttpRequestView& request, HttpResponder respond) {
        const std::lock_guard lock(mutex);
        seen = std::string(request.header("X-Test")) + "|" + std::string(request.body) + "|" +
               request.remote_address;
        answering.emplace_back([respond = std::move(respond)] {
          std::this_thread::sleep_for(50ms);  // the answer comes after the handler returned
          respond(HttpResponse{202, "application/json", "{}", {}});
          respond(HttpResponse{500, "text/plain", "twice", {}});  // a second answer is dropped
        });
      });
  ASSERT_TRUE(server) << server.error();
  const auto result = test_support::http_request((*server)->port(), "POST", "/x", 5s, "the body");
  EXPECT_EQ(result.status, 202u) << result.error;
  EXPECT_EQ(result.body, "{}");
  {
    const std::lock_guard lock(mutex);
    EXPECT_EQ(seen, "|the body|127.0.0.1");
  }
  for (auto& thread : answering) thread.join();
}

TEST(HttpServerAsync, RepeatedHeaderLinesAreReadAsOneJoinedValue) {
  std::string forwarded;
  auto server =
      HttpServer::start(HttpServerSettings{"127.0.0.1:0", 4, 8192, 4096, 5s, 5s, 5s, 5s, {}},
                        [&](const HttpRequestView& request, const HttpResponder& respond) {
                          forwarded = std::string(request.header("x-forwarded-for"));
                          respond(HttpResponse{200, "text/plain", "ok", {}});
                        });
  ASSERT_TRUE(server) << server.error();
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), (*server)->port()});
  asio::write(socket, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n"
                                               "X-Forwarded-For: 6.6.6.6\r\n"
                                               "X-Forwarded-For: 198.51.100.1\r\n"
                                               "Connection: close\r\n\r\n")));
  std::string reply;
  std::array<char, 1024> chunk{};
  boost::system::error_code ec;
  while (!ec) reply.append(chunk.data(), socket.read_some(asio::buffer(chunk), ec));
  EXPECT_NE(reply.find("200"), std::string::npos) << reply;
  EXPECT_EQ(forwarded, "6.6.6.6, 198.51.100.1");
}

TEST(HttpServerAsync, AnAnswerAfterTheServerStoppedIsDropped) {
  HttpResponder kept;
  std::atomic<bool> asked{false};
  auto server =
      HttpServer::start(HttpServerSettings{"127.0.0.1:0", 4, 8192, 4096, 5s, 5s, 5s, 5s, {}},
                        [&](const HttpRequestView&, HttpResponder respond) {
                          kept = std::move(respond);
                          asked = true;
                        });
  ASSERT_TRUE(server) << server.error();
  std::thread client(
      [port = (*server)->port()] { test_support::http_request(port, "POST", "/x", 2s, "b"); });
  ASSERT_TRUE(test_support::eventually([&] { return asked.load(); }, 5s));
  server->reset();
  kept(HttpResponse{202, "text/plain", "late", {}});  // must neither crash nor reach anyone
  client.join();
}

/// Sends one request on `socket` and reads one whole response (headers and the
/// Content-Length body); empty when the connection ended first.
std::string exchange(tcp::socket& socket, const std::string& target) {
  boost::system::error_code ec;
  asio::write(
      socket,
      asio::buffer("POST " + target + " HTTP/1.1\r\nHost: x\r\n" + "Content-Length: 1\r\n\r\nb"),
      ec);
  if (ec) return {};
  std::string reply;
  std::array<char, 1024> chunk{};
  while (true) {
    const auto end = reply.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::smatch length;
      const std::string head = reply.substr(0, end);
      const std::size_t body =
          std::regex_search(head, length, std::regex("Content-Length: ([0-9]+)"))
              ? std::stoul(length[1].str())
              : 0;
      if (reply.size() >= end + 4 + body) return reply;
    }
    const auto n = socket.read_some(asio::buffer(chunk), ec);
    if (ec) return {};
    reply.append(chunk.data(), n);
  }
}

/// Whether the server closed `socket` (a read ends) within two seconds.
bool closed_by_server(tcp::socket& socket) {
  // Polled with a timeout (asio's blocking read ignores SO_RCVTIMEO): well before the
  // harness's 60 s idle and header timeouts would close it.
  pollfd readable{socket.native_handle(), POLLIN, 0};
  if (::poll(&readable, 1, 2000) != 1) return false;
  std::array<char, 64> chunk{};
  const auto n = ::recv(socket.native_handle(), chunk.data(), chunk.size(), 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

struct DrainHarness {
  DrainHarness() {
    auto started =
        HttpServer::start(HttpServerSettings{"127.0.0.1:0", 8, 8192, 4096, 60s, 60s, 60s, 60s, {}},
                          [this](const HttpRequestView& request, HttpResponder respond) {
                            ++handled;
                            if (request.target == "/hold") {
                              const std::lock_guard lock(mutex);
                              held.push_back(std::move(respond));
                              return;
                            }
                            respond(HttpResponse{202, "text/plain", "ok", {}});
                          });
    if (!started) throw std::runtime_error(started.error());
    server = std::move(*started);
    endpoint = tcp::endpoint{asio::ip::make_address("127.0.0.1"), server->port()};
  }
  std::atomic<int> handled{0};
  std::mutex mutex;
  std::vector<HttpResponder> held;
  std::unique_ptr<HttpServer> server;
  tcp::endpoint endpoint;
  asio::io_context io;
};

TEST(HttpServerDrain, IdleConnectionsCloseAndTheAnswerStillWaitedForClosesItsOwn) {
  DrainHarness h;
  tcp::socket idle(h.io);
  tcp::socket holding_socket(h.io);
  tcp::socket fresh(h.io);
  idle.connect(h.endpoint);
  holding_socket.connect(h.endpoint);
  fresh.connect(h.endpoint);  // accepted, nothing sent yet
  const auto before = exchange(idle, "/a");
  ASSERT_NE(before.find("202"), std::string::npos) << before;
  EXPECT_EQ(before.find("Connection: close"), std::string::npos) << "kept alive: " << before;
  // One handed over and not answered yet is what the drain waits for.
  std::string held_answer;
  std::thread holding([&] { held_answer = exchange(holding_socket, "/hold"); });
  ASSERT_TRUE(test_support::eventually([&] { return h.handled.load() == 2; }, 5s));
  ASSERT_EQ(h.server->unanswered(), 1U);

  h.server->stop_accepting();
  // Connections waiting for a request that sent none of it are closed: the client's next
  // request opens a new connection (another replica) instead of meeting a 503 here.
  EXPECT_TRUE(closed_by_server(idle));
  EXPECT_TRUE(closed_by_server(fresh));
  EXPECT_TRUE(test_support::eventually(
      [&] {
        tcp::socket late(h.io);
        boost::system::error_code refused;
        late.connect(h.endpoint, refused);
        return static_cast<bool>(refused);
      },
      5s))
      << "no new connection once accepting stopped";
  EXPECT_EQ(h.handled.load(), 2);
  {
    const std::lock_guard lock(h.mutex);
    ASSERT_EQ(h.held.size(), 1U);
    h.held.front()(HttpResponse{202, "text/plain", "late", {}});
  }
  holding.join();
  EXPECT_NE(held_answer.find("202"), std::string::npos) << held_answer;
  EXPECT_NE(held_answer.find("Connection: close"), std::string::npos) << held_answer;
  EXPECT_TRUE(test_support::eventually([&] { return h.server->unanswered() == 0; }, 5s));
}

TEST(HttpServerDrain, ARefusedRequestIs503FromTheServerNeverTheHandler) {
  DrainHarness h;
  tcp::socket kept(h.io);
  kept.connect(h.endpoint);
  ASSERT_NE(exchange(kept, "/a").find("202"), std::string::npos);
  h.server->refuse_requests();
  const auto refused = exchange(kept, "/a");
  EXPECT_NE(refused.find("503"), std::string::npos) << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
  EXPECT_NE(refused.find("Connection: close"), std::string::npos) << refused;
  EXPECT_EQ(h.handled.load(), 1) << "a refused request is never handed to the handler";
  EXPECT_EQ(h.server->unanswered(), 0U);
}

}  // namespace
}  // namespace mgit::daemon
