// The discovery loop's HTTP client: Boost.Beast over Asio's OpenSSL streams, one connection
// per request. Each step runs on a private io_context until it completes or the request's
// deadline passes, so a silent server costs at most the timeout.

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <optional>
#include <utility>

#include "mgit/basics/ascii.hpp"
#include "mgit/discovery/discover.hpp"
#include "url_parts.hpp"

namespace mgit::discovery {

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kHeaderLimit = 64 * 1024;

std::string where(const UrlParts& parts) {
  return fmt::format("{}://{}:{}", parts.scheme, parts.host, parts.port);
}

TransportFailure failure(DiscoveryErrorCode code, std::string message, bool transient) {
  return TransportFailure{DiscoveryError{code, std::move(message)}, transient};
}

/// Runs `ioc` until `done` or `deadline`; on the deadline, `cancel` aborts the operation and
/// the context is drained so no handler outlives the call.
template <class Cancel>
bool run_until(asio::io_context& ioc, const bool& done, Clock::time_point deadline,
               Cancel&& cancel) {
  ioc.restart();
  ioc.run_until(deadline);
  if (done) return true;
  cancel();
  ioc.restart();
  ioc.run();
  return false;
}

class HttpsTransport final : public Transport {
 public:
  explicit HttpsTransport(HttpsOptions options) : options_(std::move(options)) {}

  tl::expected<ApiResponse, TransportFailure> get(const ApiRequest& request) override {
    const auto parts = split_url(request.url);
    if (!parts) {
      return tl::make_unexpected(failure(
          DiscoveryErrorCode::kUsage,
          fmt::format("not an http(s) URL the client sends to: {}", origin_text(request.url)),
          false));
    }
    if (parts->scheme == "http" && !options_.allow_http) {
      return tl::make_unexpected(
          failure(DiscoveryErrorCode::kUsage,
                  fmt::format("{} is plain http: the token would cross the network unencrypted; "
                              "use https, or --allow-http on a trusted network",
                              origin_text(request.url)),
                  false));
    }
    try {
      return send(*parts, request);
    } catch (const boost::system::system_error& e) {
      // ssl::context setup (an unreadable --ca-file) throws; the I/O below does not.
      return tl::make_unexpected(failure(DiscoveryErrorCode::kUsage,
                                         fmt::format("TLS setup: {}", e.code().message()), false));
    }
  }

