#include "mgit/observability/tracing.hpp"

#include <fmt/format.h>

#include <cmath>

#include "mgit/basics/json_escape.hpp"
#include "mgit/observability/log.hpp"

namespace mgit::observability {
namespace {

std::string unix_nanos(std::chrono::system_clock::time_point at) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count());
}

void append_quoted(std::string& out, std::string_view text) {
  out += '"';
  basics::append_json_escaped(out, text);
  out += '"';
}

// Attribute values come partly from records (keys, URLs, error messages): capped so one
// record cannot inflate every span of its job, nor the exporter's queue.
constexpr std::size_t kMaxAttributeBytes = 512;
constexpr std::size_t kMaxStatusMessageBytes = 1024;

void append_attribute(std::string& out, std::string_view key, const AttributeValue& value) {
  out += R"({"key":)";
  append_quoted(out, key);
  out += R"(,"value":{)";
  if (const auto* text = std::get_if<std::string>(&value)) {
    out += R"("stringValue":)";
    append_quoted(out, std::string_view(*text).substr(0, kMaxAttributeBytes));
  } else if (const auto* number = std::get_if<std::int64_t>(&value)) {
    // OTLP JSON: 64-bit integers are strings.
    out += R"("intValue":")" + std::to_string(*number) + '"';
  } else if (const auto* real = std::get_if<double>(&value)) {
    // JSON has no NaN or infinity; such a value carries no meaning on a span anyway.
    out += R"("doubleValue":)" + (std::isfinite(*real) ? fmt::format("{}", *real) : "0");
  } else {
    out += R"("boolValue":)";
    out += std::get<bool>(value) ? "true" : "false";
  }
  out += "}}";
}

}  // namespace

std::string encode_otlp_json(const std::vector<Span>& spans, const TraceResource& resource) {
  std::string out;
  out.reserve(512 + spans.size() * 700);
  out += R"({"resourceSpans":[{"resource":{"attributes":[)";
  append_attribute(out, "service.name", resource.service_name);
  out += ',';
  append_attribute(out, "service.version", resource.service_version);
  out += ',';
  append_attribute(out, "service.instance.id", resource.instance_id);
  out += R"(]},"scopeSpans":[{"scope":{"name":"mgitd","version":)";
  append_quoted(out, resource.service_version);
  out += R"(},"spans":[)";
  bool first = true;
  for (const auto& span : spans) {
    if (!first) out += ',';
    first = false;
    out += R"({"traceId":)";
    append_quoted(out, span.trace_id);
    out += R"(,"spanId":)";
    append_quoted(out, span.span_id);
    if (!span.parent_span_id.empty()) {
      out += R"(,"parentSpanId":)";
      append_quoted(out, span.parent_span_id);
    }
    if (!span.trace_state.empty()) {
      out += R"(,"traceState":)";
      append_quoted(out, span.trace_state);
    }
    out += R"(,"name":)";
    append_quoted(out, span.name);
    out += R"(,"kind":)" + std::to_string(static_cast<int>(span.kind));
    out += R"(,"startTimeUnixNano":")" + unix_nanos(span.start) + '"';
    out += R"(,"endTimeUnixNano":")" + unix_nanos(span.end) + '"';
    out += R"(,"attributes":[)";
    bool first_attribute = true;
    for (const auto& [key, value] : span.attributes) {
      if (!first_attribute) out += ',';
      first_attribute = false;
      append_attribute(out, key, value);
    }
    out += R"(],"status":{"code":)" + std::to_string(static_cast<int>(span.status));
    if (!span.status_message.empty()) {
      out += R"(,"message":)";
      append_quoted(out, std::string_view(span.status_message).substr(0, kMaxStatusMessageBytes));
    }
    out += "}}";
  }
  out += "]}]}]}";
  return out;
}

