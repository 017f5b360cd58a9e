#pragma once

#include <librdkafka/rdkafka.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <tl/expected.hpp>

#include "mgit/transport/types.hpp"

namespace mgit::transport {

/// Wakes the io_context when a librdkafka queue has events: librdkafka writes to a pipe
/// (rd_kafka_queue_io_event_enable) and an Asio descriptor waits on it. The event fd fires
/// only when events arrive, so a timer calls `serve` anyway every `fallback_interval`:
/// an idle or fully paused consumer must still be polled to stay in its group.
/// `serve` runs on the io_context thread. The queue must outlive this object.
class QueueWakeup {
 public:
  QueueWakeup(boost::asio::io_context& io, std::chrono::milliseconds fallback_interval);
  ~QueueWakeup();
  QueueWakeup(const QueueWakeup&) = delete;
  QueueWakeup& operator=(const QueueWakeup&) = delete;

  tl::expected<void, TransportError> start(rd_kafka_queue_t* queue, std::function<void()> serve);
  /// Detaches from the queue and stops waking; idempotent.
  void stop();

 private:
  void arm_descriptor();
  void arm_timer();

  boost::asio::posix::stream_descriptor descriptor_;
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds fallback_interval_;
  rd_kafka_queue_t* queue_ = nullptr;
  int write_fd_ = -1;
  bool stopped_ = false;
  std::function<void()> serve_;
};

}  // namespace mgit::transport
