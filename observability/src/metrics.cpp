#include "mgit/observability/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <mutex>
#include <sstream>

namespace mgit::observability {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Git work spans four orders of magnitude: a no-op fetch takes milliseconds, a large
// initial mirror half an hour.
const prometheus::Histogram::BucketBoundaries& git_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800};
  return buckets;
}

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  prometheus::Family<prometheus::Counter>& received =
      BuildCounter()
          .Name("mgitd_jobs_received_total")
          .Help("Jobs consumed from the intake topic.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& completed =
      BuildCounter()
          .Name("mgitd_jobs_completed_total")
          .Help("Result events published, by operation, status and error code.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& duration =
      BuildHistogram()
          .Name("mgitd_job_duration_seconds")
          .Help("Time from a job's first attempt to its outcome, retries included.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& queue =
      BuildHistogram()
          .Name("mgitd_job_queue_seconds")
          .Help("Time from consuming a job to its first attempt.")
          .Register(*registry);
  prometheus::Histogram& queue_histogram = queue.Add({}, git_buckets());
  prometheus::Family<prometheus::Gauge>& in_flight =
      BuildGauge()
          .Name("mgitd_jobs_in_flight")
          .Help("Jobs consumed and not yet answered (buffered and running).")
          .Register(*registry);
  prometheus::Gauge& in_flight_gauge = in_flight.Add({});
  prometheus::Gauge& credentials_without_hosts_gauge =
      BuildGauge()
          .Name("mgitd_credentials_without_hosts")
          .Help("Credential files without a hosts= line; such a credential is never used.")
          .Register(*registry)
          .Add({});
  prometheus::Family<prometheus::Gauge>& oldest =
      BuildGauge()
          .Name("mgitd_oldest_job_age_seconds")
          .Help("Age of the oldest running job (0 when none runs).")
          .Register(*registry);
  prometheus::Gauge& oldest_gauge = oldest.Add({});
  prometheus::Family<prometheus::Counter>& git_bytes =
      BuildCounter()
          .Name("mgitd_git_received_bytes_total")
          .Help("Pack bytes received from git remotes.")
          .Register(*registry);
  prometheus::Counter& git_bytes_counter = git_bytes.Add({});
  prometheus::Family<prometheus::Counter>& git_objects =
      BuildCounter()
          .Name("mgitd_git_received_objects_total")
          .Help("Objects received from git remotes.")
          .Register(*registry);
  prometheus::Counter& git_objects_counter = git_objects.Add({});
  prometheus::Family<prometheus::Gauge>& lag =
      BuildGauge()
          .Name("mgitd_consumer_lag")
          .Help("Records behind the partition end, per assigned intake partition.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& assigned =
      BuildGauge()
          .Name("mgitd_partitions_assigned")
          .Help("Intake partitions assigned to this replica.")
          .Register(*registry);
  prometheus::Gauge& assigned_gauge = assigned.Add({});
  prometheus::Family<prometheus::Gauge>& paused =
      BuildGauge()
          .Name("mgitd_partitions_paused")
          .Help("Assigned intake partitions paused by backpressure, shutdown or a stop.")
          .Register(*registry);
  prometheus::Gauge& paused_gauge = paused.Add({});
  prometheus::Family<prometheus::Counter>& resets =
      BuildCounter()
          .Name("mgitd_offset_resets_total")
          .Help("Fetch positions reset because a committed offset was out of range.")
          .Register(*registry);
  prometheus::Counter& resets_counter = resets.Add({});
  prometheus::Family<prometheus::Counter>& coalesced =
      BuildCounter()
          .Name("mgitd_jobs_coalesced_total")
          .Help("Jobs answered by another job's execution (burst coalescing).")
          .Register(*registry);
  prometheus::Counter& coalesced_counter = coalesced.Add({});
  prometheus::Family<prometheus::Counter>& dlq =
      BuildCounter()
          .Name("mgitd_dlq_records_total")
          .Help("Records published to the dead-letter topic, by reason.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& worker_restarts =
      BuildCounter()
          .Name("mgitd_worker_restarts_total")
          .Help("Git worker processes replaced, by reason (deadline, stall, crash, ...).")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& retries =
      BuildCounter()
          .Name("mgitd_retries_total")
          .Help("Job attempts retried after a retryable failure, by error code.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& build_info =
      BuildGauge()
          .Name("mgitd_build_info")
          .Help("Always 1; labels name the running build.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& ready =
      BuildGauge().Name("mgitd_ready").Help("1 when /health/ready passes.").Register(*registry);
  prometheus::Gauge& ready_gauge = ready.Add({});
  prometheus::Family<prometheus::Gauge>& live =
      BuildGauge().Name("mgitd_live").Help("1 when /health/live passes.").Register(*registry);
  prometheus::Gauge& live_gauge = live.Add({});
  prometheus::Family<prometheus::Counter>& spans_exported =
      BuildCounter()
          .Name("mgitd_spans_exported_total")
          .Help("Trace spans accepted by the OTLP collector.")
          .Register(*registry);
  prometheus::Counter& spans_exported_counter = spans_exported.Add({});
  prometheus::Family<prometheus::Counter>& spans_dropped =
      BuildCounter()
          .Name("mgitd_spans_dropped_total")
          .Help("Trace spans dropped (queue full, collector slow or down).")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& audit_events =
      BuildCounter()
          .Name("mgitd_audit_events_total")
          .Help("Security events recorded on the audit trail, by event type.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& audit_dropped =
      BuildCounter()
          .Name("mgitd_audit_dropped_total")
          .Help(
              "Audit events dropped because the audit buffer was full (stays 0: intake "
              "stops first).")
          .Register(*registry);
  prometheus::Counter& audit_dropped_counter = audit_dropped.Add({});
  prometheus::Family<prometheus::Gauge>& audit_buffered =
      BuildGauge()
          .Name("mgitd_audit_buffered_events")
          .Help("Audit events waiting for their sink's acknowledgement.")
          .Register(*registry);
  prometheus::Gauge& audit_buffered_gauge = audit_buffered.Add({});

  prometheus::Family<prometheus::Counter>& webhooks_received =
      BuildCounter()
          .Name("mgitd_webhooks_received_total")
          .Help("Webhook requests answered, by provider and outcome.")
          .Register(*registry);
  // A broker ack takes milliseconds; the spool is used after webhook_ack_timeout_ms.
  prometheus::Histogram& webhook_durable_histogram =
      BuildHistogram()
          .Name("mgitd_webhook_durable_seconds")
          .Help("From a webhook's arrival to its job acknowledged by the broker or spooled.")
          .Register(*registry)
          .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                           1, 2.5, 5, 10});
  prometheus::Gauge& webhook_spooled_gauge =
      BuildGauge()
          .Name("mgitd_webhook_spooled_records")
          .Help("Webhook jobs in the local spool, waiting for the broker.")
          .Register(*registry)
          .Add({});

  // Per git host rate limits (docs/rate-limits.md): no host label, hosts come from jobs.
  prometheus::Gauge& throttled_hosts =
      BuildGauge()
          .Name("mgitd_rate_limit_throttled_hosts")
          .Help("Git hosts in a cool-down after answering 429/503 or refusing ssh.")
          .Register(*registry)
          .Add({});
  prometheus::Gauge& waiting_jobs =
      BuildGauge()
          .Name("mgitd_rate_limit_waiting_jobs")
          .Help("Jobs waiting for their git host (cap, tokens, cool-down), holding no worker.")
          .Register(*registry)
          .Add({});
  prometheus::Counter& cool_downs = BuildCounter()
                                        .Name("mgitd_rate_limit_cooldowns_total")
                                        .Help("Cool-downs git hosts entered.")
                                        .Register(*registry)
                                        .Add({});
  prometheus::Family<prometheus::Counter>& rate_limited =
      BuildCounter()
          .Name("mgitd_rate_limited_answers_total")
          .Help("Jobs answered rate_limited, by reason (deadline, share, attempts).")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& forced_updates =
      BuildCounter()
          .Name("mgitd_forced_updates_total")
          .Help(
              "Refs a fetch moved non-fast-forward (forced) or deleted (deleted), and of "
              "those how many were backed up under refs/mgitd/backup/ (backed_up=true|false).")
          .Register(*registry);

  std::mutex lag_mutex;
  std::map<std::int32_t, prometheus::Gauge*> lag_by_partition;
};

Metrics::Metrics(const BuildInfo& build) : impl_(std::make_unique<Impl>()) {
  impl_->build_info.Add({{"version", build.version}, {"revision", build.revision}}).Set(1);
  // Every bounded series exists from the start, so rate() and alerts see a 0 before the
  // first event rather than no series at all.
  for (const auto* reason :
       {"oversize", "not_json", "not_object", "no_job_id", "result_unpublishable", "poison"}) {
    impl_->dlq.Add({{"reason", reason}});
  }
  for (const auto* reason : {"queue_full", "export_failed"}) {
    impl_->spans_dropped.Add({{"reason", reason}});
  }
  for (const auto* reason : {"deadline", "share", "attempts"}) {
    impl_->rate_limited.Add({{"reason", reason}});
  }
  for (const auto* kind : {"forced", "deleted"}) {
    for (const auto* backed_up : {"true", "false"}) {
      impl_->forced_updates.Add({{"kind", kind}, {"backed_up", backed_up}});
    }
  }
}

Metrics::~Metrics() = default;

void Metrics::job_received(const std::string& topic) {
  impl_->received.Add({{"topic", topic}}).Increment();
}

void Metrics::job_completed(std::string_view operation, std::string_view status,
                            std::string_view error_code) {
  impl_->completed
      .Add({{"operation", std::string(operation)},
            {"status", std::string(status)},
            {"error_code", std::string(error_code)}})
      .Increment();
}

void Metrics::job_duration(std::string_view operation, std::string_view status, double seconds) {
  impl_->duration
      .Add({{"operation", std::string(operation)}, {"status", std::string(status)}}, git_buckets())
      .Observe(seconds);
}

void Metrics::job_queued(double seconds) { impl_->queue_histogram.Observe(seconds); }

void Metrics::git_received(std::uint64_t bytes, std::uint64_t objects) {
  impl_->git_bytes_counter.Increment(static_cast<double>(bytes));
  impl_->git_objects_counter.Increment(static_cast<double>(objects));
}

void Metrics::retry(std::string_view error_code) {
  impl_->retries.Add({{"error_code", std::string(error_code)}}).Increment();
}

void Metrics::worker_restart(std::string_view reason) {
  impl_->worker_restarts.Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::dlq_record(std::string_view reason) {
  impl_->dlq.Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::host_cool_down() { impl_->cool_downs.Increment(); }

void Metrics::rate_limited_answer(std::string_view reason) {
  impl_->rate_limited.Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::set_rate_limits(std::size_t throttled_hosts, std::size_t waiting_jobs) {
  impl_->throttled_hosts.Set(static_cast<double>(throttled_hosts));
  impl_->waiting_jobs.Set(static_cast<double>(waiting_jobs));
}

void Metrics::job_coalesced() { impl_->coalesced_counter.Increment(); }

void Metrics::forced_update(bool deleted, bool backed_up) {
  impl_->forced_updates
      .Add({{"kind", deleted ? "deleted" : "forced"}, {"backed_up", backed_up ? "true" : "false"}})
      .Increment();
}

void Metrics::offset_resets(std::uint64_t count) {
  impl_->resets_counter.Increment(static_cast<double>(count));
}

void Metrics::set_jobs_in_flight(std::size_t count) {
  impl_->in_flight_gauge.Set(static_cast<double>(count));
}

void Metrics::set_credentials_without_hosts(std::size_t count) {
  impl_->credentials_without_hosts_gauge.Set(static_cast<double>(count));
}

void Metrics::set_oldest_job_age(double seconds) { impl_->oldest_gauge.Set(seconds); }

void Metrics::set_consumer_lag(std::int32_t partition, std::int64_t lag) {
  const std::lock_guard lock(impl_->lag_mutex);
  auto& gauge = impl_->lag_by_partition[partition];
  if (gauge == nullptr) gauge = &impl_->lag.Add({{"partition", std::to_string(partition)}});
  gauge->Set(static_cast<double>(lag));
}

void Metrics::clear_consumer_lag(std::int32_t partition) {
  const std::lock_guard lock(impl_->lag_mutex);
  const auto found = impl_->lag_by_partition.find(partition);
  if (found == impl_->lag_by_partition.end()) return;
  impl_->lag.Remove(found->second);
  impl_->lag_by_partition.erase(found);
}

void Metrics::set_partitions(std::size_t assigned, std::size_t paused) {
  impl_->assigned_gauge.Set(static_cast<double>(assigned));
  impl_->paused_gauge.Set(static_cast<double>(paused));
}

void Metrics::set_health(bool ready, bool live) {
  impl_->ready_gauge.Set(ready ? 1 : 0);
  impl_->live_gauge.Set(live ? 1 : 0);
}

void Metrics::spans_exported(std::size_t count) {
  impl_->spans_exported_counter.Increment(static_cast<double>(count));
}

void Metrics::spans_dropped(std::string_view reason, std::size_t count) {
  impl_->spans_dropped.Add({{"reason", std::string(reason)}}).Increment(static_cast<double>(count));
}

void Metrics::audit_event(std::string_view event) {
  impl_->audit_events.Add({{"event", std::string(event)}}).Increment();
}

void Metrics::audit_dropped() { impl_->audit_dropped_counter.Increment(); }

void Metrics::set_audit_buffered(std::size_t count) {
  impl_->audit_buffered_gauge.Set(static_cast<double>(count));
}

std::string Metrics::serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, impl_->registry->Collect());
  return out.str();
}

void Metrics::webhook_received(std::string_view provider, std::string_view outcome) {
  impl_->webhooks_received
      .Add({{"provider", std::string(provider)}, {"outcome", std::string(outcome)}})
      .Increment();
}

void Metrics::prepare_webhook_series(const std::vector<std::string_view>& providers,
                                     const std::vector<std::string_view>& outcomes) {
  for (const auto provider : providers) {
    for (const auto outcome : outcomes) {
      impl_->webhooks_received.Add(
          {{"provider", std::string(provider)}, {"outcome", std::string(outcome)}});
    }
  }
}

void Metrics::webhook_durable(double seconds) { impl_->webhook_durable_histogram.Observe(seconds); }

void Metrics::set_webhook_spooled(std::size_t count) {
  impl_->webhook_spooled_gauge.Set(static_cast<double>(count));
}

}  // namespace mgit::observability
