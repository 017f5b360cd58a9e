#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "mgit/observability/http_client.hpp"

namespace mgit::observability {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// One connection on a raw socket: records what arrived on the wire and answers `reply`.
class OneShotPeer {
 public:
  explicit OneShotPeer(std::string reply)
      : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}), reply_(std::move(reply)) {
    thread_ = std::thread([this] {
      asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket);
      asio::streambuf buffer;
      const auto header_end = asio::read_until(socket, buffer, "\r\n\r\n");
      std::string text(asio::buffers_begin(buffer.data()), asio::buffers_end(buffer.data()));
      const auto length_at = text.find("Content-Length: ");
      const std::size_t length =
          length_at == std::string::npos ? 0 : std::stoul(text.substr(length_at + 16));
      if (buffer.size() < header_end + length) {
        asio::read(socket, buffer, asio::transfer_exactly(header_end + length - buffer.size()));
      }
      received_.assign(asio::buffers_begin(buffer.data()), asio::buffers_end(buffer.data()));
      asio::write(socket, asio::buffer(reply_));
    });
  }
  ~OneShotPeer() {
    if (thread_.joinable()) thread_.join();
  }
  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }
  /// Valid once the client's send() has returned.
  std::string received() {
    thread_.join();
    return received_;
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::string reply_;
  std::string received_;
  std::thread thread_;
};

TEST(HttpClient, SendsTheRequestAndReturnsAnyStatusAsAResponse) {
  OneShotPeer peer(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 15\r\nConnection: close\r\n\r\n"
      "{\"ready\":false}");
  HttpClient client("127.0.0.1", peer.port());
  HttpRequest request;
  request.method = "POST";
  request.target = "/v1/traces";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = R"({"resourceSpans":[]})";
  const auto response = client.send(request, 10s);
  ASSERT_TRUE(response) << response.error();
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->body, "{\"ready\":false}");
  const auto wire = peer.received();
  EXPECT_EQ(wire.rfind("POST /v1/traces HTTP/1.1\r\n", 0), 0u) << wire;
  EXPECT_NE(wire.find("Host: 127.0.0.1:" + peer.port() + "\r\n"), std::string::npos) << wire;
  EXPECT_NE(wire.find("Content-Type: application/json\r\n"), std::string::npos) << wire;
  EXPECT_NE(wire.find("Content-Length: 20\r\n"), std::string::npos) << wire;
  EXPECT_EQ(wire.substr(wire.size() - request.body.size()), request.body);
}

TEST(HttpClient, ARefusedConnectionIsAConnectError) {
  std::string closed_port;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    closed_port = std::to_string(probe.local_endpoint().port());
  }
  HttpClient client("127.0.0.1", closed_port);
  const auto response = client.send(HttpRequest{}, 10s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().rfind("connect: ", 0), 0u) << response.error();
}

TEST(HttpClient, APeerThatNeverAnswersCostsOneDeadline) {
  // Listens (the kernel completes the handshake) but never reads or answers.
  asio::io_context io;
  asio::ip::tcp::acceptor stalled(io, {asio::ip::make_address("127.0.0.1"), 0});
  HttpClient client("127.0.0.1", std::to_string(stalled.local_endpoint().port()));
  const auto response = client.send(HttpRequest{}, 200ms);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().rfind("read: ", 0), 0u) << response.error();
}

TEST(HttpClient, RefusesAMethodItCannotName) {
  HttpClient client("127.0.0.1", "1");
  HttpRequest request;
  request.method = "BREW";
  const auto response = client.send(request, 1s);
  ASSERT_FALSE(response);
  EXPECT_NE(response.error().find("BREW"), std::string::npos);
}

}  // namespace
}  // namespace mgit::observability
