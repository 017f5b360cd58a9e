#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mgit/jobs/error.hpp"
#include "mgit/jobs/job.hpp"
#include "mgit/jobs/result.hpp"
#include "mgit/observability/job_context.hpp"
#include "mgit/transport/types.hpp"

namespace mgit::daemon {

/// What the answer being published says, kept typed until the broker acknowledges it; the
/// metrics and the job span turn it into labels (`unknown`, `none`, `dead_letter`).
struct AnswerSummary {
  std::optional<jobs::Operation> operation;  ///< unset when the job never named a valid one
  jobs::Status status = jobs::Status::kFailed;
  std::optional<jobs::ErrorCode> error_code;  ///< unset for a success
  std::string error_message;
  /// Set when the answer is the record's DLQ copy (then `status` and `error_code` do not
  /// apply); the operation stays what the last result said.
  std::optional<std::string> dead_letter_reason;
};

/// One consumed intake record from `Pipeline::on_record` until its answer (result or DLQ
/// copy) is acknowledged or it is withdrawn. Shared by the scheduler's completion and the
/// publish callbacks, all on the io_context thread.
struct InFlightJob {
  transport::ConsumedRecord record;  ///< kept whole for the DLQ fallback
  observability::JobContext ctx;
  std::string key;               ///< repository key of the answer (intake key when unknown)
  std::uint64_t generation = 0;  ///< of the partition's assignment it was consumed under
  std::chrono::system_clock::time_point consumed_at;
  std::string target;
  AnswerSummary answer;
};

using InFlightJobPtr = std::shared_ptr<InFlightJob>;

}  // namespace mgit::daemon
