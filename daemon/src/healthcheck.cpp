#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "mgit/daemon/daemon.hpp"

namespace mgit::daemon {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct Target {
  std::string host;
  std::string port;
  std::string path;
};

// http_listen → where a local probe reaches it: a wildcard address means loopback.
Target target_from_listen(const std::string& listen, const std::string& path) {
  const auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  const std::string port = colon == std::string::npos ? listen : listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  return Target{host, port, path};
}

}  // namespace

int run_healthcheck(const std::vector<std::string>& args) {
  // The container HEALTHCHECK and probes call this: no curl in the image. It reads the same
  // http_listen the daemon does (flag, then MGITD_HTTP_LISTEN, then the default).
  std::string listen = "0.0.0.0:8080";
  if (const char* env = std::getenv("MGITD_HTTP_LISTEN"); env != nullptr && *env != '\0') {
    listen = env;
  }
  std::string path = "/health/live";
  int timeout_seconds = 5;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw std::invalid_argument(arg + " needs a value");
      return args[++i];
    };
    if (arg == "--http-listen") {
      listen = value();
    } else if (arg == "--ready") {
      path = "/health/ready";
    } else if (arg == "--timeout-seconds") {
      timeout_seconds = std::stoi(value());
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "usage: mgitd healthcheck [--ready] [--http-listen HOST:PORT] "
                   "[--timeout-seconds N]\n"
                   "GETs /health/live (or /health/ready) of the local daemon; exit 0 when it "
                   "answers 200, 1 otherwise.\n";
      return 0;
    } else {
      std::cerr << "mgitd healthcheck: unknown argument " << arg << "\n";
      return 2;
    }
  }
  const auto target = target_from_listen(listen, path);

  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::request<http::empty_body> request{http::verb::get, target.path, 11};
  request.set(http::field::host, target.host);
  request.set(http::field::user_agent, "mgitd-healthcheck");
  http::response<http::string_body> response;
  std::string error;
  stream.expires_after(std::chrono::seconds(timeout_seconds));
  resolver.async_resolve(
      target.host, target.port,
      [&](const beast::error_code& ec, const asio::ip::tcp::resolver::results_type& results) {
        if (ec) {
          error = ec.message();
          return;
        }
        stream.async_connect(results, [&](const beast::error_code& connected,
                                          const asio::ip::tcp::endpoint&) {
          if (connected) {
            error = connected.message();
            return;
          }
          http::async_write(stream, request, [&](const beast::error_code& written, std::size_t) {
            if (written) {
              error = written.message();
              return;
            }
            http::async_read(stream, buffer, response,
                             [&](const beast::error_code& read, std::size_t) {
                               if (read) error = read.message();
                             });
          });
        });
      });
  io.run();
  if (!error.empty()) {
    std::cerr << "mgitd healthcheck: " << target.host << ":" << target.port << target.path << ": "
              << error << "\n";
    return 1;
  }
  std::cout << response.body();
  return response.result_int() == 200 ? 0 : 1;
}

}  // namespace mgit::daemon
