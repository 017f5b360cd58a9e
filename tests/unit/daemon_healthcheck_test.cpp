#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "mgit/daemon/daemon.hpp"
#include "mgit/daemon/http_server.hpp"

namespace mgit::daemon {
namespace {

using namespace std::chrono_literals;

// `mgitd healthcheck` against the project's HTTP listener, answering what the test says.
class HealthcheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = HttpServer::start(
        HttpServerSettings{"127.0.0.1:0", 16, 8192, 64 * 1024, 5s, 5s, 5s, 5s, {}},
        [this](const HttpRequestView& request) {
          const std::lock_guard lock(mutex_);
          paths_.emplace_back(request.target);
          const bool ready = request.target == "/health/ready";
          return HttpResponse{ready ? ready_status_ : 200u, "application/json", "{}", {}};
        });
    ASSERT_TRUE(server) << server.error();
    server_ = std::move(*server);
    listen_ = "127.0.0.1:" + std::to_string(server_->port());
  }

  std::vector<std::string> paths() {
    const std::lock_guard lock(mutex_);
    return paths_;
  }

  std::mutex mutex_;
  std::vector<std::string> paths_;
  unsigned ready_status_ = 503;
  std::unique_ptr<HttpServer> server_;
  std::string listen_;
};

TEST_F(HealthcheckTest, LiveByDefaultReadyOnRequest) {
  EXPECT_EQ(run_healthcheck({"--http-listen", listen_}), 0);
  EXPECT_EQ(run_healthcheck({"--http-listen", listen_, "--ready"}), 1) << "ready answers 503";
  EXPECT_EQ(paths(), (std::vector<std::string>{"/health/live", "/health/ready"}));
}

TEST_F(HealthcheckTest, AWildcardListenAddressIsProbedOnLoopback) {
  // The daemon listens on 0.0.0.0 in a container; the probe must dial loopback.
  const auto port = std::to_string(server_->port());
  EXPECT_EQ(run_healthcheck({"--http-listen", "0.0.0.0:" + port}), 0);
  EXPECT_EQ(run_healthcheck({"--http-listen", ":" + port}), 0);
}

TEST(Healthcheck, NothingListeningIsUnhealthy) {
  std::uint16_t closed_port = 0;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    closed_port = probe.local_endpoint().port();
  }
  EXPECT_EQ(run_healthcheck({"--http-listen", "127.0.0.1:" + std::to_string(closed_port),
                             "--timeout-seconds", "2"}),
            1);
}

TEST(Healthcheck, UnknownArgumentsAreAUsageError) { EXPECT_EQ(run_healthcheck({"--bogus"}), 2); }

}  // namespace
}  // namespace mgit::daemon
