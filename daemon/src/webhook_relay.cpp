#include "webhook_relay.hpp"

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
      replay_timer_(io) {}

WebhookRelay::~WebhookRelay() {
  *alive_ = false;
  for (auto& [job_id, pending] : pending_) {
    if (pending.timer) pending.timer->cancel();
  }
}

void WebhookRelay::start() { replay(); }

void WebhookRelay::submit(const webhooks::WebhookJob& job, const std::string& traceparent,
                          Done done) {
  if (recent_.contains(job.job_id)) {
    done(Outcome::kDuplicate);
    return;
  }
  if (auto found = pending_.find(job.job_id); found != pending_.end()) {
    // The same delivery again while its first record is on its way: answered with it.
    if (found->second.spooled) {
      done(Outcome::kSpooled);
    } else {
      found->second.waiters.push_back(std::move(done));
    }
    return;
  }
  if (spool_.contains(job.job_id)) {
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
  pending.timer = std::make_unique<asio::steady_timer>(io_, settings_.ack_timeout);
  pending.timer->async_wait([this, alive = std::weak_ptr<bool>(alive_),
                             job_id = job.job_id](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    const auto found = pending_.find(job_id);
    if (found == pending_.end() || found->second.waiters.empty()) return;
    spool_and_answer(found->second);
  });
  pending_.emplace(job.job_id, std::move(pending));
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
  const bool was_spooled = pending.spooled;
  if (ok) {
    answer(pending, Outcome::kEnqueued);
    if (pending.spooled) spool_.remove(job_id);
    remember(job_id);
  } else if (!pending.waiters.empty()) {
    // librdkafka gave up before the deadline (the record is refused): the spool keeps it.
    spool_and_answer(pending);
  }
  // A failed record stays in the spool (if it got there); the next replay produces it again.
  const bool spooled_now = pending.spooled;
  pending_.erase(found);
  if (was_spooled || spooled_now) report_spool_size();
}

void WebhookRelay::spool_and_answer(Pending& pending) {
  if (!pending.spooled) {
    if (auto written = spool_.write(pending.record); written) {
      pending.spooled = true;
    } else {
      observability::log(LogLevel::kError, "webhook job could not be spooled",
                         {{"job_id", pending.record.job_id}, {"error", written.error()}});
    }
    report_spool_size();
  }
  answer(pending, pending.spooled ? Outcome::kSpooled : Outcome::kUnavailable);
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

void WebhookRelay::replay() {
  std::size_t started = 0;
  for (const auto& job_id : spool_.job_ids()) {
    if (started >= settings_.replay_batch) break;
    if (pending_.contains(job_id)) continue;
    if (recent_.contains(job_id)) {
      spool_.remove(job_id);  // acknowledged after it was spooled
      continue;
    }
    auto record = spool_.read(job_id);
    if (!record) {
      observability::log(LogLevel::kError, "webhook spool record unreadable",
                         {{"job_id", job_id}, {"error", record.error()}});
      continue;
    }
    Pending pending;
    pending.record = std::move(*record);
    pending.spooled = true;
    pending_.emplace(job_id, std::move(pending));
    produce(job_id);
    ++started;
  }
  report_spool_size();
  replay_timer_.expires_after(settings_.replay_interval);
  replay_timer_.async_wait(
      [this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
        if (!ec && !alive.expired()) replay();
      });
}

void WebhookRelay::report_spool_size() {
  if (settings_.on_spool_size) settings_.on_spool_size(spool_.job_ids().size());
}

}  // namespace mgit::daemon
