#pragma once

#include <cstddef>
#include <string>

#include "in_flight_job.hpp"
#include "mgit/execution/scheduler.hpp"
#include "mgit/jobs/parse.hpp"
#include "mgit/jobs/result.hpp"
#include "mgit/transport/types.hpp"

namespace mgit::daemon {

/// Builds the result of a job from what intake and the scheduler know: every result carries
/// the job's ids, this worker's name, the Kafka source and the time it was built. Pure; any
/// thread (the pipeline calls it on the io_context thread).
class ResultBuilder {
 public:
  explicit ResultBuilder(std::string worker) : worker_(std::move(worker)) {}

  /// `rejected` for a job that failed validation; it never ran.
  [[nodiscard]] jobs::JobResult rejected(const InFlightJob& job,
                                         const jobs::Rejected& rejected) const;
  /// What a scheduled job's run ended with. Moves the execution report out of `run`.
  [[nodiscard]] jobs::JobResult finished(const InFlightJob& job, const jobs::Job& parsed,
                                         execution::JobRun& run) const;
  /// The small `failed`/`internal` stand-in for a result the broker refused for good.
  [[nodiscard]] jobs::JobResult minimal_failure(const InFlightJob& job,
                                                const jobs::JobResult& original,
                                                const std::string& why) const;

 private:
  [[nodiscard]] jobs::JobResult base(const InFlightJob& job) const;

  std::string worker_;
};

/// The summary of a result that the metrics and the job span report once it is acknowledged.
[[nodiscard]] AnswerSummary summarize(const jobs::JobResult& result);

/// A result event keyed by the repository (or the job id when there is no key), with the
/// job's correlation and trace headers; `refs_updated` is truncated to fit `max_bytes`.
transport::OutgoingRecord result_record(const std::string& topic, const InFlightJob& job,
                                        const jobs::JobResult& result, std::size_t max_bytes);

}  // namespace mgit::daemon
