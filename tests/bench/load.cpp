// mgit-bench-load: the benchmark's producer and result collector (scripts/bench).
//
//   mgit-bench-load produce BROKERS TOPIC FILE [RATE]
//       FILE holds `KEY<TAB>JSON` lines; each becomes one record with mgitctl's content
//       headers. RATE > 0 paces the records evenly at RATE per second (latency runs); 0 or
//       absent produces as fast as the broker takes them. Prints `produced=N wall_ms=W`.
//   mgit-bench-load topic BROKERS NAME PARTITIONS
//       Creates a topic whose records carry the broker's append time
//       (message.timestamp.type=LogAppendTime), so a result's timestamp says when it became
//       durable, whoever produced it. An existing topic is an error.
//   mgit-bench-load collect BROKERS RESULTS_TOPIC EXPECT TIMEOUT_S [JOBS_TOPIC [ID_PREFIX]]
//       Reads RESULTS_TOPIC from the beginning (explicit assignment, nothing committed) until
//       EXPECT distinct jobs are answered (by job_id; by source partition:offset for results
//       without one). With JOBS_TOPIC, each result is matched to its job record, and the
//       latency is the result's broker timestamp minus the job's (also for the steady
//       state alone: jobs produced 10 s or more after the first). With ID_PREFIX, only jobs
//       whose id starts with it count (scripts/bench warms a daemon up on the same topics). Prints
//       one line of key=value figures (`coalesced`: results whose `served_by` names another
//       job, i.e. answered by that job's execution); exit 0 when every answered job succeeded,
//       1 when any did not, 3 on timeout.
#include <librdkafka/rdkafka.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "mgit-bench-load: %s\n", message.c_str());
  std::exit(2);
}

void set(rd_kafka_conf_t* conf, const char* key, const char* value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    fail(std::string(key) + ": " + errstr);
  }
}

struct Deliveries {
  long acknowledged = 0;
  long failed = 0;
};

void on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  auto& deliveries = *static_cast<Deliveries*>(opaque);
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++deliveries.failed;
    std::fprintf(stderr, "mgit-bench-load: delivery failed: %s\n", rd_kafka_err2str(msg->err));
  } else {
    ++deliveries.acknowledged;
  }
}

int produce(const std::string& brokers, const std::string& topic, const std::string& file,
            double rate) {
  std::ifstream in(file);
  if (!in) fail("cannot read " + file);
  std::vector<std::pair<std::string, std::string>> records;
  for (std::string line; std::getline(in, line);) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    records.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  Deliveries deliveries;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", brokers.c_str());
  set(conf, "enable.idempotence", "true");
  set(conf, "acks", "all");
  // Paced runs measure latency: send each record at once rather than batch it.
  set(conf, "linger.ms", rate > 0 ? "0" : "20");
  rd_kafka_conf_set_dr_msg_cb(conf, &on_delivery);
  rd_kafka_conf_set_opaque(conf, &deliveries);
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) fail(std::string("producer: ") + errstr);

  static constexpr char kContentType[] = "application/json";
  static constexpr char kSchema[] = "mgit.sync-job/v1";
  const auto started = Clock::now();
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (rate > 0) {
      const auto due = started + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(static_cast<double>(i) / rate));
      while (Clock::now() < due) {
        rd_kafka_poll(rk, 0);
        std::this_thread::sleep_until(std::min(due, Clock::now() + std::chrono::milliseconds(5)));
      }
    }
    const auto& [key, value] = records[i];
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADER("content-type", kContentType, sizeof kContentType - 1),
                RD_KAFKA_V_HEADER("mgit-schema", kSchema, sizeof kSchema - 1), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 10);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) fail(std::string("produce: ") + rd_kafka_err2str(err));
    rd_kafka_poll(rk, 0);
  }
  if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) fail("flush timed out");
  const auto wall =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  rd_kafka_destroy(rk);
  std::printf("produced=%ld failed=%ld wall_ms=%lld\n", deliveries.acknowledged, deliveries.failed,
              static_cast<long long>(wall));
  return deliveries.failed == 0 && deliveries.acknowledged == static_cast<long>(records.size()) ? 0
                                                                                                : 1;
}

int create_topic(const std::string& brokers, const std::string& name, int partitions) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", brokers.c_str());
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) fail(std::string("admin client: ") + errstr);
  rd_kafka_NewTopic_t* topic =
      rd_kafka_NewTopic_new(name.c_str(), partitions, 1, errstr, sizeof errstr);
  if (topic == nullptr) fail(std::string("topic: ") + errstr);
  if (rd_kafka_NewTopic_set_config(topic, "message.timestamp.type", "LogAppendTime") != 0) {
    fail("topic config");
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &topic, 1, nullptr, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 30000);
  int rc = 0;
  if (event == nullptr) {
    std::fprintf(stderr, "mgit-bench-load: creating %s timed out\n", name.c_str());
    rc = 1;
  } else {
    std::size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count);
    if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "mgit-bench-load: %s\n", rd_kafka_event_error_string(event));
      rc = 1;
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (rd_kafka_topic_result_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::fprintf(stderr, "mgit-bench-load: %s: %s\n", rd_kafka_topic_result_name(results[i]),
                     rd_kafka_topic_result_error_string(results[i]));
        rc = 1;
      }
    }
    rd_kafka_event_destroy(event);
  }
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy(topic);
  rd_kafka_destroy(rk);
  return rc;
}

