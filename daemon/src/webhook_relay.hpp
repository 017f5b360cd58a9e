#pragma once

// Private to daemon_core: a webhook's job from the listener to the jobs topic, durable before
// it is answered (docs/webhooks.md, "Never lost, never doubled").

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "mgit/transport/kafka_producer.hpp"
#include "mgit/webhooks/intake.hpp"
#include "mgit/webhooks/spool.hpp"

namespace mgit::daemon {

struct WebhookRelaySettings {
  std::string jobs_topic;
  /// How long a request waits for the broker's ack before its job is spooled instead.
  std::chrono::milliseconds ack_timeout{3000};
  /// How often the spool is offered to the broker again (also once at start).
  std::chrono::milliseconds replay_interval{2000};
  /// Spooled records produced at once by a replay.
  std::size_t replay_batch = 64;
  /// Delivery ids this replica delivered lately, answered `duplicate` without a second record.
  std::size_t remembered_jobs = 4096;
  std::function<void(std::size_t spooled)> on_spool_size;
};

/// Produces each webhook job (acks=all) and answers when it is durable: `enqueued` on the
/// broker's ack within `ack_timeout`, else `spooled` once an fsync'd spool file holds it (the
/// produce goes on; its ack removes the file), else `unavailable`. Spooled records are
/// produced again every `replay_interval` and at start until acknowledged, so a 202 is never
/// given for a job that only memory holds. A job id can reach the topic twice (acked after
/// being spooled, then the replica dies before removing the file): the daemon's replay of
/// served jobs answers the second without executing it. Everything on the io_context thread.
class WebhookRelay {
 public:
  using Done = std::function<void(webhooks::Outcome)>;

  WebhookRelay(boost::asio::io_context& io, transport::RecordProducer& producer,
               webhooks::Spool spool, WebhookRelaySettings settings);
  ~WebhookRelay();
  WebhookRelay(const WebhookRelay&) = delete;
  WebhookRelay& operator=(const WebhookRelay&) = delete;

  /// Starts the replays (the first at once).
  void start();

  /// `done` is called once, on the io_context thread, with enqueued, spooled, duplicate or
  /// unavailable.
  void submit(const webhooks::WebhookJob& job, const std::string& traceparent, Done done);

  [[nodiscard]] std::size_t in_flight() const { return pending_.size(); }

 private:
  struct Pending {
    std::vector<Done> waiters;
    std::unique_ptr<boost::asio::steady_timer> timer;
    webhooks::SpooledRecord record;
    bool spooled = false;
  };

  void produce(const std::string& job_id);
  void delivered(const std::string& job_id, bool ok);
  /// Writes the pending record to the spool and answers its waiters.
  void spool_and_answer(Pending& pending);
  void answer(Pending& pending, webhooks::Outcome outcome);
  void remember(const std::string& job_id);
  void replay();
  void report_spool_size();

  boost::asio::io_context& io_;
  transport::RecordProducer& producer_;
  webhooks::Spool spool_;
  WebhookRelaySettings settings_;
  std::map<std::string, Pending> pending_;
  std::deque<std::string> recent_order_;
  std::unordered_set<std::string> recent_;
  boost::asio::steady_timer replay_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mgit::daemon
