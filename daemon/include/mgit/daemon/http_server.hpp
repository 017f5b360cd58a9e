#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

namespace mgit::daemon {

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// One request, valid only during the handler's call.
struct HttpRequestView {
  std::string_view method;
  std::string_view target;  ///< path and query as sent
  /// A header's value by name (case-insensitive); empty when absent.
  std::function<std::string_view(std::string_view name)> header;
  std::string_view body;
  std::string remote_address;  ///< the peer's IP address, as the socket names it
};

/// Answers one request. Called on the HTTP thread; must be quick and must not block.
using HttpHandler = std::function<HttpResponse(const HttpRequestView&)>;

/// Sends the answer to a request, from any thread, at most once. A responder called after
/// the server stopped does nothing.
using HttpResponder = std::function<void(HttpResponse)>;
/// Starts answering one request and returns at once; `respond` is called later (from any
/// thread). Called on the HTTP thread; must not block.
using AsyncHttpHandler = std::function<void(const HttpRequestView&, HttpResponder respond)>;

struct HttpServerSettings {
  std::string listen = "0.0.0.0:8080";  ///< HOST:PORT; port 0 picks a free one
  std::size_t max_connections = 256;
  std::size_t max_header_bytes = std::size_t{8} * 1024;
  std::size_t max_body_bytes = std::size_t{64} * 1024;
  /// A request must arrive completely within this; a slow or stalled client is cut off.
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds write_timeout{10000};
  /// How long a kept-alive connection may wait for its next request.
  std::chrono::milliseconds idle_timeout{30000};
  /// The request line and headers must arrive within this (within `read_timeout` too).
  std::chrono::milliseconds header_timeout{10000};
  /// Told of every request the server answers itself (400, 413, 431) with its status and
  /// target (empty when unread); on the HTTP thread. For metrics.
  std::function<void(unsigned status, std::string_view target)> on_refused;
};

/// One Beast HTTP/1.1 listener on its own thread and io_context, so serving HTTP (a slow
/// scraper, a stalled client) never delays job intake or results on the daemon's loop.
class HttpServer {
 public:
  static tl::expected<std::unique_ptr<HttpServer>, std::string> start(HttpServerSettings settings,
                                                                      HttpHandler handler);
  static tl::expected<std::unique_ptr<HttpServer>, std::string> start(HttpServerSettings settings,
                                                                      AsyncHttpHandler handler);
  virtual ~HttpServer() = default;
  // The drain, in two steps so the handler's own loop can keep running between them (a
  // request read on a kept-alive connection meanwhile is handed over and answered):
  /// Stops accepting connections; from now on every answer closes its connection.
  virtual void stop_accepting() = 0;
  /// From now on a request read on a connection still open is answered 503 (`Retry-After`,
  /// `Connection: close`) by the server's thread, never handed to the handler. Requests handed
  /// over before this returns are counted in `unanswered()`.
  virtual void refuse_requests() = 0;
  /// Requests handed to the handler whose answer is not written yet.
  [[nodiscard]] virtual std::size_t unanswered() const = 0;
  [[nodiscard]] virtual std::uint16_t port() const = 0;
  /// Connections currently open (for tests and the limit).
  [[nodiscard]] virtual std::size_t connections() const = 0;
};

}  // namespace mgit::daemon
