#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "commands.hpp"

namespace mgit::mgitctl {
namespace {

constexpr int kRecommendedReplicationFactor = 3;
constexpr int kRecommendedMinInsyncReplicas = 2;

/// Waits for the one admin result event posted to `queue`.
EventPtr await_admin_result(rd_kafka_queue_t* queue, int timeout_ms, const char* what) {
  EventPtr event(rd_kafka_queue_poll(queue, timeout_ms + 5000));
  if (!event) throw CtlError(fmt::format("{}: no answer from the cluster", what));
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw CtlError(fmt::format("{}: {}", what, rd_kafka_event_error_string(event.get())));
  }
  return event;
}

AdminOptionsPtr admin_options(rd_kafka_t* client, rd_kafka_admin_op_t op, int timeout_ms) {
  AdminOptionsPtr options(rd_kafka_AdminOptions_new(client, op));
  char errstr[256];
  rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, errstr, sizeof errstr);
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), timeout_ms, errstr, sizeof errstr);
  return options;
}

/// `min.insync.replicas` of each topic; absent for topics the cluster did not describe.
std::map<std::string, int> describe_min_insync_replicas(rd_kafka_t* client,
                                                        const std::vector<std::string>& topics,
                                                        int timeout_ms) {
  std::vector<ConfigResourcePtr> owned;
  std::vector<rd_kafka_ConfigResource_t*> resources;
  for (const auto& topic : topics) {
    owned.emplace_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
    resources.push_back(owned.back().get());
  }
  QueuePtr queue(rd_kafka_queue_new(client));
  const auto options = admin_options(client, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms);
  rd_kafka_DescribeConfigs(client, resources.data(), resources.size(), options.get(), queue.get());
  const EventPtr event = await_admin_result(queue.get(), timeout_ms, "describe topic configs");
  const auto* result = rd_kafka_event_DescribeConfigs_result(event.get());
  size_t count = 0;
  const rd_kafka_ConfigResource_t** described =
      rd_kafka_DescribeConfigs_result_resources(result, &count);
  std::map<std::string, int> out;
  for (size_t i = 0; i < count; ++i) {
    if (rd_kafka_ConfigResource_error(described[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    size_t entry_count = 0;
    const rd_kafka_ConfigEntry_t** entries =
        rd_kafka_ConfigResource_configs(described[i], &entry_count);
    for (size_t j = 0; j < entry_count; ++j) {
      const char* value = rd_kafka_ConfigEntry_value(entries[j]);
      if (std::string_view(rd_kafka_ConfigEntry_name(entries[j])) == "min.insync.replicas" &&
          value != nullptr) {
        out[rd_kafka_ConfigResource_name(described[i])] = std::atoi(value);
      }
    }
  }
  return out;
}

/// Waits until every partition of `names` has a leader, so a script can produce right after
/// `topics create`. Only warns on timeout: the topics exist, they are just not ready yet.
void await_leaders(rd_kafka_t* client, const std::vector<std::string>& names, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const MetadataPtr metadata = fetch_metadata(client, timeout_ms);
    bool ready = true;
    for (const auto& name : names) {
      const auto* topic = find_topic(*metadata, name);
      ready = ready && topic != nullptr && topic->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
              topic->partition_cnt > 0;
      for (int p = 0; ready && p < topic->partition_cnt; ++p) {
        ready = topic->partitions[p].leader >= 0 &&
                topic->partitions[p].err == RD_KAFKA_RESP_ERR_NO_ERROR;
      }
    }
    if (ready) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      fmt::print(stderr, "mgitctl: topics created but not every partition has a leader yet\n");
      return;
    }
    // Polling metadata is the only readiness signal the admin API offers.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

int run_topics_create(const KafkaOptions& kafka, const TopicsCreateOptions& options) {
  if (options.partitions < 1 || options.replication_factor < 1 || options.min_insync_replicas < 1) {
    throw CtlError("--partitions, --replication-factor and --min-insync-replicas must be >= 1");
  }
  // More in-sync replicas than replicas would make every acks=all produce fail.
  const int min_isr = std::min(options.min_insync_replicas, options.replication_factor);
  const std::string min_isr_text = std::to_string(min_isr);
  const KafkaPtr client = make_client(RD_KAFKA_PRODUCER, make_conf(kafka));

  const std::vector<std::string> names{kafka.jobs_topic, kafka.results_topic, kafka.dlq_topic};
  std::vector<NewTopicPtr> owned;
  std::vector<rd_kafka_NewTopic_t*> topics;
  for (const auto& name : names) {
    char errstr[512];
    NewTopicPtr topic(rd_kafka_NewTopic_new(name.c_str(), options.partitions,
                                            options.replication_factor, errstr, sizeof errstr));
    if (!topic) throw CtlError(fmt::format("topic {}: {}", name, errstr));
    if (rd_kafka_NewTopic_set_config(topic.get(), "min.insync.replicas", min_isr_text.c_str()) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw CtlError(fmt::format("topic {}: cannot set min.insync.replicas", name));
    }
    topics.push_back(topic.get());
    owned.push_back(std::move(topic));
  }

  QueuePtr queue(rd_kafka_queue_new(client.get()));
  const auto admin = admin_options(client.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, kafka.timeout_ms);
  rd_kafka_CreateTopics(client.get(), topics.data(), topics.size(), admin.get(), queue.get());
  const EventPtr event = await_admin_result(queue.get(), kafka.timeout_ms, "create topics");
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &count);
  int exit_code = kExitOk;
  for (size_t i = 0; i < count; ++i) {
    const char* name = rd_kafka_topic_result_name(results[i]);
    switch (const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]); err) {
      case RD_KAFKA_RESP_ERR_NO_ERROR:
        fmt::print("created {} partitions={} replication-factor={} min.insync.replicas={}\n", name,
                   options.partitions, options.replication_factor, min_isr);
        break;
      case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        fmt::print("exists {}\n", name);
        break;
      default: {
        const char* message = rd_kafka_topic_result_error_string(results[i]);
        fmt::print(stderr, "error {}: {}\n", name,
                   message != nullptr ? message : rd_kafka_err2str(err));
        exit_code = kExitFailed;
      }
    }
  }
  std::fflush(stdout);
  if (exit_code == kExitOk) await_leaders(client.get(), names, kafka.timeout_ms);
  return exit_code;
}

