#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <mutex>
#include <regex>

#include "mgit/daemon/http_server.hpp"
#include "mgit/observability/job_context.hpp"
#include "mgit/observability/metrics.hpp"
#include "mgit/observability/tracing.hpp"
#include "support/daemon_process.hpp"
#include "support/prometheus_text.hpp"

namespace mgit::observability {
namespace {

using namespace std::chrono_literals;

Span make_span(std::string name, std::string parent = "") {
  Span span;
  span.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  span.span_id = "00f067aa0ba902b7";
  span.parent_span_id = std::move(parent);
  span.name = std::move(name);
  span.kind = SpanKind::kConsumer;
  span.start = std::chrono::system_clock::time_point(std::chrono::nanoseconds(1700000000123456789));
  span.end = span.start + 1500ms;
  span.attributes = {{"messaging.system", std::string("kafka")},
                     {"messaging.kafka.offset", std::int64_t{9007199254740993}},
                     {"mgit.ratio", 0.25},
                     {"mgit.replayed", true}};
  span.status = SpanStatus::kError;
  span.status_message = "network: \"refused\"";
  return span;
}

TEST(OtlpJson, FollowsTheOtlpJsonMapping) {
  const auto json =
      encode_otlp_json({make_span("mgitd.job", "b7ad6b7169203331"), make_span("root")},
                       TraceResource{"mgitd", "1.0.0", "pod-0"});
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  ASSERT_FALSE(doc.HasParseError()) << json;
  const auto& resource_spans = doc["resourceSpans"][0];
  const auto& resource_attributes = resource_spans["resource"]["attributes"];
  ASSERT_EQ(resource_attributes.Size(), 3u);
  EXPECT_STREQ(resource_attributes[0]["key"].GetString(), "service.name");
  EXPECT_STREQ(resource_attributes[0]["value"]["stringValue"].GetString(), "mgitd");
  EXPECT_STREQ(resource_attributes[2]["value"]["stringValue"].GetString(), "pod-0");
  const auto& spans = resource_spans["scopeSpans"][0]["spans"];
  ASSERT_EQ(spans.Size(), 2u);
  const auto& span = spans[0];
  // Hex ids, not base64; times and 64-bit integers as decimal strings; enums as numbers.
  EXPECT_STREQ(span["traceId"].GetString(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_STREQ(span["spanId"].GetString(), "00f067aa0ba902b7");
  EXPECT_STREQ(span["parentSpanId"].GetString(), "b7ad6b7169203331");
  EXPECT_EQ(span["kind"].GetInt(), 5);
  EXPECT_STREQ(span["startTimeUnixNano"].GetString(), "1700000000123456789");
  EXPECT_STREQ(span["endTimeUnixNano"].GetString(), "1700000001623456789");
  EXPECT_EQ(span["status"]["code"].GetInt(), 2);
  EXPECT_STREQ(span["status"]["message"].GetString(), "network: \"refused\"");
  const auto& attributes = span["attributes"];
  EXPECT_STREQ(attributes[1]["value"]["intValue"].GetString(), "9007199254740993");
  EXPECT_DOUBLE_EQ(attributes[2]["value"]["doubleValue"].GetDouble(), 0.25);
  EXPECT_TRUE(attributes[3]["value"]["boolValue"].GetBool());
  EXPECT_FALSE(spans[1].HasMember("parentSpanId")) << "a root span has no parent field";
}

TEST(OtlpJson, RecordBytesCannotBreakTheJsonOrInflateSpans) {
  auto span = make_span("mgitd.job");
  // A record key of stray bytes, a truncated sequence, an encoded surrogate and a huge value.
  span.attributes = {{"mgit.repository.key", std::string("k\xff\xfe-\xe2\x82")},
                     {"mgit.target", std::string("\xed\xa0\x80")},
                     {"mgit.correlation_id", std::string(100000, 'x')},
                     {"mgit.ok", std::string("caf\xc3\xa9 \xf0\x9f\x99\x82")}};
  const auto json = encode_otlp_json({span}, TraceResource{});
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.c_str());
  ASSERT_FALSE(doc.HasParseError()) << "must stay valid UTF-8 JSON";
  const auto& attributes = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"];
  EXPECT_STREQ(attributes[0]["value"]["stringValue"].GetString(),
               "k\xef\xbf\xbd\xef\xbf\xbd-\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_STREQ(attributes[1]["value"]["stringValue"].GetString(),
               "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(attributes[2]["value"]["stringValue"].GetStringLength(), 512u);
  EXPECT_STREQ(attributes[3]["value"]["stringValue"].GetString(), "caf\xc3\xa9 \xf0\x9f\x99\x82")
      << "well-formed UTF-8 passes untouched";
}

TEST(JobContextTraceState, OnlyAValidTracestateIsCarried) {
  const auto parent = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(parent);
  EXPECT_EQ(JobContext::start("j", "c", parent, "vendor=abc").tracestate, "vendor=abc");
  EXPECT_EQ(JobContext::start("j", "c", parent, std::string(513, 'a')).tracestate, "");
  EXPECT_EQ(JobContext::start("j", "c", parent, "a=\x01b").tracestate, "");
}

TEST(OtlpEndpoint, ParsesHttpUrlsAndRefusesTheRest) {
  auto endpoint = OtlpHttpExporter::parse_endpoint("http://collector:4318/v1/traces");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->host, "collector");
  EXPECT_EQ(endpoint->port, "4318");
  EXPECT_EQ(endpoint->target, "/v1/traces");
  endpoint = OtlpHttpExporter::parse_endpoint("http://10.0.0.1");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->port, "80");
  EXPECT_EQ(endpoint->target, "/v1/traces");
  endpoint = OtlpHttpExporter::parse_endpoint("http://[::1]:4318/custom");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->host, "::1");
  EXPECT_EQ(endpoint->target, "/custom");
  EXPECT_FALSE(OtlpHttpExporter::parse_endpoint("https://collector:4318"));
  EXPECT_FALSE(OtlpHttpExporter::parse_endpoint("http://user:pw@collector:4318"));
  EXPECT_FALSE(OtlpHttpExporter::parse_endpoint("http://collector:port"));
  EXPECT_FALSE(OtlpHttpExporter::parse_endpoint("collector:4318"));
}

// A real HTTP collector stand-in: the project's own Beast server, recording bodies.
class Collector {
 public:
  explicit Collector(unsigned status = 200) {
    auto server = daemon::HttpServer::start(
        daemon::HttpServerSettings{"127.0.0.1:0", 16, 8192, 16 * 1024 * 1024, 5s, 5s, 5s, 5s, {}},
        [this, status](const daemon::HttpRequestView& request) {
          const std::lock_guard lock(mutex_);
          targets_.emplace_back(request.target);
          return daemon::HttpResponse{status, "application/json", "{}", {}};
        });
    if (!server) throw std::runtime_error(server.error());
    server_ = std::move(*server);
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/v1/traces";
  }
  std::size_t requests() {
    const std::lock_guard lock(mutex_);
    return targets_.size();
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> targets_;
  std::unique_ptr<daemon::HttpServer> server_;
};

TEST(OtlpExporter, BatchesSpansToTheCollectorAndCountsThem) {
  Collector collector;
  Metrics metrics(BuildInfo{"v", "r"});
  OtlpExporterSettings settings;
  settings.endpoint = collector.url();
  settings.max_batch = 4;
  settings.flush_interval = 50ms;
  auto exporter = OtlpHttpExporter::create(settings, TraceResource{}, &metrics);
  ASSERT_TRUE(exporter);
  for (int i = 0; i < 10; ++i) (*exporter)->submit(make_span("s" + std::to_string(i)));
  ASSERT_TRUE(test_support::eventually(
      [&] {
        return test_support::metric_sample(metrics.serialize(), "mgitd_spans_exported_total") == 10;
      },
      10s));
  EXPECT_GE(collector.requests(), 3u) << "10 spans in batches of at most 4";
  EXPECT_EQ(test_support::metric_sample(metrics.serialize(),
                                        R"(mgitd_spans_dropped_total{reason="export_failed"})"),
            0);
}

TEST(OtlpExporter, CollectorDownOrRefusingDropsAndCounts) {
  std::uint16_t closed_port = 0;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    closed_port = probe.local_endpoint().port();
  }
  Metrics metrics(BuildInfo{"v", "r"});
  OtlpExporterSettings settings;
  settings.endpoint = "http://127.0.0.1:" + std::to_string(closed_port) + "/v1/traces";
  settings.flush_interval = 20ms;
  auto exporter = OtlpHttpExporter::create(settings, TraceResource{}, &metrics);
  ASSERT_TRUE(exporter);
  for (int i = 0; i < 3; ++i) (*exporter)->submit(make_span("s"));
  EXPECT_TRUE(test_support::eventually(
      [&] {
        return test_support::metric_sample(
                   metrics.serialize(), R"(mgitd_spans_dropped_total{reason="export_failed"})") ==
               3;
      },
      10s));