using ConsumerPtr = std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)>;

/// A group-less consumer assigned every partition of `topic` from the beginning.
ConsumerPtr assigned_consumer(const std::string& brokers, const std::string& topic) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", brokers.c_str());
  set(conf, "group.id", "mgit-bench-collect-unused");
  set(conf, "enable.auto.commit", "false");
  set(conf, "enable.partition.eof", "true");
  char errstr[512];
  ConsumerPtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr), &rd_kafka_destroy);
  if (!rk) fail(std::string("consumer: ") + errstr);
  rd_kafka_topic_t* handle = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  if (const auto err = rd_kafka_metadata(rk.get(), 0, handle, &metadata, 10000)) {
    fail("metadata of " + topic + ": " + rd_kafka_err2str(err));
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  for (int t = 0; t < metadata->topic_cnt; ++t) {
    for (int p = 0; p < metadata->topics[t].partition_cnt; ++p) {
      rd_kafka_topic_partition_list_add(list, topic.c_str(), metadata->topics[t].partitions[p].id)
          ->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  const int partitions = list->cnt;
  rd_kafka_metadata_destroy(metadata);
  rd_kafka_topic_destroy(handle);
  if (partitions == 0) fail("topic " + topic + " has no partitions");
  rd_kafka_poll_set_consumer(rk.get());
  if (const auto err = rd_kafka_assign(rk.get(), list)) {
    fail("assign " + topic + ": " + rd_kafka_err2str(err));
  }
  rd_kafka_topic_partition_list_destroy(list);
  return rk;
}

std::int64_t timestamp_ms(const rd_kafka_message_t* msg) {
  rd_kafka_timestamp_type_t type;
  return rd_kafka_message_timestamp(msg, &type);
}

std::string text(const rd_kafka_message_t* msg) {
  return std::string(static_cast<const char*>(msg->payload), msg->len);
}

/// Job id → the job record's broker timestamp, for every job in the topic now.
std::unordered_map<std::string, std::int64_t> read_jobs(const std::string& brokers,
                                                        const std::string& topic,
                                                        const std::string& id_prefix) {
  auto rk = assigned_consumer(brokers, topic);
  std::unordered_map<std::string, std::int64_t> jobs;
  int partitions_at_end = 0;
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  rd_kafka_assignment(rk.get(), &assignment);
  const int partitions = assignment->cnt;
  rd_kafka_topic_partition_list_destroy(assignment);
  // Every partition reports EOF once, including empty ones.
  while (partitions_at_end < partitions) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk.get(), 1000);
    if (msg == nullptr) continue;
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ++partitions_at_end;
    } else if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rapidjson::Document doc;
      const std::string value = text(msg);
      doc.Parse(value.c_str(), value.size());
      if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("job_id") &&
          doc["job_id"].IsString() &&
          std::string_view(doc["job_id"].GetString()).substr(0, id_prefix.size()) == id_prefix) {
        jobs.emplace(doc["job_id"].GetString(), timestamp_ms(msg));
      }
    }
    rd_kafka_message_destroy(msg);
  }
  rd_kafka_consumer_close(rk.get());
  return jobs;
}

