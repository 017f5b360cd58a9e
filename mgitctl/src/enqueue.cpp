#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string_view>
#include <variant>

#include "commands.hpp"
#include "consume.hpp"
#include "mgit/jobs/parse.hpp"
#include "mgit/observability/job_context.hpp"
#include "mgit/security/redaction.hpp"
#include "progress.hpp"

namespace mgit::mgitctl {
namespace {

constexpr const char* kJobSchema = "mgit.sync-job/v1";
constexpr int kFlushTimeoutMs = 60000;

/// One record to produce and what became of it.
struct Outgoing {
  int line = 0;
  std::string job_id;  ///< empty when the payload has no usable job id
  std::optional<std::string> key;
  std::string correlation_id;
  std::string payload;
  bool expects_result = false;  ///< unparseable payloads go to the DLQ instead
  // Filled by the delivery report.
  bool delivered = false;
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

}  // namespace

std::string generate_job_id() {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::uint64_t ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  std::string id(26, '0');
  for (int i = 9; i >= 0; --i) {
    id[static_cast<std::size_t>(i)] = kAlphabet[ms & 31];
    ms >>= 5;
  }
  static thread_local std::mt19937_64 engine{std::random_device{}()};
  std::uniform_int_distribution<int> digit(0, 31);
  for (std::size_t i = 10; i < id.size(); ++i) id[i] = kAlphabet[digit(engine)];
  return id;
}

namespace {

std::string job_from_flags(const EnqueueOptions& options) {
  if (options.url.empty()) throw CtlError("enqueue needs --url or --file");
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  const auto str = [&w](const std::string& s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("schema");
  w.String(kJobSchema);
  w.Key("job_id");
  str(options.job_id.empty() ? generate_job_id() : options.job_id);
  if (!options.correlation_id.empty()) {
    w.Key("correlation_id");
    str(options.correlation_id);
  }
  w.Key("operation");
  str(options.operation);
  w.Key("repository");
  w.StartObject();
  w.Key("url");
  str(options.url);
  if (!options.credential.empty()) {
    w.Key("credential");
    str(options.credential);
  }
  w.EndObject();
  if (!options.ref.empty()) {
    w.Key("ref");
    str(options.ref);
  }
  if (!options.target.empty()) {
    w.Key("target");
    str(options.target);
  }
  w.Key("options");
  w.StartObject();
  w.Key("prune");
  w.Bool(options.prune);
  if (!options.ref_backup) {  // only when off: the daemon's default is on
    w.Key("ref_backup");
    w.Bool(false);
  }
  if (options.timeout_seconds > 0) {
    w.Key("timeout_seconds");
    w.Int(options.timeout_seconds);
  }
  w.EndObject();
  w.Key("requested_by");
  if (!options.requested_by.empty()) {
    str(options.requested_by);
  } else {
    const char* user = std::getenv("USER");
    str(fmt::format("mgitctl:{}", user != nullptr ? user : "unknown"));
  }
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

/// A string member of a JSON object. (HasMember rather than FindMember: comparing RapidJSON's
/// member iterators is ambiguous under C++20's reversed operators.)
std::optional<std::string_view> string_member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject() || !object.HasMember(name) || !object[name].IsString()) {
    return std::nullopt;
  }
  return std::string_view(object[name].GetString(), object[name].GetStringLength());
}

/// `repository.url` of a payload that did not parse as a job, when it is at least JSON.
std::optional<std::string> raw_url(const std::string& payload) {
  rapidjson::Document doc;
  doc.Parse(payload.data(), payload.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  if (!doc.HasMember("repository") || !doc["repository"].IsObject()) return std::nullopt;
  if (auto url = string_member(doc["repository"], "url")) return std::string(*url);
  return std::nullopt;
}

/// Classifies `document`; returns an error line when it is not a valid job.
std::optional<std::string> prepare(const InputDocument& document, std::size_t max_bytes,
                                   Outgoing& out) {
  out.line = document.line;
  out.payload = document.text;
  const auto outcome = jobs::parse_job(document.text, "", jobs::ParseLimits{max_bytes});
  if (const auto* job = std::get_if<jobs::Job>(&outcome)) {
    out.job_id = job->job_id;
    out.key = job->repository_key;
    out.correlation_id = job->correlation_id;
    out.expects_result = true;
    return std::nullopt;
  }
  if (const auto* rejected = std::get_if<jobs::Rejected>(&outcome)) {
    out.job_id = rejected->job_id;
    out.correlation_id =
        rejected->correlation_id.empty() ? rejected->job_id : rejected->correlation_id;
    if (!rejected->repository_key.empty()) {
      out.key = rejected->repository_key;
    } else if (!rejected->repository_url.empty()) {
      // Keyed like the daemon would see it, minus any credentials the bad URL carries.
      out.key = security::redact_url(rejected->repository_url);
    }
    out.expects_result = true;
    return fmt::format("line {}: rejected {}: {}", document.line,
                       jobs::to_string(rejected->error.code), rejected->error.message);
  }
  const auto& unparseable = std::get<jobs::Unparseable>(outcome);
  if (auto url = raw_url(document.text)) out.key = security::redact_url(*url);
  return fmt::format("line {}: unparseable {}: {}", document.line, unparseable.reason,
                     unparseable.message);
}

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
  auto* out = static_cast<Outgoing*>(message->_private);
  out->delivered = true;
  out->error = message->err;
  out->partition = message->partition;
  out->offset = message->offset;
}

void produce(rd_kafka_t* producer, const std::string& topic, Outgoing& out) {
  HeadersPtr headers(rd_kafka_headers_new(4));
  const auto add = [&headers](const char* name, const std::string& value) {
    rd_kafka_header_add(headers.get(), name, -1, value.data(), static_cast<ssize_t>(value.size()));
  };
  if (!out.correlation_id.empty()) add("correlation-id", out.correlation_id);
  add("content-type", "application/json");
  add("mgit-schema", kJobSchema);
  add("traceparent",
      fmt::format("00-{}-{}-01", observability::new_trace_id(), observability::new_span_id()));

  // No key (null) is not an empty key to the partitioner: a default view has a null data().
  // A view, not two optional::operator-> calls: clang-analyzer 14 models the second one as
  // reallocating the string the first returned a pointer into.
  const std::string_view key = out.key ? std::string_view(*out.key) : std::string_view();
  while (true) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(out.payload.data(), out.payload.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers.get()),
        RD_KAFKA_V_OPAQUE(&out), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      (void)headers.release();  // librdkafka owns the headers once the message is queued
      return;
    }
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      throw CtlError(fmt::format("line {}: cannot produce: {}", out.line, rd_kafka_err2str(err)));
    }
    rd_kafka_poll(producer, 100);
  }
}

