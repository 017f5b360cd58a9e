#include "mgit/daemon/http_server.hpp"

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "mgit/observability/log.hpp"

namespace mgit::daemon {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using observability::LogLevel;

tl::expected<tcp::endpoint, std::string> parse_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return tl::make_unexpected("http_listen must be HOST:PORT");
  auto host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return tl::make_unexpected("http_listen: '" + host + "' is not an IP address");
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    return tl::make_unexpected("http_listen: bad port in '" + listen + "'");
  }
  return tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

class Session;

/// What responders reach: requests waiting for their answer, parked by id on the server
/// (HTTP thread only), and the io_context their answers are posted to while it runs.
struct ResponderGate {
  std::mutex mutex;
  bool open = true;                  ///< false once the server stops: later answers are dropped
  bool refusing = false;             ///< requests are answered 503 instead of handed over (drain)
  std::atomic<bool> closing{false};  ///< every answer closes its connection (drain)
  asio::io_context* io = nullptr;
  std::map<std::uint64_t, std::shared_ptr<Session>>* parked = nullptr;  ///< HTTP thread only
  std::uint64_t next_id = 0;                                            ///< HTTP thread only
  /// Requests handed to the handler whose answer is not written yet (for `drain`).
  std::atomic<std::size_t> unanswered{0};
  /// Sessions waiting for a request's header (HTTP thread only): the drain closes the ones
  /// that have received nothing of it yet.
  std::map<Session*, std::weak_ptr<Session>> reading;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServerSettings& settings, const AsyncHttpHandler& handler,
          std::atomic<std::size_t>& open, std::shared_ptr<ResponderGate> gate)
      : stream_(std::move(socket)),
        settings_(settings),
        handler_(handler),
        open_(open),
        gate_(std::move(gate)) {
    ++open_;
  }
  ~Session() {
    --open_;
    gate_->reading.erase(this);
  }

  // The first request gets the read timeout alone: a connection that sends nothing is cut off
  // as fast as one that sends slowly. Kept-alive connections may idle between requests.
  void start() { read(std::chrono::milliseconds(0)); }

  void write(HttpResponse answer, unsigned version, bool keep_alive, bool head);

  /// The drain: a connection waiting for a request that has sent none of it is closed, so
  /// the client's next request opens a new connection (to another replica) instead of
  /// meeting this one's 503.
  void close_if_idle() {
    if (buffer_.size() == 0) close();
  }

 private:
  void read(std::chrono::milliseconds first_byte_timeout) {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(settings_.max_header_bytes));
    parser_->body_limit(settings_.max_body_bytes);
    // The whole request must arrive within the read timeout (idle time before a kept-alive
    // request counts separately), so a client sending one byte a second cannot hold on; its
    // headers must arrive within the header timeout.
    const auto now = std::chrono::steady_clock::now();
    deadline_ = now + first_byte_timeout + settings_.read_timeout;
    stream_.expires_at(std::min(deadline_, now + first_byte_timeout + settings_.header_timeout));
    gate_->reading.insert_or_assign(this, weak_from_this());
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
                              self->gate_->reading.erase(self.get());
                              if (ec) {
                                self->on_read(ec);
                                return;
                              }
                              self->stream_.expires_at(self->deadline_);
                              http::async_read(self->stream_, self->buffer_, *self->parser_,
                                               [self](const beast::error_code& body_ec,
                                                      std::size_t) { self->on_read(body_ec); });
                            });
  }

  void on_read(const beast::error_code& ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      close();
      return;
    }
    if (ec == http::error::body_limit) {
      reply_error(413, "request body too large");
      return;
    }
    if (ec == http::error::header_limit) {
      reply_error(431, "request header fields too large");
      return;
    }
    if (ec) {
      reply_error(400, "bad request");
      return;
    }
    const auto& request = parser_->get();
    const bool head = request.method() == http::verb::head;
    const auto version = request.version();
    const bool keep_alive = request.keep_alive();
    boost::system::error_code peer_error;
    const auto peer = stream_.socket().remote_endpoint(peer_error);
    HttpRequestView view{
        std::string_view(request.method_string()), std::string_view(request.target()),
        // Repeated field lines are one value joined with ", " (RFC 9110, 5.3): a proxy that
        // adds its own X-Forwarded-For line must not leave the client's line to be read alone.
        [&request, joined = std::make_shared<std::deque<std::string>>()](
            std::string_view name) -> std::string_view {
          const auto [first, last] =
              request.equal_range(beast::string_view(name.data(), name.size()));
          if (first == last) return {};
          if (std::next(first) == last) return {first->value().data(), first->value().size()};
          std::string value;
          for (auto line = first; line != last; ++line) {
            if (!value.empty()) value += ", ";
            value.append(line->value().data(), line->value().size());
          }
          return joined->emplace_back(std::move(value));
        },
        std::string_view(request.body()), peer_error ? std::string() : peer.address().to_string()};
    bool refused = false;
    {
      // Checked and counted under the lock refuse_requests() takes: a request is either
      // refused here or counted before the drain looks at the count.
      const std::lock_guard lock(gate_->mutex);
      refused = gate_->refusing;
      if (!refused) ++gate_->unanswered;
    }
    if (refused) {
      // The handler's loop is stopping: it might never answer.
      if (settings_.on_refused) settings_.on_refused(503, std::string_view(request.target()));
      do_write(
          HttpResponse{
              503, "text/plain; charset=utf-8", "shutting down; retry\n", {{"Retry-After", "1"}}},
          version, false, head);
      return;
    }
    // Parked on the server until answered: the responder may be called on another thread,
    // after this call returns, or never again once the server stops.
    const auto id = ++gate_->next_id;
    gate_->parked->emplace(id, shared_from_this());
    HttpResponder respond = [gate = gate_, id, version, keep_alive, head](HttpResponse answer) {
      const std::lock_guard lock(gate->mutex);
      if (!gate->open) return;
      asio::post(*gate->io,
                 [gate, id, answer = std::move(answer), version, keep_alive, head]() mutable {
                   const auto found = gate->parked->find(id);
                   if (found == gate->parked->end()) return;  // answered already
                   auto session = std::move(found->second);
                   gate->parked->erase(found);
                   session->write(std::move(answer), version, keep_alive, head);
                 });
    };
    try {
      handler_(view, respond);
    } catch (const std::exception& e) {
      observability::log(LogLevel::kError, "http handler failed", {{"error", e.what()}});
      respond(HttpResponse{500, "text/plain; charset=utf-8", "internal error\n", {}});
    }
  }

  void reply_error(unsigned status, std::string_view text) {
    if (settings_.on_refused) {
      settings_.on_refused(status, parser_ && parser_->is_header_done()
                                       ? std::string_view(parser_->get().target())
                                       : std::string_view());
    }
    do_write(HttpResponse{status, "text/plain; charset=utf-8", std::string(text) + "\n", {}}, 11,
             false, false);
  }

  void do_write(HttpResponse answer, unsigned version, bool keep_alive, bool head) {
    auto response = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(answer.status), version);
    response->set(http::field::server, "mgitd");
    response->set(http::field::content_type, answer.content_type);
    response->set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : answer.headers) response->set(name, value);
    // While draining, each connection ends with its current request: the client's next one
    // opens a new connection, which another replica accepts.
    keep_alive = keep_alive && !gate_->closing.load();
    response->keep_alive(keep_alive);
    const auto length = answer.body.size();
    if (!head) response->body() = std::move(answer.body);
    response->content_length(length);
    stream_.expires_after(settings_.write_timeout);
    // HEAD: the header says how long the body would be; none is sent.
    auto serializer = std::make_shared<http::response_serializer<http::string_body>>(*response);
    auto done = [self = shared_from_this(), response, serializer, keep_alive,
                 counted = std::exchange(answering_, false)](const beast::error_code& ec,
                                                             std::size_t) {
      if (counted) --self->gate_->unanswered;
      if (ec || !keep_alive) {
        self->close();
        return;
      }
      self->read(self->settings_.idle_timeout);
    };
    if (head) {
      http::async_write_header(stream_, *serializer, std::move(done));
    } else {
      http::async_write(stream_, *serializer, std::move(done));
    }
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpServerSettings& settings_;
  const AsyncHttpHandler& handler_;
  std::atomic<std::size_t>& open_;
  std::shared_ptr<ResponderGate> gate_;
  std::chrono::steady_clock::time_point deadline_;
  bool answering_ = false;
};