  Collector refusing(500);
  Metrics refused_metrics(BuildInfo{"v", "r"});
  settings.endpoint = refusing.url();
  auto refused = OtlpHttpExporter::create(settings, TraceResource{}, &refused_metrics);
  ASSERT_TRUE(refused);
  (*refused)->submit(make_span("s"));
  EXPECT_TRUE(test_support::eventually(
      [&] {
        return test_support::metric_sample(
                   refused_metrics.serialize(),
                   R"(mgitd_spans_dropped_total{reason="export_failed"})") == 1;
      },
      10s));
  EXPECT_EQ(test_support::metric_sample(refused_metrics.serialize(), "mgitd_spans_exported_total"),
            0);
}

TEST(OtlpExporter, AStalledCollectorNeverBlocksSubmitters) {
  // Listens but never accepts or answers: requests hang until the exporter's timeout.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor stalled(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  Metrics metrics(BuildInfo{"v", "r"});
  OtlpExporterSettings settings;
  settings.endpoint = "http://127.0.0.1:" + std::to_string(stalled.local_endpoint().port());
  settings.max_queue = 10;
  settings.max_batch = 5;
  settings.flush_interval = 10ms;
  settings.request_timeout = 30s;  // longer than this test: only the queue bound can help
  auto exporter = OtlpHttpExporter::create(settings, TraceResource{}, &metrics);
  ASSERT_TRUE(exporter);
  for (int i = 0; i < 100; ++i) (*exporter)->submit(make_span("s"));
  // At most one batch in flight plus a full queue; everything else dropped at submit.
  const auto dropped = test_support::metric_sample(
      metrics.serialize(), R"(mgitd_spans_dropped_total{reason="queue_full"})");
  ASSERT_TRUE(dropped);
  EXPECT_GE(*dropped, 100 - 10 - 5);
  EXPECT_EQ(test_support::metric_sample(metrics.serialize(), "mgitd_spans_exported_total"), 0);
  // Not waiting 30 s for the exporter: closing the listener resets the hung request.
  stalled.close();
  exporter->reset();
}

}  // namespace
}  // namespace mgit::observability
