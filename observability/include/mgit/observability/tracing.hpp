#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tl/expected.hpp>
#include <utility>
#include <variant>
#include <vector>

#include "mgit/observability/http_client.hpp"
#include "mgit/observability/metrics.hpp"

namespace mgit::observability {

/// OTLP's SpanKind numbers.
enum class SpanKind { kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5 };
/// OTLP's StatusCode numbers.
enum class SpanStatus { kUnset = 0, kOk = 1, kError = 2 };

using AttributeValue = std::variant<std::string, std::int64_t, double, bool>;

/// A finished span, ids as lower-case hex (32 / 16 characters; parent empty for a root).
struct Span {
  std::string trace_id;
  std::string span_id;
  std::string parent_span_id;
  std::string trace_state;
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  std::chrono::system_clock::time_point start;
  std::chrono::system_clock::time_point end;
  std::vector<std::pair<std::string, AttributeValue>> attributes;
  SpanStatus status = SpanStatus::kUnset;
  std::string status_message;
};

/// Identifies the process in every export (OTLP resource attributes).
struct TraceResource {
  std::string service_name = "mgitd";
  std::string service_version;
  std::string instance_id;  ///< host name (the pod name on Kubernetes)
};

/// Encodes spans as an OTLP/HTTP JSON ExportTraceServiceRequest: ids in hex, 64-bit
/// integers as strings, enums as numbers (the OTLP JSON mapping, not generic proto JSON).
std::string encode_otlp_json(const std::vector<Span>& spans, const TraceResource& resource);

/// Where finished spans go. `submit` never blocks on I/O: a job is never slowed by tracing.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  /// Thread-safe.
  virtual void submit(Span span) = 0;
};

/// Tracing off: spans are discarded.
class NullSpanSink final : public SpanSink {
 public:
  void submit(Span /*span*/) override {}
};

struct OtlpExporterSettings {
  std::string endpoint;  ///< http://host:port/path ("/v1/traces" when no path is given)
  std::size_t max_queue = 4096;
  std::size_t max_batch = 512;
  std::chrono::milliseconds flush_interval{1000};
  std::chrono::milliseconds request_timeout{5000};
};

/// Batches spans on its own thread and POSTs them to an OTLP/HTTP collector. The queue is
/// bounded: when the collector is slow or down, spans are dropped and counted
/// (`mgitd_spans_dropped_total`), never waited for.
class OtlpHttpExporter final : public SpanSink {
 public:
  static tl::expected<std::unique_ptr<OtlpHttpExporter>, std::string> create(
      OtlpExporterSettings settings, TraceResource resource, Metrics* metrics);
  /// Stops the thread after the batch in flight and one last batch of what is queued (each
  /// bounded by the request timeout once the collector's address is known).
  ~OtlpHttpExporter() override;

  void submit(Span span) override;

  struct Endpoint {
    std::string host;
    std::string port;
    std::string target;
  };
  /// Parses `http://host[:port][/path]`; https is not supported (use a local collector).
  static tl::expected<Endpoint, std::string> parse_endpoint(const std::string& url);

 private:
  OtlpHttpExporter(OtlpExporterSettings settings, TraceResource resource, Metrics* metrics,
                   Endpoint endpoint);
  void run();
  /// Returns an error description, or empty on a 2xx answer.
  std::string post(const std::string& body);

  OtlpExporterSettings settings_;
  TraceResource resource_;
  Metrics* metrics_;
  Endpoint endpoint_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Span> queue_;
  bool stopping_ = false;
  bool failing_ = false;  ///< logs one line per outage, not one per batch
  HttpClient collector_;  ///< exporter thread only
  std::thread thread_;
};

}  // namespace mgit::observability
