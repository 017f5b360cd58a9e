#include "mgit/observability/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace mgit::observability {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct HttpClient::ResolvedAddresses {
  asio::ip::tcp::resolver::results_type hosts;
};

HttpClient::HttpClient(std::string host, std::string port)
    : host_(std::move(host)), port_(std::move(port)) {}

HttpClient::~HttpClient() = default;

tl::expected<HttpResponse, std::string> HttpClient::send(const HttpRequest& request,
                                                         std::chrono::milliseconds deadline) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::request<http::string_body> message{http::string_to_verb(request.method), request.target,
                                           11};
  if (message.method() == http::verb::unknown) {
    return tl::make_unexpected("unsupported method " + request.method);
  }
  message.set(http::field::host, host_.find(':') == std::string::npos ? host_ + ":" + port_
                                                                      : "[" + host_ + "]:" + port_);
  for (const auto& [name, value] : request.headers) message.set(name, value);
  message.body() = request.body;
  message.prepare_payload();
  http::response<http::string_body> response;
  std::string error;

  auto exchange = [&](const asio::ip::tcp::resolver::results_type& hosts) {
    stream.expires_after(deadline);
    stream.async_connect(hosts, [&](const beast::error_code& connected,
                                    const asio::ip::tcp::endpoint&) {
      if (connected) {
        error = "connect: " + connected.message();
        resolved_.reset();  // the peer may have moved: look it up again next time
        return;
      }
      http::async_write(stream, message, [&](const beast::error_code& written, std::size_t) {
        if (written) {
          error = "write: " + written.message();
          return;
        }
        http::async_read(stream, buffer, response, [&](const beast::error_code& read, std::size_t) {
          if (read) error = "read: " + read.message();
        });
      });
    });
  };
  if (resolved_) {
    exchange(resolved_->hosts);
  } else {
    resolver.async_resolve(
        host_, port_,
        [&](const beast::error_code& resolved, const asio::ip::tcp::resolver::results_type& hosts) {
          if (resolved) {
            error = "resolve: " + resolved.message();
            return;
          }
          resolved_ = std::make_unique<ResolvedAddresses>(ResolvedAddresses{hosts});
          exchange(resolved_->hosts);
        });
  }
  io.run();
  if (!error.empty()) return tl::make_unexpected(std::move(error));
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  return HttpResponse{static_cast<int>(response.result_int()), std::move(response.body())};
}

}  // namespace mgit::observability