void Session::write(HttpResponse answer, unsigned version, bool keep_alive, bool head) {
  answering_ = true;  // a parked request's answer: counted down once written
  do_write(std::move(answer), version, keep_alive, head);
}

class BeastHttpServer final : public HttpServer {
 public:
  BeastHttpServer(HttpServerSettings settings, AsyncHttpHandler handler)
      : settings_(std::move(settings)), handler_(std::move(handler)), acceptor_(io_) {
    gate_->io = &io_;
    gate_->parked = &parked_;
  }

  ~BeastHttpServer() override {
    {
      const std::lock_guard lock(gate_->mutex);
      gate_->open = false;
    }
    io_.stop();
    if (thread_.joinable()) thread_.join();
    parked_.clear();  // before io_, whose sockets they hold
  }

  tl::expected<void, std::string> listen() {
    auto endpoint = parse_listen(settings_.listen);
    if (!endpoint) return tl::make_unexpected(endpoint.error());
    boost::system::error_code ec;
    acceptor_.open(endpoint->protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(*endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return tl::make_unexpected("cannot listen on " + settings_.listen + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { io_.run(); });
    return {};
  }

  void stop_accepting() override {
    gate_->closing = true;
    asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      // Copied first: closing a session may end it, and its destructor edits the map.
      std::vector<std::shared_ptr<Session>> waiting;
      for (const auto& [session, weak] : gate_->reading) {
        if (auto alive = weak.lock()) waiting.push_back(std::move(alive));
      }
      for (const auto& session : waiting) session->close_if_idle();
    });
  }

