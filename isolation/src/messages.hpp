#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/execution/executor.hpp"
#include "mgit/isolation/worker.hpp"
#include "mgit/jobs/error.hpp"
#include "mgit/jobs/job.hpp"
#include "mgit/jobs/result.hpp"
#include "mgit/observability/job_context.hpp"
#include "mgit/security/credentials.hpp"

namespace mgit::isolation {

/// One job for a worker: the job, its log context, its deadline and the one credential it
/// names (or why that credential cannot be had), so the worker never reads the store.
struct RunRequest {
  jobs::Job job;
  observability::JobContext ctx;
  /// steady_clock is CLOCK_MONOTONIC, shared by every process on the machine.
  std::chrono::steady_clock::time_point deadline;
  std::optional<security::Credential> credential;
  std::optional<security::CredentialError> credential_error;
};

using Outcome = tl::expected<jobs::ExecutionReport, jobs::JobError>;

std::string encode_setup(const WorkerSetup& setup);
std::optional<WorkerSetup> decode_setup(std::string_view payload);

std::string encode_ready(std::string_view sandbox);
std::optional<std::string> decode_ready(std::string_view payload);

std::string encode_run(const RunRequest& request);
std::optional<RunRequest> decode_run(std::string_view payload);

std::string encode_progress(const execution::Progress& progress);
std::optional<execution::Progress> decode_progress(std::string_view payload);

std::string encode_done(const Outcome& outcome);
/// Error codes outside the known range make the payload invalid (nothing returned).
std::optional<Outcome> decode_done(std::string_view payload);

}  // namespace mgit::isolation
