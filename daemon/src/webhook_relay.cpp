#include "webhook_relay.hpp"

#include <boost/asio/post.hpp>

#include "mgit/observability/log.hpp"

namespace mgit::daemon {

namespace asio = boost::asio;
using observability::LogLevel;
using webhooks::Outcome;

WebhookRelay::WebhookRelay(asio::io_context& io, transport::RecordProducer& producer,
                           webhooks::Spool spool, WebhookRelaySettings settings)
    : io_(io),
      producer_(producer),
      spool_(std::move(spool)),
      settings_(std::move(settings)),
      replay_timer_(io),
      spool_work_(asio::make_work_guard(spool_io_)),
      spool_thread_([this] { spool_io_.run(); }) {}

WebhookRelay::~WebhookRelay() {
  *alive_ = false;
  boost::system::error_code ignored;
  for (auto& [job_id, pending] : pending_) {
    if (pending.timer) pending.timer->cancel(ignored);
  }
  spool_work_.reset();  // the writes already asked for still run: they are promised durable
  // join() throws only for a thread that is not joinable, which this one always is.
  if (spool_thread_.joinable()) spool_thread_.join();
}

template <class Work, class Then>
void WebhookRelay::on_spool_thread(Work work, Then then) {
  asio::post(spool_io_, [this, alive = std::weak_ptr<bool>(alive_), work = std::move(work),
                         then = std::move(then)]() mutable {
    auto result = work(spool_);
    asio::post(io_, [alive, then = std::move(then), result = std::move(result)]() mutable {
      if (!alive.expired()) then(std::move(result));
    });
  });
}

void WebhookRelay::start() {
  on_spool_thread(
      [](webhooks::Spool& spool) { return spool.job_ids(); },
      [this](std::vector<std::string> ids) {
        spooled_.insert(ids.begin(), ids.end());
        if (!ids.empty()) {
          observability::log(LogLevel::kInfo, "webhook spool found", {{"records", ids.size()}});
        }
        report_spool_size();
        replay();
      });
}

void WebhookRelay::submit(const webhooks::WebhookJob& job, const std::string& traceparent,
                          Done done) {
  if (recent_.contains(job.job_id)) {
    done(Outcome::kDuplicate);
    return;
  }
  if (auto found = pending_.find(job.job_id); found != pending_.end()) {
    // The same delivery again while its first record is on its way: answered with it, or at
    // once from the spool when the first one's wait is over.
    auto& pending = found->second;
    if (pending.spooled) {
      done(Outcome::kSpooled);
      return;
    }
    pending.waiters.push_back(std::move(done));
    if (pending.past_deadline || stopping_) spool_and_answer(pending);
    return;
  }
  if (spooled_.contains(job.job_id)) {
    done(Outcome::kSpooled);
    return;
  }
  Pending pending;
  pending.waiters.push_back(std::move(done));
  pending.record = webhooks::SpooledRecord{job.job_id,
                                           job.repository_key,
                                           job.payload,
                                           {{"correlation-id", job.correlation_id},
                                            {"traceparent", traceparent},
                                            {"content-type", "application/json"},
                                            {"mgit-schema", "mgit.sync-job/v1"}}};
  auto& entry = pending_.emplace(job.job_id, std::move(pending)).first->second;
  if (stopping_) {
    // Draining: the broker is not waited for; the next start produces it.
    entry.producing = false;
    spool_and_answer(entry);
    return;
  }
  entry.timer = std::make_unique<asio::steady_timer>(io_, settings_.ack_timeout);
  entry.timer->async_wait([this, alive = std::weak_ptr<bool>(alive_),
                           job_id = job.job_id](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    const auto found = pending_.find(job_id);
    if (found == pending_.end()) return;
    found->second.past_deadline = true;
    if (!found->second.waiters.empty()) spool_and_answer(found->second);
  });
  produce(job.job_id);
}

void WebhookRelay::produce(const std::string& job_id) {
  const auto& record = pending_.at(job_id).record;
  transport::OutgoingRecord outgoing{settings_.jobs_topic, record.key, record.payload,
                                     record.headers};
  producer_.produce(
      std::move(outgoing),
      [this, alive = std::weak_ptr<bool>(alive_),
       job_id](tl::expected<transport::DeliveredRecord, transport::TransportError> result) {
        if (alive.expired()) return;
        if (!result) {
          observability::log(LogLevel::kWarn, "webhook job not delivered",
                             {{"job_id", job_id}, {"error", result.error().message}});
        }
        delivered(job_id, result.has_value());
      });
}

void WebhookRelay::delivered(const std::string& job_id, bool ok) {
  const auto found = pending_.find(job_id);
  if (found == pending_.end()) return;
  auto& pending = found->second;
  if (pending.timer) pending.timer->cancel();
  pending.producing = false;
  if (ok) {
    answer(pending, Outcome::kEnqueued);
    remember(job_id);
    // A write still in progress is removed when it completes (`written` finds no pending).
    if (pending.spooled) forget_spooled(job_id);
  } else if (!pending.waiters.empty()) {
    // librdkafka gave up before the deadline (the record is refused): the spool keeps it.
    spool_and_answer(pending);
    return;  // stays pending until the write completes
  }
  // A failed record stays in the spool (if it got there); the next replay produces it again.
  if (!pending.spooling) pending_.erase(found);
  check_idle();
}

void WebhookRelay::spool_and_answer(Pending& pending) {
  if (pending.spooled) {
    answer(pending, Outcome::kSpooled);
    return;
  }
  if (pending.spooling) return;  // answered when the write completes
  pending.spooling = true;
  ++writes_in_progress_;
  on_spool_thread(
      [record = pending.record](webhooks::Spool& spool) {
        auto result = spool.write(record);
        return result ? std::string() : result.error();
      },
      [this, job_id = pending.record.job_id](const std::string& error) {
        --writes_in_progress_;
        written(job_id, error.empty(), error);
      });
}

void WebhookRelay::written(const std::string& job_id, bool ok, const std::string& error) {
  if (!ok) {
    observability::log(LogLevel::kError, "webhook job could not be spooled",
                       {{"job_id", job_id}, {"error", error}});
  } else {
    spooled_.insert(job_id);
    report_spool_size();
  }
  const auto found = pending_.find(job_id);
  if (found == pending_.end() || recent_.contains(job_id)) {
    // Acknowledged while it was being written: the file is not needed.
    if (ok) forget_spooled(job_id);
    if (found != pending_.end()) {
      answer(found->second, Outcome::kEnqueued);
      pending_.erase(found);
    }
    check_idle();
    return;
  }
  auto& pending = found->second;
  pending.spooling = false;
  pending.spooled = ok;
  answer(pending, ok ? Outcome::kSpooled : Outcome::kUnavailable);
  // Its produce already failed: the replays take it from here.
  if (!pending.producing) pending_.erase(found);
  check_idle();
}

void WebhookRelay::answer(Pending& pending, Outcome outcome) {
  auto waiters = std::move(pending.waiters);
  pending.waiters.clear();
  for (auto& waiter : waiters) waiter(outcome);
}

void WebhookRelay::remember(const std::string& job_id) {
  if (!recent_.insert(job_id).second) return;
  recent_order_.push_back(job_id);
  while (recent_order_.size() > settings_.remembered_jobs) {
    recent_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
}

void WebhookRelay::forget_spooled(const std::string& job_id) {
  spooled_.erase(job_id);
  report_spool_size();
  on_spool_thread(
      [job_id](webhooks::Spool& spool) {
        spool.remove(job_id);
        return true;
      },
      [](bool) {});
}

void WebhookRelay::replay() {
  if (stopping_) return;
  std::size_t started = 0;
  std::vector<std::string> delivered_already;
  // Round robin from where the last replay stopped: records the broker keeps refusing (an
  // ACL, a size limit) cannot hold the batch and starve the others.
  std::vector<std::string> order(spooled_.upper_bound(replay_cursor_), spooled_.end());
  order.insert(order.end(), spooled_.begin(), spooled_.upper_bound(replay_cursor_));
  for (const auto& job_id : order) {
    if (started >= settings_.replay_batch) break;
    if (pending_.contains(job_id) || reading_.contains(job_id)) continue;
    replay_cursor_ = job_id;
    if (recent_.contains(job_id)) {
      delivered_already.push_back(job_id);  // acknowledged after it was spooled
      continue;
    }
    reading_.insert(job_id);
    ++started;
    on_spool_thread(
        [job_id](webhooks::Spool& spool) { return spool.read(job_id); },
        [this, job_id](tl::expected<webhooks::SpooledRecord, webhooks::SpoolReadError> record) {
          reading_.erase(job_id);
          if (record) {
            replayed(std::move(*record));
            return;
          }
          observability::log(LogLevel::kError, "webhook spool record unreadable",
                             {{"job_id", job_id}, {"error", record.error().message}});
          // A corrupt file was set aside; a failed read is tried again.
          if (record.error().corrupt) {
            spooled_.erase(job_id);
            report_spool_size();
          }
        });
  }
  for (const auto& job_id : delivered_already) forget_spooled(job_id);
  replay_timer_.expires_after(settings_.replay_interval);
  replay_timer_.async_wait(
      [this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
        if (!ec && !alive.expired()) replay();
      });
}

void WebhookRelay::replayed(webhooks::SpooledRecord record) {
  if (stopping_ || pending_.contains(record.job_id) || !spooled_.contains(record.job_id)) return;
  const auto job_id = record.job_id;
  Pending pending;
  pending.record = std::move(record);
  pending.spooled = true;
  pending.past_deadline = true;
  pending_.emplace(job_id, std::move(pending));
  produce(job_id);
}

void WebhookRelay::shut_down(std::function<void()> idle) {
  stopping_ = true;
  on_idle_ = std::move(idle);
  replay_timer_.cancel();
  for (auto& [job_id, pending] : pending_) {
    if (pending.timer) pending.timer->cancel();
    if (!pending.waiters.empty()) spool_and_answer(pending);
  }
  check_idle();
}

void WebhookRelay::check_idle() {
  if (!stopping_ || writes_in_progress_ > 0 || !on_idle_) return;
  auto idle = std::move(on_idle_);
  on_idle_ = nullptr;
  asio::post(io_, std::move(idle));
}

void WebhookRelay::report_spool_size() {
  if (settings_.on_spool_size) settings_.on_spool_size(spooled_.size());
}

}  // namespace mgit::daemon
