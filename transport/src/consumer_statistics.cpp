#include "mgit/transport/consumer_statistics.hpp"

#include <rapidjson/document.h>

namespace mgit::transport {
namespace {

// Through const references only: RapidJSON 1.1's iterator comparisons are ambiguous in C++20
// (clang's -Wambiguous-reversed-operator) unless both sides have the same constness.
const rapidjson::Value* member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  const auto found = object.FindMember(name);
  return found == object.MemberEnd() ? nullptr : &found->value;
}

}  // namespace

std::optional<ConsumerStatistics> parse_consumer_statistics(std::string_view json,
                                                            const std::string& topic) {
  rapidjson::Document parsed;
  parsed.Parse(json.data(), json.size());
  if (parsed.HasParseError() || !parsed.IsObject()) return std::nullopt;
  const rapidjson::Value& doc = parsed;

  ConsumerStatistics stats;
  if (const auto* brokers = member(doc, "brokers"); brokers != nullptr && brokers->IsObject()) {
    for (const auto& entry : brokers->GetObject()) {
      const auto* nodeid = member(entry.value, "nodeid");
      const auto* state = member(entry.value, "state");
      if (nodeid == nullptr || !nodeid->IsInt() || state == nullptr || !state->IsString()) {
        continue;
      }
      // Bootstrap entries (nodeid -1) stay around after metadata names the real brokers;
      // only a real broker's connection says the cluster answers.
      if (nodeid->GetInt() >= 0 && std::string_view(state->GetString()) == "UP") {
        ++stats.brokers_up;
      }
    }
  }
  stats.broker_reachable = stats.brokers_up > 0;

  const auto* topics = member(doc, "topics");
  const auto* ours = topics != nullptr ? member(*topics, topic.c_str()) : nullptr;
  const auto* partitions = ours != nullptr ? member(*ours, "partitions") : nullptr;
  if (partitions == nullptr || !partitions->IsObject()) return stats;
  for (const auto& entry : partitions->GetObject()) {
    const auto* id = member(entry.value, "partition");
    if (id == nullptr || !id->IsInt() || id->GetInt() < 0) {
      continue;  // -1 is librdkafka's internal UA partition
    }
    // Only partitions this consumer fetches: "fetch_state" is "none" for others.
    const auto* fetch_state = member(entry.value, "fetch_state");
    if (fetch_state == nullptr || !fetch_state->IsString() ||
        std::string_view(fetch_state->GetString()) == "none") {
      continue;
    }
    std::int64_t lag = -1;
    if (const auto* value = member(entry.value, "consumer_lag");
        value != nullptr && value->IsInt64()) {
      lag = value->GetInt64();
    }
    stats.lag.push_back(PartitionLag{TopicPartition{topic, id->GetInt()}, lag});
  }
  return stats;
}

}  // namespace mgit::transport