int run_topics_check(const KafkaOptions& kafka, const TopicsCheckOptions& options) {
  const KafkaPtr client = make_client(RD_KAFKA_PRODUCER, make_conf(kafka));
  const MetadataPtr metadata = fetch_metadata(client.get(), kafka.timeout_ms);

  const std::vector<std::string> names{kafka.jobs_topic, kafka.results_topic, kafka.dlq_topic};
  std::vector<std::string> present;
  bool missing = false;
  for (const auto& name : names) {
    if (find_topic(*metadata, name) != nullptr) {
      present.push_back(name);
    } else {
      fmt::print("missing {}\n", name);
      missing = true;
    }
  }
  const auto min_isr = present.empty()
                           ? std::map<std::string, int>{}
                           : describe_min_insync_replicas(client.get(), present, kafka.timeout_ms);

  bool warned = false;
  for (const auto& name : present) {
    const auto* topic = find_topic(*metadata, name);
    int replication = topic->partition_cnt > 0 ? topic->partitions[0].replica_cnt : 0;
    int insync = replication;
    for (int p = 0; p < topic->partition_cnt; ++p) {
      replication = std::min(replication, topic->partitions[p].replica_cnt);
      insync = std::min(insync, topic->partitions[p].isr_cnt);
    }
    const auto isr_it = min_isr.find(name);
    const std::string min_isr_text =
        isr_it == min_isr.end() ? std::string("unknown") : std::to_string(isr_it->second);

    std::vector<std::string> warnings;
    if (replication < kRecommendedReplicationFactor) {
      warnings.push_back(fmt::format("replication factor {} is below the recommended {}",
                                     replication, kRecommendedReplicationFactor));
    }
    if (isr_it != min_isr.end()) {
      if (isr_it->second > replication) {
        warnings.push_back(fmt::format(
            "min.insync.replicas {} exceeds the replication factor: acks=all produces fail",
            isr_it->second));
      } else if (replication >= kRecommendedReplicationFactor &&
                 isr_it->second < kRecommendedMinInsyncReplicas) {
        warnings.push_back(fmt::format("min.insync.replicas {} is below the recommended {}",
                                       isr_it->second, kRecommendedMinInsyncReplicas));
      } else if (replication > 1 && isr_it->second == replication) {
        warnings.emplace_back(
            "min.insync.replicas equals the replication factor: one broker down "
            "stops all produces");
      }
    }
    if (insync < replication) {
      warnings.push_back(
          fmt::format("a partition has only {} of {} replicas in sync", insync, replication));
    }
    fmt::print("{} {} partitions={} replication-factor={} min.insync.replicas={}\n",
               warnings.empty() ? "ok" : "warn", name, topic->partition_cnt, replication,
               min_isr_text);
    for (const auto& warning : warnings) fmt::print("  warning: {}\n", warning);
    warned = warned || !warnings.empty();
  }
  std::fflush(stdout);
  if (missing) return kExitFailed;
  return warned && options.strict ? kExitFailed : kExitOk;
}

}  // namespace mgit::mgitctl