  void refuse_requests() override {
    const std::lock_guard lock(gate_->mutex);
    gate_->refusing = true;
  }

  [[nodiscard]] std::size_t unanswered() const override { return gate_->unanswered.load(); }

  [[nodiscard]] std::uint16_t port() const override { return port_; }
  [[nodiscard]] std::size_t connections() const override { return open_.load(); }

 private:
  void accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        // EMFILE and friends: the pending connection stays queued, so accepting again at once
        // would spin this thread. Log once per episode and retry shortly.
        if (!accept_failing_) {
          observability::log(LogLevel::kWarn, "http accept failed; retrying",
                             {{"error", ec.message()}});
        }
        accept_failing_ = true;
        retry_timer_.expires_after(std::chrono::milliseconds(250));
        retry_timer_.async_wait([this](const boost::system::error_code& waited) {
          if (!waited) accept();
        });
        return;
      }
      accept_failing_ = false;
      {
        if (open_.load() >= settings_.max_connections) {
          // Over the limit: refuse at once instead of queueing; probes retry.
          boost::system::error_code ignored;
          socket.close(ignored);
          if (!refusing_) {
            observability::log(LogLevel::kWarn, "http connection limit reached; refusing",
                               {{"max_connections", settings_.max_connections}});
          }
          refusing_ = true;
        } else {
          refusing_ = false;
          std::make_shared<Session>(std::move(socket), settings_, handler_, open_, gate_)->start();
        }
      }
      accept();
    });
  }

  HttpServerSettings settings_;
  AsyncHttpHandler handler_;
  std::atomic<std::size_t> open_{0};  // before io_: sessions destroyed with it count down
  std::shared_ptr<ResponderGate> gate_ = std::make_shared<ResponderGate>();
  asio::io_context io_;
  // Parked requests wait on no I/O of their own: once the acceptor is closed (drain) and every
  // other connection is gone, run() would return and their answers, posted later, would never
  // be written. The destructor stops io_ instead.
  asio::executor_work_guard<asio::io_context::executor_type> keep_running_{io_.get_executor()};
  std::map<std::uint64_t, std::shared_ptr<Session>> parked_;  ///< awaiting their answer
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_{io_};
  std::thread thread_;
  std::uint16_t port_ = 0;
  bool refusing_ = false;
  bool accept_failing_ = false;
};

}  // namespace

tl::expected<std::unique_ptr<HttpServer>, std::string> HttpServer::start(
    HttpServerSettings settings, HttpHandler handler) {
  return start(std::move(settings), [handler = std::move(handler)](const HttpRequestView& request,
                                                                   const HttpResponder& respond) {
    respond(handler(request));
  });
}

tl::expected<std::unique_ptr<HttpServer>, std::string> HttpServer::start(
    HttpServerSettings settings, AsyncHttpHandler handler) {
  auto server = std::make_unique<BeastHttpServer>(std::move(settings), std::move(handler));
  if (auto listening = server->listen(); !listening) {
    return tl::make_unexpected(listening.error());
  }
  return server;
}

}  // namespace mgit::daemon