std::string label(const Outgoing& out) {
  return out.job_id.empty() ? fmt::format("line:{}", out.line) : out.job_id;
}

/// Reads results until every expected job id has one; prints each; returns the exit code.
int await_results(const KafkaOptions& kafka, const EnqueueOptions& options,
                  const std::vector<PartitionRange>& results_before,
                  const std::vector<Outgoing>& sent) {
  std::set<std::string> pending;
  for (const auto& out : sent) {
    if (out.expects_result) pending.insert(out.job_id);
  }
  if (pending.empty()) return kExitOk;
  bool all_succeeded = true;
  // Live progress goes to stderr, and only on a terminal: stdout carries nothing but the
  // results, byte for byte as without one, so pipes and CI logs see no difference.
  ProgressLine progress(stderr);
  WaitTally tally;
  tally.total = pending.size();
  ReadPlan plan;
  plan.topic = kafka.results_topic;
  plan.ranges = results_before;
  plan.deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(options.wait_timeout_seconds);
  if (progress.active()) plan.on_tick = [&] { progress.tick(tally); };
  const ReadEnd end = read_topic(kafka, plan, [&](const rd_kafka_message_t& message) {
    if (message.payload == nullptr) return true;
    rapidjson::Document doc;
    doc.Parse(static_cast<const char*>(message.payload), message.len);
    if (doc.HasParseError() || !doc.IsObject()) return true;
    const auto id = string_member(doc, "job_id");
    if (!id) return true;
    // Results of other producers' jobs, and redelivered duplicates, are skipped.
    if (pending.erase(std::string(*id)) == 0) return true;
    const auto status = string_member(doc, "status");
    ++tally.answered;
    if (status != std::optional<std::string_view>("succeeded")) {
      all_succeeded = false;
      ++tally.failures;
    }
    std::string code = "-";
    if (doc.HasMember("error")) {
      if (auto c = string_member(doc["error"], "code")) code = std::string(*c);
    }
    ++tally.by_outcome[{status ? std::string(*status) : std::string("(none)"), code}];
    progress.before_output();
    fmt::print("{}\n", std::string_view(static_cast<const char*>(message.payload), message.len));
    std::fflush(stdout);
    return !pending.empty();
  });
  progress.finish(tally);
  if (end == ReadEnd::kTimedOut) {
    std::string missing;
    for (const auto& id : pending) missing += (missing.empty() ? "" : " ") + id;
    fmt::print(stderr,
               "mgitctl: timed out after {}s waiting for results of: {} (is mgitd running and "
               "reading {}? `mgitctl dlq` shows jobs it could not parse; --timeout waits "
               "longer)\n",
               options.wait_timeout_seconds, missing, kafka.jobs_topic);
    return kExitTimeout;
  }
  return all_succeeded ? kExitOk : kExitFailed;
}

}  // namespace

