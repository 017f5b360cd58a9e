// mgitctl fleet: the newest result of every repository, read from the results topic.

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "commands.hpp"
#include "consume.hpp"
#include "fleet_model.hpp"

namespace mgit::mgitctl {
namespace {

/// Where reading starts in each partition: `low` of each range is moved to it.
void apply_from_offset(const std::string& from, std::vector<PartitionRange>& ranges) {
  if (from.empty() || from == "beginning") return;
  if (from == "end") {
    for (auto& range : ranges) range.low = range.high;
    return;
  }
  char* end = nullptr;
  const long long offset = std::strtoll(from.c_str(), &end, 10);
  if (from.empty() || *end != '\0' || offset < 0) {
    throw CtlError(fmt::format(
        "--from-offset '{}' is not beginning, end or a non-negative offset (e.g. --from-offset "
        "1200, applied to every partition)",
        from));
  }
  for (auto& range : ranges) range.low = std::clamp<std::int64_t>(offset, range.low, range.high);
}

/// The first offset at or after `since` in each partition, by the broker's record timestamps.
void apply_since(const KafkaOptions& kafka, const std::string& topic, const std::string& since,
                 std::vector<PartitionRange>& ranges) {
  SystemTime from;
  if (const auto duration = parse_duration(since)) {
    from = std::chrono::system_clock::now() - *duration;
  } else if (const auto time = parse_rfc3339(since)) {
    from = *time;
  } else {
    throw CtlError(fmt::format(
        "--since '{}' is neither a duration (90s, 30m, 24h, 7d, 1h30m) nor an RFC 3339 time "
        "(2026-11-23T09:41:07Z)",
        since));
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(from.time_since_epoch()).count();
  const KafkaPtr client =
      make_client(RD_KAFKA_CONSUMER, make_conf(kafka, {{"group.id", "mgitctl"}}));
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())));
  for (const auto& range : ranges) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), range.partition)->offset = ms;
  }
  const rd_kafka_resp_err_t err =
      rd_kafka_offsets_for_times(client.get(), list.get(), kafka.timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw CtlError(
        fmt::format("cannot look up offsets of {} by time: {} (check --brokers or MGITD_BROKERS; "
                    "--from-offset avoids the lookup)",
                    topic, rd_kafka_err2str(err)));
  }
  for (auto& range : ranges) {
    const auto* found =
        rd_kafka_topic_partition_list_find(list.get(), topic.c_str(), range.partition);
    // -1: no record that new; the partition contributes nothing.
    if (found == nullptr || found->err != RD_KAFKA_RESP_ERR_NO_ERROR || found->offset < 0) {
      range.low = range.high;
    } else {
      range.low = std::clamp<std::int64_t>(found->offset, range.low, range.high);
    }
  }
}

}  // namespace

int run_fleet(const KafkaOptions& kafka, const FleetOptions& options) {
  std::optional<std::chrono::seconds> stale_after;
  if (!options.stale_after.empty()) {
    stale_after = parse_duration(options.stale_after);
    if (!stale_after) {
      throw CtlError(
          fmt::format("--stale-after '{}' is not a duration (e.g. 90s, 30m, 24h, 7d, 1h30m)",
                      options.stale_after));
    }
  }
  ReadPlan plan;
  plan.topic = kafka.results_topic;
  {
    const KafkaPtr client = make_client(RD_KAFKA_PRODUCER, make_conf(kafka));
    plan.ranges = watermarks(client.get(), plan.topic, kafka.timeout_ms);
  }
  if (!options.since.empty()) {
    apply_since(kafka, plan.topic, options.since, plan.ranges);
  } else {
    apply_from_offset(options.from_offset, plan.ranges);
  }
  // Up to the end offsets captured now, then stop: a live topic never makes it wait forever.
  plan.from_low = true;
  plan.until_high = true;
  plan.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.timeout_seconds);

  Fleet fleet;
  std::size_t skipped = 0;
  const ReadEnd end = read_topic(kafka, plan, [&](const rd_kafka_message_t& message) {
    std::optional<std::string_view> key;
    if (message.key != nullptr) key = {static_cast<const char*>(message.key), message.key_len};
    const std::string_view value =
        message.payload != nullptr
            ? std::string_view(static_cast<const char*>(message.payload), message.len)
            : std::string_view();
    rd_kafka_timestamp_type_t type;
    const std::int64_t timestamp = rd_kafka_message_timestamp(&message, &type);
    if (!fleet.add(key, value, timestamp)) ++skipped;
    return true;
  });

  const auto now = std::chrono::system_clock::now();
  const auto rows = fleet.rows(now, stale_after);
  if (options.json) {
    fmt::print("{}\n", render_fleet_json(rows));
  } else if (!rows.empty()) {
    fmt::print("{}", render_fleet_table(rows, now));
  }
  std::fflush(stdout);
  if (rows.empty() && !options.json) {
    fmt::print(stderr, "mgitctl: no results in {} for this range (--since, --from-offset)\n",
               plan.topic);
  }
  if (skipped > 0) {
    fmt::print(stderr, "mgitctl: skipped {} record(s) of {} that are not results\n", skipped,
               plan.topic);
  }
  if (end == ReadEnd::kTimedOut) {
    fmt::print(stderr,
               "mgitctl: timed out after {}s before reaching the end of {}; the list above is "
               "partial (--timeout waits longer, --since reads less)\n",
               options.timeout_seconds, plan.topic);
    return kExitTimeout;
  }
  const bool bad = std::any_of(rows.begin(), rows.end(),
                               [](const FleetEntry& row) { return row.failing || row.stale; });
  return bad ? kExitFailed : kExitOk;
}

}  // namespace mgit::mgitctl
