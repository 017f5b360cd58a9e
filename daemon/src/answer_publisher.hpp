#pragma once

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <functional>
#include <string>

#include "in_flight_job.hpp"
#include "job_results.hpp"
#include "job_telemetry.hpp"
#include "mgit/transport/kafka_producer.hpp"

namespace mgit::daemon {

struct AnswerSettings {
  std::string results_topic;
  std::string dlq_topic;
  std::size_t max_result_bytes = 0;  ///< what a full result may take on the wire
};

/// What becomes of a job's answer; both run on the io_context thread.
struct AnswerHooks {
  /// The broker acknowledged the job's answer (result or DLQ copy).
  std::function<void(const InFlightJob&)> answered;
  /// No answer can be published (fatal producer error, or even the DLQ refused it):
  /// committing past the job would lose it.
  std::function<void(const InFlightJob&)> unanswerable;
};

/// Publishes every job's one answer and owns the fallback ladder: the result; if the broker
/// refuses it for good, a minimal `failed`/`internal` result; then the untouched record to
/// the DLQ; if that is refused for its size, a reduced DLQ record describing it; then
/// `unanswerable`. Transient failures retry the same record with backoff for as
/// long as it takes. Runs on the io_context thread (delivery reports arrive there).
class AnswerPublisher {
 public:
  AnswerPublisher(boost::asio::io_context& io, transport::RecordProducer& producer,
                  AnswerSettings settings, const ResultBuilder& results, JobTelemetry& telemetry,
                  AnswerHooks hooks)
      : io_(io),
        producer_(producer),
        settings_(std::move(settings)),
        results_(results),
        telemetry_(telemetry),
        hooks_(std::move(hooks)) {}

  void publish_result(const InFlightJobPtr& job, const jobs::JobResult& result);
  /// `last_resort`: the job's results were refused before (only logged).
  void publish_dead_letter(const InFlightJobPtr& job, std::string code, std::string message,
                           bool last_resort);

 private:
  /// Builds the record to produce; called again for each retry.
  using RecordFactory = std::function<transport::OutgoingRecord()>;
  using PermanentFailure = std::function<void(const transport::TransportError&)>;

  /// Produces a record; on acknowledgement the job is answered. Transient failures retry
  /// with backoff, fatal ones make the job unanswerable, permanent ones go to
  /// `on_permanent_failure`.
  void publish(const InFlightJobPtr& job, RecordFactory make_record,
               PermanentFailure on_permanent_failure, int attempt = 0);
  void publish_minimal_failure(const InFlightJobPtr& job, const jobs::JobResult& original,
                               const std::string& why);
  void publish_reduced_dead_letter(const InFlightJobPtr& job, std::string code, std::string message,
                                   const transport::TransportError& refusal, bool last_resort);
  /// Not even the DLQ takes the record: the job is unanswerable.
  void dead_letter_refused(const InFlightJob& job, const transport::TransportError& error,
                           bool last_resort);
  [[nodiscard]] RecordFactory result_factory(const InFlightJobPtr& job, jobs::JobResult result,
                                             std::size_t max_bytes) const;

  boost::asio::io_context& io_;
  transport::RecordProducer& producer_;
  AnswerSettings settings_;
  const ResultBuilder& results_;
  JobTelemetry& telemetry_;
  AnswerHooks hooks_;
};

}  // namespace mgit::daemon
