#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "mgit/daemon/daemon.hpp"
#include "mgit/observability/http_client.hpp"

namespace mgit::daemon {
namespace {

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

  observability::HttpClient daemon(target.host, target.port);
  observability::HttpRequest request;
  request.target = target.path;
  request.headers = {{"User-Agent", "mgitd-healthcheck"}};
  const auto response = daemon.send(request, std::chrono::seconds(timeout_seconds));
  if (!response) {
    std::cerr << "mgitd healthcheck: " << target.host << ":" << target.port << target.path << ": "
              << response.error() << "\n";
    return 1;
  }
  std::cout << response->body;
  return response->status == 200 ? 0 : 1;
}

}  // namespace mgit::daemon