int run_enqueue(const KafkaOptions& kafka, const EnqueueOptions& options) {
  std::vector<InputDocument> documents;
  if (!options.file.empty()) {
    if (!options.url.empty()) throw CtlError("enqueue takes --url or --file, not both");
    documents = read_documents(options.file);
    if (documents.empty()) throw CtlError(fmt::format("{}: no jobs found", options.file));
  } else {
    documents.push_back(InputDocument{1, job_from_flags(options)});
  }
  return enqueue_documents(kafka, options, documents);
}

int enqueue_documents(const KafkaOptions& kafka, const EnqueueOptions& options,
                      const std::vector<InputDocument>& documents) {
  std::vector<Outgoing> outgoing(documents.size());
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < documents.size(); ++i) {
    if (auto problem = prepare(documents[i], options.max_message_bytes, outgoing[i])) {
      problems.push_back(std::move(*problem));
    }
  }
  if (!problems.empty()) {
    for (const auto& problem : problems) fmt::print(stderr, "{}\n", problem);
    if (!options.allow_invalid) {
      fmt::print(stderr,
                 "mgitctl: {} invalid job(s); nothing was sent (--allow-invalid sends "
                 "them as they are)\n",
                 problems.size());
      return kExitFailed;
    }
  }

  ConfPtr conf = make_conf(kafka, {{"enable.idempotence", "true"}, {"acks", "all"}});
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &on_delivery);
  const KafkaPtr producer = make_client(RD_KAFKA_PRODUCER, std::move(conf));

  // Captured before producing so a fast daemon's results cannot slip in before we look.
  std::vector<PartitionRange> results_before;
  if (options.wait)
    results_before = watermarks(producer.get(), kafka.results_topic, kafka.timeout_ms);
  else
    watermarks(producer.get(), kafka.jobs_topic, kafka.timeout_ms);  // fail early when missing

  for (auto& out : outgoing) produce(producer.get(), kafka.jobs_topic, out);
  rd_kafka_flush(producer.get(), kFlushTimeoutMs);

  int exit_code = kExitOk;
  for (const auto& out : outgoing) {
    if (!out.delivered) {
      fmt::print(stderr, "failed {}: not acknowledged within {}s\n", label(out),
                 kFlushTimeoutMs / 1000);
      exit_code = kExitFailed;
    } else if (out.error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fmt::print(stderr, "failed {}: {}\n", label(out), rd_kafka_err2str(out.error));
      exit_code = kExitFailed;
    } else {
      fmt::print("enqueued {} partition={} offset={}\n", label(out), out.partition, out.offset);
    }
  }
  std::fflush(stdout);
  if (exit_code != kExitOk || !options.wait) return exit_code;
  return await_results(kafka, options, results_before, outgoing);
}

}  // namespace mgit::mgitctl
