#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "mgit/execution/scheduler.hpp"

namespace mgit::daemon {

struct Config;

/// What the pipeline needs to know, and nothing else of the daemon's configuration.
struct PipelineSettings {
  execution::SchedulerSettings scheduler;  ///< workers, tries, default job deadline
  std::size_t max_message_bytes = 65536;   ///< larger intake records go to the DLQ unparsed
  std::string results_topic = "mgit.sync.results";
  std::string dlq_topic = "mgit.sync.dlq";
  std::string group_id = "mgitd";  ///< named in the job span
  std::size_t max_buffered_per_partition = 64;
  std::size_t max_in_flight = 256;
  std::chrono::seconds revoke_grace{20};
  /// At max_in_flight intake stops taking records; after this long it pauses every partition.
  std::chrono::milliseconds hold_before_pause{1000};
  std::chrono::seconds shutdown_grace{30};
  /// The largest result event: what the brokers accept, less room for headers and overhead.
  std::size_t max_result_bytes = 1000000 - 16 * 1024;
  std::string worker = "mgitd";  ///< the results' `worker`
  /// This replica's record of what it is running, for poison detection; empty: off.
  std::string in_flight_file;
};

/// The pipeline's part of `config`; `worker` is the host name; `in_flight_file` is
/// `<workspace>/.mgitd/in-flight/<group_id>-<group_instance_id or host name>.json`. Throws
/// std::invalid_argument or std::out_of_range when a `message.max.bytes` kafka property is not a
/// number (startup).
PipelineSettings pipeline_settings(const Config& config);

}  // namespace mgit::daemon
