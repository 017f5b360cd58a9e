#include "support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <regex>

#include "support/daemon_process.hpp"

namespace mgit::test_support {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        std::chrono::milliseconds timeout, const std::string& body) {
  HttpResult result;
  const auto started = std::chrono::steady_clock::now();
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  if (request.method() == http::verb::unknown) request.method_string(method);
  request.set(http::field::host, "127.0.0.1");
  request.body() = body;
  request.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (method == "HEAD") parser.skip(true);
  stream.expires_after(timeout);
  stream.async_connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
      [&](const beast::error_code& connected) {
        if (connected) {
          result.error = "connect: " + connected.message();
          return;
        }
        http::async_write(stream, request, [&](const beast::error_code& written, std::size_t) {
          if (written) {
            result.error = "write: " + written.message();
            return;
          }
          http::async_read(stream, buffer, parser, [&](const beast::error_code& read, std::size_t) {
            if (read) result.error = "read: " + read.message();
          });
        });
      });
  io.run();
  result.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  if (result.error.empty()) {
    const auto& response = parser.get();
    result.status = response.result_int();
    result.body = response.body();
    result.content_type = std::string(response[http::field::content_type]);
    result.allow = std::string(response[http::field::allow]);
  }
  return result;
}

std::optional<std::uint16_t> wait_for_http_port(const DaemonProcess& daemon,
                                                std::chrono::milliseconds timeout) {
  if (!daemon.wait_for_log("\"msg\":\"http listening\"", timeout)) return std::nullopt;
  static const std::regex kPort(R"re("msg":"http listening".*"port":(\d+))re");
  std::smatch match;
  const auto text = daemon.log_text();
  if (!std::regex_search(text, match, kPort)) return std::nullopt;
  return static_cast<std::uint16_t>(std::stoi(match[1]));
}

}  // namespace mgit::test_support