tl::expected<OtlpHttpExporter::Endpoint, std::string> OtlpHttpExporter::parse_endpoint(
    const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    return tl::make_unexpected(
        "otlp_endpoint must be an http:// URL (send to a local OpenTelemetry Collector for TLS)");
  }
  const auto rest = url.substr(kScheme.size());
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  Endpoint endpoint;
  endpoint.target = slash == std::string::npos ? "/v1/traces" : rest.substr(slash);
  if (authority.find('@') != std::string::npos) {
    return tl::make_unexpected("otlp_endpoint must not carry credentials");
  }
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) return tl::make_unexpected("otlp_endpoint: bad IPv6 host");
    endpoint.host = authority.substr(1, close - 1);
    endpoint.port = close + 1 < authority.size() && authority[close + 1] == ':'
                        ? authority.substr(close + 2)
                        : "80";
  } else {
    const auto colon = authority.rfind(':');
    endpoint.host = authority.substr(0, colon);
    endpoint.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  }
  if (endpoint.host.empty() || endpoint.port.empty() ||
      endpoint.port.find_first_not_of("0123456789") != std::string::npos) {
    return tl::make_unexpected("otlp_endpoint: expected http://host[:port][/path]");
  }
  return endpoint;
}

tl::expected<std::unique_ptr<OtlpHttpExporter>, std::string> OtlpHttpExporter::create(
    OtlpExporterSettings settings, TraceResource resource, Metrics* metrics) {
  auto endpoint = parse_endpoint(settings.endpoint);
  if (!endpoint) return tl::make_unexpected(endpoint.error());
  return std::unique_ptr<OtlpHttpExporter>(new OtlpHttpExporter(
      std::move(settings), std::move(resource), metrics, std::move(*endpoint)));
}

OtlpHttpExporter::OtlpHttpExporter(OtlpExporterSettings settings, TraceResource resource,
                                   Metrics* metrics, Endpoint endpoint)
    : settings_(std::move(settings)),
      resource_(std::move(resource)),
      metrics_(metrics),
      endpoint_(std::move(endpoint)),
      collector_(endpoint_.host, endpoint_.port),
      thread_([this] { run(); }) {}

OtlpHttpExporter::~OtlpHttpExporter() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void OtlpHttpExporter::submit(Span span) {
  bool wake = false;
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= settings_.max_queue) {
      if (metrics_ != nullptr) metrics_->spans_dropped("queue_full", 1);
      return;
    }
    queue_.push_back(std::move(span));
    wake = queue_.size() >= settings_.max_batch;
  }
  if (wake) wake_.notify_one();
}

void OtlpHttpExporter::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait_for(lock, settings_.flush_interval,
                   [this] { return stopping_ || queue_.size() >= settings_.max_batch; });
    if (queue_.empty()) {
      if (stopping_) return;
      continue;
    }
    std::vector<Span> batch;
    const auto take = std::min(queue_.size(), settings_.max_batch);
    batch.reserve(take);
    for (std::size_t i = 0; i < take; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    const bool last = stopping_;
    lock.unlock();
    const auto error = post(encode_otlp_json(batch, resource_));
    if (metrics_ != nullptr) {
      if (error.empty()) {
        metrics_->spans_exported(batch.size());
      } else {
        metrics_->spans_dropped("export_failed", batch.size());
      }
    }
    if (!error.empty() && !failing_) {
      log(LogLevel::kWarn, "span export failed; dropping spans until the collector answers",
          {{"endpoint", settings_.endpoint}, {"error", error}});
    } else if (error.empty() && failing_) {
      log(LogLevel::kInfo, "span export recovered", {{"endpoint", settings_.endpoint}});
    }
    failing_ = !error.empty();
    lock.lock();
    if (last) {
      // Stopping: one more request at most, so shutdown stays bounded by one timeout.
      if (metrics_ != nullptr && !queue_.empty()) {
        metrics_->spans_dropped("export_failed", queue_.size());
      }
      queue_.clear();
      return;
    }
  }
}

std::string OtlpHttpExporter::post(const std::string& body) {
  HttpRequest request;
  request.method = "POST";
  request.target = endpoint_.target;
  request.headers = {{"Content-Type", "application/json"},
                     {"User-Agent", "mgitd/" + resource_.service_version}};
  request.body = body;
  // A collector that accepts and then stalls costs this thread one timeout, never the jobs.
  const auto response = collector_.send(request, settings_.request_timeout);
  if (!response) return response.error();
  if (response->status / 100 != 2) {
    return "collector answered HTTP " + std::to_string(response->status);
  }
  return {};
}

}  // namespace mgit::observability
