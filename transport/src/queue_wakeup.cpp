#include "queue_wakeup.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <exception>

namespace mgit::transport {

namespace asio = boost::asio;

QueueWakeup::QueueWakeup(asio::io_context& io, std::chrono::milliseconds fallback_interval)
    : descriptor_(io), timer_(io), fallback_interval_(fallback_interval) {}

QueueWakeup::~QueueWakeup() {
  try {
    stop();
  } catch (const std::exception& e) {
    // A destructor must not throw. Only the timer's cancel can (Asio reports a failed cancel
    // as system_error), and stop() does that last, after the pipe is closed.
    std::fprintf(stderr, "mgitd: queue wakeup stop: %s\n", e.what());
  }
}

tl::expected<void, TransportError> QueueWakeup::start(rd_kafka_queue_t* queue,
                                                      std::function<void()> serve) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    return tl::make_unexpected(TransportError{TransportErrorKind::kFatal, errno, "pipe2 failed"});
  }
  descriptor_.assign(fds[0]);
  write_fd_ = fds[1];
  queue_ = queue;
  serve_ = std::move(serve);
  rd_kafka_queue_io_event_enable(queue_, write_fd_, "1", 1);
  arm_descriptor();
  arm_timer();
  return {};
}

void QueueWakeup::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (queue_ != nullptr) rd_kafka_queue_io_event_enable(queue_, -1, nullptr, 0);
  queue_ = nullptr;
  boost::system::error_code ignored;
  descriptor_.close(ignored);
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = -1;
  timer_.cancel();  // last: the one call here that can throw
}

void QueueWakeup::arm_descriptor() {
  descriptor_.async_wait(
      asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
        if (ec || stopped_) return;
        std::array<char, 64> buffer{};
        while (::read(descriptor_.native_handle(), buffer.data(), buffer.size()) > 0) {
        }
        serve_();
        if (!stopped_) arm_descriptor();
      });
}

void QueueWakeup::arm_timer() {
  timer_.expires_after(fallback_interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    serve_();
    if (!stopped_) arm_timer();
  });
}

}  // namespace mgit::transport
