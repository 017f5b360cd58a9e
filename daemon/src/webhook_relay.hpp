#pragma once

// Private to daemon_core: a webhook's job from the listener to the jobs topic, durable before
// it is answered (docs/webhooks.md, "Never lost, never doubled").

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
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
/// given for a job that only memory holds. The spool's disk work (writes with their fsyncs,
/// reads, removals, the one directory listing at start) runs on a thread of its own: the
/// daemon's loop never waits on the workspace volume. Everything else on the io_context thread.
class WebhookRelay {
 public:
  using Done = std::function<void(webhooks::Outcome)>;

  WebhookRelay(boost::asio::io_context& io, transport::RecordProducer& producer,
               webhooks::Spool spool, WebhookRelaySettings settings);
  ~WebhookRelay();  ///< joins the spool thread; waiting requests are not answered
  WebhookRelay(const WebhookRelay&) = delete;
  WebhookRelay& operator=(const WebhookRelay&) = delete;

  /// Lists the spool and starts the replays.
  void start();

  /// `done` is called once, on the io_context thread, with enqueued, spooled, duplicate or
  /// unavailable.
  void submit(const webhooks::WebhookJob& job, const std::string& traceparent, Done done);

  /// For the drain (SIGTERM): no more replays; every waiting request and every later one is
  /// answered from the spool without waiting for the broker (the next start replays it).
  /// `idle` is called on the io_context once no spool write is in progress.
  void shut_down(std::function<void()> idle);

 private:
  struct Pending {
    std::vector<Done> waiters;
    std::unique_ptr<boost::asio::steady_timer> timer;
    webhooks::SpooledRecord record;
    bool spooled = false;        ///< its file is written
    bool spooling = false;       ///< its write is in progress
    bool past_deadline = false;  ///< the ack timeout passed: a later waiter is not kept waiting
    bool producing = true;       ///< its delivery report is still to come
  };

  void produce(const std::string& job_id);
  void delivered(const std::string& job_id, bool ok);
  /// Writes the pending record to the spool (on the spool thread) and answers its waiters.
  void spool_and_answer(Pending& pending);
  void written(const std::string& job_id, bool ok, const std::string& error);
  static void answer(Pending& pending, webhooks::Outcome outcome);
  void remember(const std::string& job_id);
  void forget_spooled(const std::string& job_id);
  void replay();
  void replayed(webhooks::SpooledRecord record);
  void report_spool_size();
  void check_idle();
  /// Runs `work` on the spool thread and `then` with its result on the io_context.
  template <class Work, class Then>
  void on_spool_thread(Work work, Then then);

  boost::asio::io_context& io_;
  transport::RecordProducer& producer_;
  webhooks::Spool spool_;  ///< the spool thread's only
  WebhookRelaySettings settings_;
  std::map<std::string, Pending> pending_;
  std::set<std::string> spooled_;  ///< ids with a file (written here or found at start)
  std::set<std::string> reading_;  ///< ids being read back for a replay
  std::string replay_cursor_;      ///< the last id a replay took: the next starts after it
  std::size_t writes_in_progress_ = 0;
  std::deque<std::string> recent_order_;
  std::unordered_set<std::string> recent_;
  boost::asio::steady_timer replay_timer_;
  bool stopping_ = false;
  std::function<void()> on_idle_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  boost::asio::io_context spool_io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> spool_work_;
  std::thread spool_thread_;
};

}  // namespace mgit::daemon