std::int64_t percentile(std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return -1;
  const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

int collect(const std::string& brokers, const std::string& results_topic, long expect,
            int timeout_s, const std::string& jobs_topic, const std::string& id_prefix) {
  std::unordered_map<std::string, std::int64_t> jobs;
  if (!jobs_topic.empty()) jobs = read_jobs(brokers, jobs_topic, id_prefix);
  auto rk = assigned_consumer(brokers, results_topic);
  std::unordered_map<std::string, std::int64_t> answered;  // id -> first result timestamp
  std::map<std::string, long> statuses;
  long duplicates = 0;
  long coalesced = 0;
  std::int64_t first_result = INT64_MAX;
  std::int64_t last_result = 0;
  std::vector<std::pair<std::int64_t, std::int64_t>> latencies;  // job timestamp, latency
  std::string first_problem;
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (static_cast<long>(answered.size()) < expect && Clock::now() < deadline) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk.get(), 200);
    if (msg == nullptr) continue;
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_message_destroy(msg);
      continue;
    }
    const std::string value = text(msg);
    const std::int64_t ts = timestamp_ms(msg);
    rd_kafka_message_destroy(msg);
    rapidjson::Document doc;
    doc.Parse(value.c_str(), value.size());
    if (doc.HasParseError() || !doc.IsObject()) continue;
    std::string id;
    if (doc.HasMember("job_id") && doc["job_id"].IsString()) {
      id = doc["job_id"].GetString();
    } else if (doc.HasMember("source") && doc["source"].IsObject()) {
      const auto& source = doc["source"];
      if (source.HasMember("partition") && source["partition"].IsInt() &&
          source.HasMember("offset") && source["offset"].IsInt64()) {
        id = std::to_string(source["partition"].GetInt()) + ":" +
             std::to_string(source["offset"].GetInt64());
      }
    }
    if (id.empty() || id.substr(0, id_prefix.size()) != id_prefix) continue;
    if (!jobs.empty() && jobs.count(id) == 0) continue;  // another run's job
    if (!answered.emplace(id, ts).second) {
      ++duplicates;
      continue;
    }
    const std::string status =
        doc.HasMember("status") && doc["status"].IsString() ? doc["status"].GetString() : "?";
    ++statuses[status];
    if (doc.HasMember("served_by") && doc["served_by"].IsString() &&
        id != doc["served_by"].GetString()) {
      ++coalesced;
    }
    if (status != "succeeded" && first_problem.empty()) first_problem = value.substr(0, 600);
    first_result = std::min(first_result, ts);
    last_result = std::max(last_result, ts);
    if (auto job = jobs.find(id); job != jobs.end())
      latencies.emplace_back(job->second, ts - job->second);
  }
  std::int64_t first_job = INT64_MAX;
  for (const auto& [id, ts] : jobs) first_job = std::min(first_job, ts);
  // All jobs, and the steady state: jobs produced 10 s or more after the first one, once
  // the daemon's first fetches of each repository are behind it.
  std::vector<std::int64_t> all;
  std::vector<std::int64_t> steady;
  for (const auto& [produced, latency] : latencies) {
    all.push_back(latency);
    if (produced >= first_job + 10000) steady.push_back(latency);
  }
  std::sort(all.begin(), all.end());
  std::sort(steady.begin(), steady.end());
  long succeeded = statuses.count("succeeded") != 0 ? statuses["succeeded"] : 0;
  std::printf(
      "answered=%zu expected=%ld succeeded=%ld not_succeeded=%ld duplicates=%ld coalesced=%ld",
      answered.size(), expect, succeeded, static_cast<long>(answered.size()) - succeeded,
      duplicates, coalesced);
  if (!answered.empty()) {
    std::printf(" first_result_ms=%lld last_result_ms=%lld", static_cast<long long>(first_result),
                static_cast<long long>(last_result));
  }
  if (!jobs.empty()) {
    std::printf(" jobs=%zu first_job_ms=%lld p50_ms=%lld p95_ms=%lld p99_ms=%lld max_ms=%lld",
                jobs.size(), static_cast<long long>(first_job),
                static_cast<long long>(percentile(all, 0.50)),
                static_cast<long long>(percentile(all, 0.95)),
                static_cast<long long>(percentile(all, 0.99)),
                static_cast<long long>(all.empty() ? -1 : all.back()));
    std::printf(" steady_jobs=%zu steady_p50_ms=%lld steady_p95_ms=%lld steady_p99_ms=%lld",
                steady.size(), static_cast<long long>(percentile(steady, 0.50)),
                static_cast<long long>(percentile(steady, 0.95)),
                static_cast<long long>(percentile(steady, 0.99)));
  }
  std::printf("\n");
  std::fflush(stdout);
  if (!first_problem.empty())
    std::fprintf(stderr, "first non-success result: %s\n", first_problem.c_str());
  rd_kafka_consumer_close(rk.get());
  if (static_cast<long>(answered.size()) < expect) {
    std::fprintf(stderr, "mgit-bench-load: timed out: %zu of %ld jobs answered\n", answered.size(),
                 expect);
    return 3;
  }
  return succeeded == static_cast<long>(answered.size()) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 4 && args.size() <= 5 && args[0] == "produce") {
    return produce(args[1], args[2], args[3], args.size() == 5 ? std::atof(args[4].c_str()) : 0.0);
  }
  if (args.size() == 4 && args[0] == "topic") {
    return create_topic(args[1], args[2], std::atoi(args[3].c_str()));
  }
  if (args.size() >= 5 && args.size() <= 7 && args[0] == "collect") {
    return collect(args[1], args[2], std::atol(args[3].c_str()), std::atoi(args[4].c_str()),
                   args.size() >= 6 ? args[5] : std::string(),
                   args.size() == 7 ? args[6] : std::string());
  }
  std::fprintf(
      stderr,
      "usage: %s topic BROKERS NAME PARTITIONS\n"
      "       %s produce BROKERS TOPIC FILE [RATE]\n"
      "       %s collect BROKERS RESULTS_TOPIC EXPECT TIMEOUT_S [JOBS_TOPIC [ID_PREFIX]]\n",
      argv[0], argv[0], argv[0]);
  return 2;
}
