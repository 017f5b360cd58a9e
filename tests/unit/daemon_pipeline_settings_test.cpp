// The pipeline sees only its part of the configuration; these pin how Config maps onto it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <stdexcept>
#include <string>

#include "mgit/daemon/config.hpp"
#include "mgit/daemon/pipeline_settings.hpp"

namespace mgit::daemon {
namespace {

TEST(PipelineSettingsTest, EveryFieldComesFromItsConfigKey) {
  Config config;
  config.workers = 7;
  config.max_attempts = 5;
  config.job_timeout_seconds = 90;
  config.max_message_bytes = 4096;
  config.results_topic = "r";
  config.dlq_topic = "d";
  config.group_id = "g";
  config.max_buffered_per_partition = 9;
  config.max_in_flight = 33;
  config.revoke_grace_seconds = 3;
  config.shutdown_grace_seconds = 4;
  const auto settings = pipeline_settings(config);
  EXPECT_EQ(settings.scheduler.workers, 7);
  EXPECT_EQ(settings.scheduler.max_attempts, 5);
  EXPECT_EQ(settings.scheduler.default_timeout, std::chrono::seconds(90));
  EXPECT_EQ(settings.max_message_bytes, 4096u);
  EXPECT_EQ(settings.results_topic, "r");
  EXPECT_EQ(settings.dlq_topic, "d");
  EXPECT_EQ(settings.group_id, "g");
  EXPECT_EQ(settings.max_buffered_per_partition, 9u);
  EXPECT_EQ(settings.max_in_flight, 33u);
  EXPECT_EQ(settings.revoke_grace, std::chrono::seconds(3));
  EXPECT_EQ(settings.shutdown_grace, std::chrono::seconds(4));
}

TEST(PipelineSettingsTest, TheWorkerIsTheHostName) {
  std::array<char, 256> host{};
  ASSERT_EQ(gethostname(host.data(), host.size() - 1), 0);
  EXPECT_EQ(pipeline_settings(Config{}).worker, std::string(host.data()));
}

TEST(PipelineSettingsTest, TheInFlightFileIsPerReplicaUnderTheWorkspace) {
  Config config;
  config.workspace = "/srv/ws";
  config.group_id = "mgitd";
  config.group_instance_id = "mgitd-0";
  EXPECT_EQ(pipeline_settings(config).in_flight_file,
            "/srv/ws/.mgitd/in-flight/mgitd-mgitd-0.json");
  std::array<char, 256> host{};
  ASSERT_EQ(gethostname(host.data(), host.size() - 1), 0);
  config.group_instance_id.clear();
  config.group_id = "team/a b";
  EXPECT_EQ(pipeline_settings(config).in_flight_file,
            "/srv/ws/.mgitd/in-flight/team_a_b-" + std::string(host.data()) + ".json")
      << "the host name without a static instance id; unsafe characters replaced";
}

TEST(PipelineSettingsTest, AResultLeavesRoomUnderTheBrokersRecordLimit) {
  Config config;
  EXPECT_EQ(pipeline_settings(config).max_result_bytes, 1000000u - 16 * 1024)
      << "the brokers' default limit when message.max.bytes is not set";
  config.kafka_properties = {{"message.max.bytes", "2000000"}};
  EXPECT_EQ(pipeline_settings(config).max_result_bytes, 2000000u - 16 * 1024);
  config.kafka_properties = {{"message.max.bytes", "30000"}};
  EXPECT_EQ(pipeline_settings(config).max_result_bytes, 15000u) << "half of a tiny limit";
  config.kafka_properties = {{"message.max.bytes", "lots"}};
  EXPECT_THROW(pipeline_settings(config), std::invalid_argument);
}

}  // namespace
}  // namespace mgit::daemon
