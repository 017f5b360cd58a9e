#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "commands.hpp"

namespace mgit::mgitctl {
namespace {

constexpr int kRecommendedReplicationFactor = 3;
constexpr int kRecommendedMinInsyncReplicas = 2;
constexpr std::string_view kMinInsyncReplicas = "min.insync.replicas";
constexpr std::string_view kMaxMessageBytes = "max.message.bytes";
// What a topic accepts when neither it nor the broker says otherwise (Kafka's default).
constexpr long long kBrokerDefaultMaxMessageBytes = 1048588;
// Room on the DLQ for the headers mgitd adds to a copy of the largest jobs record.
constexpr long long kDlqHeaderHeadroomBytes = 65536;

/// Waits for the one admin result event posted to `queue`.
EventPtr await_admin_result(rd_kafka_queue_t* queue, int timeout_ms, const char* what) {
  EventPtr event(rd_kafka_queue_poll(queue, timeout_ms + 5000));
  if (!event) {
    throw CtlError(fmt::format(
        "{}: no answer from the cluster within {} ms (check --brokers or MGITD_BROKERS; "
        "--request-timeout waits longer)",
        what, timeout_ms));
  }
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

/// The values of `names` in each topic's effective configuration (broker defaults included);
/// topics the cluster did not describe are absent.
std::map<std::string, std::map<std::string, std::string>> describe_topic_configs(
    rd_kafka_t* client, const std::vector<std::string>& topics,
    const std::vector<std::string_view>& names, int timeout_ms) {
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
  std::map<std::string, std::map<std::string, std::string>> out;
  for (size_t i = 0; i < count; ++i) {
    if (rd_kafka_ConfigResource_error(described[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    size_t entry_count = 0;
    const rd_kafka_ConfigEntry_t** entries =
        rd_kafka_ConfigResource_configs(described[i], &entry_count);
    for (size_t j = 0; j < entry_count; ++j) {
      const std::string_view name = rd_kafka_ConfigEntry_name(entries[j]);
      const char* value = rd_kafka_ConfigEntry_value(entries[j]);
      if (value != nullptr && std::find(names.begin(), names.end(), name) != names.end()) {
        out[rd_kafka_ConfigResource_name(described[i])][std::string(name)] = value;
      }
    }
  }
  return out;
}

/// A numeric config value, if the topic was described and the value is a number.
std::optional<long long> config_number(
    const std::map<std::string, std::map<std::string, std::string>>& configs,
    const std::string& topic, const std::string& name) {
  const auto found = configs.find(topic);
  if (found == configs.end()) return std::nullopt;
  const auto value = found->second.find(name);
  if (value == found->second.end()) return std::nullopt;
  try {
    return std::stoll(value->second);
  } catch (const std::logic_error&) {
    return std::nullopt;
  }
}

/// Creates `names` with the given settings and prints one line per topic; returns whether
/// all of them exist now.
bool create_topics(rd_kafka_t* client, const std::vector<std::string>& names,
                   const TopicsCreateOptions& options,
                   const std::vector<std::pair<std::string, std::string>>& configs,
                   int timeout_ms) {
  std::vector<NewTopicPtr> owned;
  std::vector<rd_kafka_NewTopic_t*> topics;
  std::string described;
  for (const auto& [key, value] : configs) described += fmt::format(" {}={}", key, value);
  for (const auto& name : names) {
    char errstr[512];
    NewTopicPtr topic(rd_kafka_NewTopic_new(name.c_str(), options.partitions,
                                            options.replication_factor, errstr, sizeof errstr));
    if (!topic) throw CtlError(fmt::format("topic {}: {}", name, errstr));
    for (const auto& [key, value] : configs) {
      if (rd_kafka_NewTopic_set_config(topic.get(), key.c_str(), value.c_str()) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw CtlError(fmt::format("topic {}: cannot set {}", name, key));
      }
    }
    topics.push_back(topic.get());
    owned.push_back(std::move(topic));
  }

  QueuePtr queue(rd_kafka_queue_new(client));
  const auto admin = admin_options(client, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms);
  rd_kafka_CreateTopics(client, topics.data(), topics.size(), admin.get(), queue.get());
  const EventPtr event = await_admin_result(queue.get(), timeout_ms, "create topics");
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &count);
  bool ok = true;
  for (size_t i = 0; i < count; ++i) {
    const char* name = rd_kafka_topic_result_name(results[i]);
    switch (const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]); err) {
      case RD_KAFKA_RESP_ERR_NO_ERROR:
        fmt::print("created {} partitions={} replication-factor={}{}\n", name, options.partitions,
                   options.replication_factor, described);
        break;
      case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        fmt::print("exists {}\n", name);
        break;
      default: {
        const char* message = rd_kafka_topic_result_error_string(results[i]);
        fmt::print(stderr, "error {}: {}\n", name,
                   message != nullptr ? message : rd_kafka_err2str(err));
        ok = false;
      }
    }
  }
  std::fflush(stdout);
  return ok;
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
  const KafkaPtr client = make_client(RD_KAFKA_PRODUCER, make_conf(kafka));
  const std::vector<std::pair<std::string, std::string>> configs = {
      {std::string(kMinInsyncReplicas), std::to_string(min_isr)}};

  // The jobs topic first: the DLQ is sized from the largest record it accepts.
  // The audit topic is made like the results topic: acks=all needs min.insync.replicas
  // in-sync copies, so an acknowledged security event survives a broker's loss.
  bool ok = create_topics(client.get(), {kafka.jobs_topic, kafka.results_topic, kafka.audit_topic},
                          options, configs, kafka.timeout_ms);
  if (ok) {
    // A broker that does not know the new topic yet could not describe it.
    await_leaders(client.get(), {kafka.jobs_topic}, kafka.timeout_ms);
    const auto jobs_limit =
        config_number(describe_topic_configs(client.get(), {kafka.jobs_topic}, {kMaxMessageBytes},
                                             kafka.timeout_ms),
                      kafka.jobs_topic, std::string(kMaxMessageBytes));
    if (!jobs_limit) {
      fmt::print(stderr, "mgitctl: {} of {} unknown; sizing the DLQ for Kafka's default {}\n",
                 kMaxMessageBytes, kafka.jobs_topic, kBrokerDefaultMaxMessageBytes);
    }
    auto dlq_configs = configs;
    dlq_configs.emplace_back(std::string(kMaxMessageBytes),
                             std::to_string(jobs_limit.value_or(kBrokerDefaultMaxMessageBytes) +
                                            kDlqHeaderHeadroomBytes));
    ok = create_topics(client.get(), {kafka.dlq_topic}, options, dlq_configs, kafka.timeout_ms);
  }
  if (ok) {
    await_leaders(client.get(),
                  {kafka.jobs_topic, kafka.results_topic, kafka.dlq_topic, kafka.audit_topic},
                  kafka.timeout_ms);
  }
  return ok ? kExitOk : kExitFailed;
}

int run_topics_check(const KafkaOptions& kafka, const TopicsCheckOptions& options) {
  const KafkaPtr client = make_client(RD_KAFKA_PRODUCER, make_conf(kafka));
  const MetadataPtr metadata = fetch_metadata(client.get(), kafka.timeout_ms);

  const std::vector<std::string> names{kafka.jobs_topic, kafka.results_topic, kafka.dlq_topic,
                                       kafka.audit_topic};
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
  const auto configs =
      present.empty()
          ? std::map<std::string, std::map<std::string, std::string>>{}
          : describe_topic_configs(client.get(), present, {kMinInsyncReplicas, kMaxMessageBytes},
                                   kafka.timeout_ms);
  const auto jobs_limit = config_number(configs, kafka.jobs_topic, std::string(kMaxMessageBytes));

  bool warned = false;
  for (const auto& name : present) {
    const auto* topic = find_topic(*metadata, name);
    int replication = topic->partition_cnt > 0 ? topic->partitions[0].replica_cnt : 0;
    int insync = replication;
    for (int p = 0; p < topic->partition_cnt; ++p) {
      replication = std::min(replication, topic->partitions[p].replica_cnt);
      insync = std::min(insync, topic->partitions[p].isr_cnt);
    }
    const auto min_isr = config_number(configs, name, std::string(kMinInsyncReplicas));
    const auto max_bytes = config_number(configs, name, std::string(kMaxMessageBytes));
    const auto known = [](const std::optional<long long>& value) {
      return value ? std::to_string(*value) : std::string("unknown");
    };

    std::vector<std::string> warnings;
    if (replication < kRecommendedReplicationFactor) {
      warnings.push_back(fmt::format("replication factor {} is below the recommended {}",
                                     replication, kRecommendedReplicationFactor));
    }
    if (min_isr) {
      if (*min_isr > replication) {
        warnings.push_back(fmt::format(
            "min.insync.replicas {} exceeds the replication factor: acks=all produces fail",
            *min_isr));
      } else if (replication >= kRecommendedReplicationFactor &&
                 *min_isr < kRecommendedMinInsyncReplicas) {
        warnings.push_back(fmt::format("min.insync.replicas {} is below the recommended {}",
                                       *min_isr, kRecommendedMinInsyncReplicas));
      } else if (replication > 1 && *min_isr == replication) {
        warnings.emplace_back(
            "min.insync.replicas equals the replication factor: one broker down "
            "stops all produces");
      }
    }
    if (insync < replication) {
      warnings.push_back(
          fmt::format("a partition has only {} of {} replicas in sync", insync, replication));
    }
    if (name == kafka.dlq_topic && jobs_limit && max_bytes &&
        *max_bytes < *jobs_limit + kDlqHeaderHeadroomBytes) {
      warnings.push_back(fmt::format(
          "max.message.bytes {} is below the jobs topic's {} plus {} for mgitd's headers: DLQ "
          "copies of the largest jobs records are reduced to their headers",
          *max_bytes, *jobs_limit, kDlqHeaderHeadroomBytes));
    }
    fmt::print(
        "{} {} partitions={} replication-factor={} min.insync.replicas={} "
        "max.message.bytes={}\n",
        warnings.empty() ? "ok" : "warn", name, topic->partition_cnt, replication, known(min_isr),
        known(max_bytes));
    for (const auto& warning : warnings) fmt::print("  warning: {}\n", warning);
    warned = warned || !warnings.empty();
  }
  std::fflush(stdout);
  if (missing) return kExitFailed;
  return warned && options.strict ? kExitFailed : kExitOk;
}

}  // namespace mgit::mgitctl
