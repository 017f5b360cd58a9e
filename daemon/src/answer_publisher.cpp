#include "answer_publisher.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <utility>

#include "dead_letter.hpp"
#include "mgit/observability/log.hpp"

namespace mgit::daemon {

namespace asio = boost::asio;
using observability::LogLevel;

namespace {

// The fallback result must stay tiny so it fits where the full one did not.
constexpr std::size_t kMinimalResultBytes = std::size_t{16} * 1024;

}  // namespace

void AnswerPublisher::publish(const InFlightJobPtr& job, RecordFactory make_record,
                              PermanentFailure on_permanent_failure, int attempt) {
  // The record is built again for a retry rather than copied for every publish: retries
  // are rare, results and DLQ copies can be close to a megabyte.
  auto record = make_record();
  auto topic = record.topic;
  const auto produce_started = std::chrono::system_clock::now();
  producer_.produce(
      std::move(record),
      [this, job, make_record = std::move(make_record), topic = std::move(topic),
       on_permanent_failure = std::move(on_permanent_failure), attempt, produce_started](
          tl::expected<transport::DeliveredRecord, transport::TransportError> delivered) mutable {
        if (delivered || delivered.error().kind != transport::TransportErrorKind::kTransient) {
          // Transient failures are retried and traced once they end.
          telemetry_.published(*job, topic, produce_started, delivered);
        }
        if (delivered) {
          hooks_.answered(*job);
          return;
        }
        const auto& error = delivered.error();
        switch (error.kind) {
          case transport::TransportErrorKind::kTransient: {
            // The broker is away or slow: the same record is tried again, for as long as it
            // takes. The offset stays uncommitted meanwhile, so nothing is lost.
            const auto delay =
                std::chrono::milliseconds(std::min(30000, 500 << std::min(attempt, 6)));
            if (attempt == 0) {
              observability::log(LogLevel::kWarn, job->ctx, "publish failed, retrying",
                                 {{"topic", topic}, {"error", error.message}});
            }
            auto timer = std::make_shared<asio::steady_timer>(io_, delay);
            timer->async_wait([this, timer, job, make_record = std::move(make_record),
                               on_permanent_failure = std::move(on_permanent_failure),
                               attempt](const boost::system::error_code& ec) mutable {
              if (ec) return;
              publish(job, std::move(make_record), std::move(on_permanent_failure), attempt + 1);
            });
            return;
          }
          case transport::TransportErrorKind::kPermanent:
            on_permanent_failure(error);
            return;
          case transport::TransportErrorKind::kFatal:
            observability::log(LogLevel::kError, job->ctx, "producer failed fatally",
                               {{"error", error.message}});
            hooks_.unanswerable(*job);
            return;
        }
      });
}

AnswerPublisher::RecordFactory AnswerPublisher::result_factory(const InFlightJobPtr& job,
                                                               jobs::JobResult result,
                                                               std::size_t max_bytes) const {
  return [topic = settings_.results_topic, job, result = std::move(result), max_bytes] {
    return result_record(topic, *job, result, max_bytes);
  };
}

void AnswerPublisher::publish_result(const InFlightJobPtr& job, const jobs::JobResult& result) {
  job->answer = summarize(result);
  publish(job, result_factory(job, result, settings_.max_result_bytes),
          [this, job, result](const transport::TransportError& error) {
            observability::log(LogLevel::kError, job->ctx, "result could not be published",
                               {{"error", error.message}, {"code", error.code}});
            publish_minimal_failure(job, result, error.message);
          });
}

void AnswerPublisher::publish_minimal_failure(const InFlightJobPtr& job,
                                              const jobs::JobResult& original,
                                              const std::string& why) {
  auto minimal = results_.minimal_failure(*job, original, why);
  job->answer = summarize(minimal);
  publish(job, result_factory(job, std::move(minimal), kMinimalResultBytes),
          [this, job](const transport::TransportError& error) {
            publish_dead_letter(job, "result_unpublishable", error.message, true);
          });
}

void AnswerPublisher::publish_dead_letter(const InFlightJobPtr& job, std::string code,
                                          std::string message, bool last_resort) {
  job->answer.dead_letter_reason = code;
  job->answer.error_message = message;
  auto make_record = [topic = settings_.dlq_topic, job, code, message] {
    return dead_letter_record(topic, job->record, code, message);
  };
  publish(job, std::move(make_record),
          [this, job, last_resort, code = std::move(code),
           message = std::move(message)](const transport::TransportError& error) mutable {
            if (error.record_too_large) {
              publish_reduced_dead_letter(job, std::move(code), std::move(message), error,
                                          last_resort);
              return;
            }
            dead_letter_refused(*job, error, last_resort);
          });
}

void AnswerPublisher::publish_reduced_dead_letter(const InFlightJobPtr& job, std::string code,
                                                  std::string message,
                                                  const transport::TransportError& refusal,
                                                  bool last_resort) {
  // A record the broker delivered to us can be too large to copy: the DLQ topic may allow
  // less than the jobs topic, and the copy adds headers. Describing it instead keeps one
  // oversized record from stopping intake.
  observability::log(LogLevel::kWarn, job->ctx, "DLQ copy too large; publishing a reduced record",
                     {{"error", refusal.message},
                      {"value_bytes", job->record.payload.size()},
                      {"partition", job->record.source.partition},
                      {"offset", job->record.offset}});
  auto make_record = [topic = settings_.dlq_topic, job, code = std::move(code),
                      message = std::move(message)] {
    return reduced_dead_letter_record(topic, job->record, code, message);
  };
  publish(job, std::move(make_record),
          [this, job, last_resort](const transport::TransportError& error) {
            dead_letter_refused(*job, error, last_resort);
          });
}

void AnswerPublisher::dead_letter_refused(const InFlightJob& job,
                                          const transport::TransportError& error,
                                          bool last_resort) {
  observability::log(LogLevel::kError, "DLQ record could not be published",
                     {{"error", error.message},
                      {"last_resort", last_resort},
                      {"partition", job.record.source.partition},
                      {"offset", job.record.offset}});
  hooks_.unanswerable(job);
}

}  // namespace mgit::daemon