 private:
  tl::expected<ApiResponse, TransportFailure> send(const UrlParts& parts,
                                                   const ApiRequest& request) {
    const auto deadline = Clock::now() + options_.request_timeout;
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    bool done = false;
    beast::error_code ec;
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(parts.host, parts.port,
                           [&](beast::error_code e, tcp::resolver::results_type results) {
                             ec = e;
                             endpoints = std::move(results);
                             done = true;
                           });
    if (!run_until(ioc, done, deadline, [&] { resolver.cancel(); }) || ec) {
      return tl::make_unexpected(failure(
          DiscoveryErrorCode::kUnreachable,
          fmt::format("cannot resolve {}: {}", parts.host, ec ? ec.message() : "timed out"), true));
    }

    tcp::socket socket(ioc);
    done = false;
    asio::async_connect(socket, endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    const auto connect_deadline = std::min(deadline, Clock::now() + options_.connect_timeout);
    if (!run_until(ioc, done, connect_deadline, [&] { socket.close(); }) || ec) {
      return tl::make_unexpected(failure(
          DiscoveryErrorCode::kUnreachable,
          fmt::format("cannot connect to {}: {}", where(parts), ec ? ec.message() : "timed out"),
          true));
    }
    if (parts.scheme == "http") return exchange(ioc, socket, parts, request, deadline);

    ssl::context context(ssl::context::tls_client);
    context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    context.set_default_verify_paths();
    if (!options_.ca_file.empty()) context.load_verify_file(options_.ca_file);
    context.set_verify_mode(ssl::verify_peer);
    ssl::stream<tcp::socket> stream(std::move(socket), context);
    SSL* handle = stream.native_handle();
    // Host-name (or IP) verification by OpenSSL during the handshake, and SNI for names.
    X509_VERIFY_PARAM* param = SSL_get0_param(handle);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int bound = parts.ip_literal()
                          ? X509_VERIFY_PARAM_set1_ip_asc(param, parts.host.c_str())
                          : X509_VERIFY_PARAM_set1_host(param, parts.host.c_str(), 0);
    if (bound != 1 ||
        (!parts.ip_literal() && SSL_set_tlsext_host_name(handle, parts.host.c_str()) != 1)) {
      return tl::make_unexpected(failure(DiscoveryErrorCode::kUsage,
                                         fmt::format("cannot verify host {}", parts.host), false));
    }
    done = false;
    stream.async_handshake(ssl::stream_base::client, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
    if (!run_until(ioc, done, deadline, [&] { stream.lowest_layer().close(); }) || ec) {
      const long verify = SSL_get_verify_result(handle);
      const std::string why =
          !done ? std::string("timed out")
          : verify != X509_V_OK
              ? fmt::format(
                    "certificate verification failed: {} (a self-hosted API's CA: "
                    "--ca-file)",
                    X509_verify_cert_error_string(verify))
              : ec.message();
      return tl::make_unexpected(
          failure(DiscoveryErrorCode::kUnreachable,
                  fmt::format("TLS handshake with {}: {}", where(parts), why), !done));
    }
    return exchange(ioc, stream, parts, request, deadline);
  }

  template <class Stream>
  tl::expected<ApiResponse, TransportFailure> exchange(asio::io_context& ioc, Stream& stream,
                                                       const UrlParts& parts,
                                                       const ApiRequest& request,
                                                       Clock::time_point deadline) {
    http::request<http::empty_body> message{http::verb::get, parts.target, 11};
    const bool default_port = (parts.scheme == "https" && parts.port == "443") ||
                              (parts.scheme == "http" && parts.port == "80");
    const bool v6 = parts.host.find(':') != std::string::npos;
    const std::string host = v6 ? fmt::format("[{}]", parts.host) : parts.host;
    message.set(http::field::host, default_port ? host : fmt::format("{}:{}", host, parts.port));
    message.set(http::field::user_agent, "mgitctl-discover");
    message.set(http::field::connection, "close");
    for (const auto& [name, value] : request.headers) {
      message.set(beast::string_view(name.data(), name.size()),
                  beast::string_view(value.data(), value.size()));
    }
    const auto close = [&] { beast::get_lowest_layer(stream).close(); };
    bool done = false;
    beast::error_code ec;
    http::async_write(stream, message, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(ioc, done, deadline, close) || ec) {
      return tl::make_unexpected(failure(
          DiscoveryErrorCode::kUnreachable,
          fmt::format("sending to {}: {}", where(parts), ec ? ec.message() : "timed out"), true));
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(options_.max_body_bytes);
    done = false;
    http::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(ioc, done, deadline, close)) {
      return tl::make_unexpected(
          failure(DiscoveryErrorCode::kUnreachable,
                  fmt::format("{} sent no complete response within {}ms", where(parts),
                              options_.request_timeout.count()),
                  true));
    }
    if (ec == http::error::body_limit) {
      return tl::make_unexpected(failure(
          DiscoveryErrorCode::kBadResponse,
          fmt::format("{} sent a body over {} bytes", where(parts), options_.max_body_bytes),
          false));
    }
    // A TLS peer that closes without close_notify after a complete message is common; the
    // parser knows whether the message was complete.
    if (ec && !(ec == ssl::error::stream_truncated && parser.is_done())) {
      return tl::make_unexpected(
          failure(DiscoveryErrorCode::kUnreachable,
                  fmt::format("reading from {}: {}", where(parts), ec.message()), true));
    }
    close();
    auto& response = parser.get();
    ApiResponse result;
    result.status = static_cast<int>(response.result_int());
    for (const auto& field : response) {
      std::string name(field.name_string());
      for (char& c : name) c = basics::ascii_lower(c);
      result.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    result.body = std::move(response.body());
    return result;
  }

  HttpsOptions options_;
};

}  // namespace

std::unique_ptr<Transport> make_https_transport(const HttpsOptions& options) {
  return std::make_unique<HttpsTransport>(options);
}

}  // namespace mgit::discovery
