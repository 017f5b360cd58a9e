#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mgit::observability {

/// W3C Trace Context ids as lower-case hex (32 and 16 characters).
struct TraceParent {
  std::string trace_id;
  std::string span_id;
  bool sampled = true;
};

/// Parses a `traceparent` header (version 00 and future versions per the W3C rules).
/// Returns nothing for malformed or all-zero ids, so the caller starts a new trace.
std::optional<TraceParent> parse_traceparent(std::string_view header);

std::string new_trace_id();
std::string new_span_id();

/// Everything that identifies one delivery of a job; created at intake and copied
/// through scheduling, execution and publishing so every log line and event carries it.
struct JobContext {
  std::string job_id;
  std::string correlation_id;
  std::string trace_id;
  std::string span_id;         ///< this job's `mgitd.job` span
  std::string parent_span_id;  ///< the intake traceparent's span, empty for a new root
  std::string tracestate;
  bool sampled = true;

  /// Starts a job span as a child of `incoming` (or a new root when absent).
  static JobContext start(std::string job_id, std::string correlation_id,
                          const std::optional<TraceParent>& incoming, std::string tracestate);

  /// `traceparent` header value naming this job's span.
  [[nodiscard]] std::string traceparent() const;
};

}  // namespace mgit::observability
