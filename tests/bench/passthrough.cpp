// mgit-bench-passthrough: the broker's own limit for mgitd's work, in plain librdkafka C.
// Consumes the jobs topic in a consumer group, produces one small result per message
// (idempotent, acks=all, like mgitd), stores each offset once its result is acknowledged and
// lets auto-commit commit it — the same delivery contract, with no parsing and no scheduling.
//
//   mgit-bench-passthrough BROKERS GROUP JOBS_TOPIC RESULTS_TOPIC COUNT
//
// Exits 0 after COUNT results were acknowledged and the offsets committed; prints
// `passthrough results=N wall_ms=W`.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

namespace {

struct State {
  long acknowledged = 0;
  std::map<int, std::int64_t> stored;  ///< highest offset stored per intake partition
  long failed = 0;
  rd_kafka_t* consumer = nullptr;
};

void set(rd_kafka_conf_t* conf, const char* key, const char* value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "passthrough: %s=%s: %s\n", key, value, errstr);
    std::exit(2);
  }
}

// Each result carries its intake partition/offset as the message opaque, so the offset is
// stored only once the result is acknowledged (never moving backwards: results of one
// intake partition may be acknowledged out of order across result partitions).
void on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  auto& state = *static_cast<State*>(opaque);
  auto* origin = static_cast<rd_kafka_topic_partition_list_t*>(msg->_private);
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++state.failed;
    std::fprintf(stderr, "passthrough: delivery failed: %s\n", rd_kafka_err2str(msg->err));
  } else {
    ++state.acknowledged;
    auto& stored = state.stored[origin->elems[0].partition];
    if (origin->elems[0].offset > stored) {
      stored = origin->elems[0].offset;
      rd_kafka_offsets_store(state.consumer, origin);
    }
  }
  rd_kafka_topic_partition_list_destroy(origin);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s BROKERS GROUP JOBS_TOPIC RESULTS_TOPIC COUNT\n", argv[0]);
    return 2;
  }
  const char* brokers = argv[1];
  const char* group = argv[2];
  const char* jobs_topic = argv[3];
  const char* results_topic = argv[4];
  const long count = std::strtol(argv[5], nullptr, 10);
  State state;
  char errstr[512];

  rd_kafka_conf_t* pconf = rd_kafka_conf_new();
  set(pconf, "bootstrap.servers", brokers);
  set(pconf, "enable.idempotence", "true");
  set(pconf, "acks", "all");
  set(pconf, "linger.ms", "5");
  rd_kafka_conf_set_dr_msg_cb(pconf, &on_delivery);
  rd_kafka_conf_set_opaque(pconf, &state);
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof errstr);
  if (producer == nullptr) {
    std::fprintf(stderr, "passthrough: producer: %s\n", errstr);
    return 2;
  }

  rd_kafka_conf_t* cconf = rd_kafka_conf_new();
  set(cconf, "bootstrap.servers", brokers);
  set(cconf, "group.id", group);
  set(cconf, "auto.offset.reset", "earliest");
  set(cconf, "enable.auto.commit", "true");
  set(cconf, "enable.auto.offset.store", "false");
  set(cconf, "auto.commit.interval.ms", "1000");
  set(cconf, "partition.assignment.strategy", "cooperative-sticky");
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof errstr);
  if (consumer == nullptr) {
    std::fprintf(stderr, "passthrough: consumer: %s\n", errstr);
    return 2;
  }
  state.consumer = consumer;
  rd_kafka_poll_set_consumer(consumer);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, jobs_topic, RD_KAFKA_PARTITION_UA);
  if (const auto err = rd_kafka_subscribe(consumer, topics)) {
    std::fprintf(stderr, "passthrough: subscribe: %s\n", rd_kafka_err2str(err));
    return 2;
  }
  rd_kafka_topic_partition_list_destroy(topics);

  const auto started = std::chrono::steady_clock::now();
  long consumed = 0;
  while (state.acknowledged + state.failed < count) {
    rd_kafka_poll(producer, 0);
    if (consumed >= count) {
      rd_kafka_poll(producer, 10);
      continue;
    }
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(consumer, 10);
    if (msg == nullptr) continue;
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_message_destroy(msg);
      continue;
    }
    ++consumed;
    const char* topic = rd_kafka_topic_name(msg->rkt);
    char value[160];
    const int length = std::snprintf(
        value, sizeof value,
        R"({"schema":"mgit.sync-result/v1","status":"succeeded","source":{"partition":%d,"offset":%lld}})",
        msg->partition, static_cast<long long>(msg->offset));
    rd_kafka_topic_partition_list_t* origin = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(origin, topic, msg->partition)->offset = msg->offset + 1;
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(
                producer, RD_KAFKA_V_TOPIC(results_topic), RD_KAFKA_V_KEY(msg->key, msg->key_len),
                RD_KAFKA_V_VALUE(value, length), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE(origin), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer, 10);
    }
    rd_kafka_message_destroy(msg);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "passthrough: produce: %s\n", rd_kafka_err2str(err));
      return 1;
    }
  }
  rd_kafka_flush(producer, 10000);
  // The final offsets are committed before leaving, as mgitd does on shutdown.
  rd_kafka_commit(consumer, nullptr, 0);
  const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
  std::printf("passthrough results=%ld failed=%ld wall_ms=%lld\n", state.acknowledged, state.failed,
              static_cast<long long>(wall));
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  rd_kafka_destroy(producer);
  return state.failed == 0 ? 0 : 1;
}
