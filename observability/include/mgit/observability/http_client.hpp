#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

namespace mgit::observability {

struct HttpRequest {
  std::string method = "GET";  ///< GET or POST
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

/// A small blocking HTTP/1.1 client for mgitd's own outbound calls (span export, the
/// healthcheck subcommand). Plain http only. One deadline covers connect, write and read, so
/// a peer that accepts and then stalls costs the caller one timeout. Not thread-safe: one
/// client per thread.
class HttpClient {
 public:
  HttpClient(std::string host, std::string port);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// The error says which step failed ("resolve: …", "connect: …", "write: …", "read: …").
  /// Any HTTP status is a response, not an error.
  tl::expected<HttpResponse, std::string> send(const HttpRequest& request,
                                               std::chrono::milliseconds deadline);

  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] const std::string& port() const { return port_; }

 private:
  std::string host_;
  std::string port_;
  /// The peer's addresses, looked up once and reused until a connect fails: getaddrinfo
  /// cannot be given a deadline, so a DNS outage then costs one lookup, not one per call.
  struct ResolvedAddresses;
  std::unique_ptr<ResolvedAddresses> resolved_;
};

}  // namespace mgit::observability
