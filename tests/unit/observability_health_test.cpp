#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "mgit/observability/health.hpp"

namespace mgit::observability {
namespace {

using namespace std::chrono_literals;
using Clock = HealthMonitor::Clock;

const HealthCheck* find(const HealthReport& report, const std::string& name) {
  for (const auto& check : report.checks) {
    if (check.name == name) return &check;
  }
  return nullptr;
}

HealthSettings settings() {
  HealthSettings s;
  s.broker_unready_grace = 60s;
  s.stuck_grace = 30s;
  s.loop_stall_limit = 15s;
  s.min_free_disk_percent = 10;
  return s;
}

class HealthTest : public ::testing::Test {
 protected:
  Clock::time_point t0 = Clock::time_point{} + 1000h;
  HealthMonitor health{settings(), t0};
};

TEST_F(HealthTest, NotReadyUntilStartedThenNamesEveryCheck) {
  auto report = health.readiness(t0);
  EXPECT_FALSE(report.ok);
  ASSERT_NE(find(report, "started"), nullptr);
  EXPECT_FALSE(find(report, "started")->ok);
  health.set_started(true);
  report = health.readiness(t0);
  EXPECT_TRUE(report.ok);
  for (const auto* name :
       {"started", "intake", "workspace_writable", "disk_free", "broker_reachable"}) {
    ASSERT_NE(find(report, name), nullptr) << name;
    EXPECT_TRUE(find(report, name)->ok) << name;
  }
}

TEST_F(HealthTest, BrokerLossFailsReadinessOnlyAfterTheGrace) {
  health.set_started(true);
  health.report_broker(false, t0);
  // Repeated reports while down keep the first moment it went away.
  health.report_broker(false, t0 + 30s);
  EXPECT_TRUE(health.readiness(t0 + 59s).ok) << "a blip shorter than the grace stays ready";
  const auto late = health.readiness(t0 + 60s);
  EXPECT_FALSE(late.ok);
  EXPECT_FALSE(find(late, "broker_reachable")->ok);
  EXPECT_NE(find(late, "broker_reachable")->detail.find("60s"), std::string::npos);
  health.report_broker(true, t0 + 61s);
  EXPECT_TRUE(health.readiness(t0 + 61s).ok);
  // A new outage starts a new grace.
  health.report_broker(false, t0 + 100s);
  EXPECT_TRUE(health.readiness(t0 + 159s).ok);
  EXPECT_FALSE(health.readiness(t0 + 160s).ok);
}

TEST_F(HealthTest, WorkspaceAndDiskAndIntake) {
  health.set_started(true);
  health.report_workspace(true, 9.5, "");
  auto report = health.readiness(t0);
  EXPECT_FALSE(report.ok);
  EXPECT_FALSE(find(report, "disk_free")->ok);
  EXPECT_TRUE(find(report, "workspace_writable")->ok);
  health.report_workspace(false, 50.0, "cannot create probe: Read-only file system");
  report = health.readiness(t0);
  EXPECT_FALSE(find(report, "workspace_writable")->ok);
  EXPECT_EQ(find(report, "workspace_writable")->detail,
            "cannot create probe: Read-only file system");
  EXPECT_TRUE(find(report, "disk_free")->ok);
  health.report_workspace(true, 50.0, "");
  health.set_intake(false, "draining for shutdown");
  report = health.readiness(t0);
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(find(report, "intake")->detail, "draining for shutdown");
}

TEST_F(HealthTest, LivenessFailsForAStalledLoopOrAStuckJob) {
  EXPECT_TRUE(health.liveness(t0 + 14s).ok);
  EXPECT_FALSE(health.liveness(t0 + 15s).ok) << "no heartbeat for the stall limit";
  health.heartbeat(t0 + 20s, std::nullopt);
  EXPECT_TRUE(health.liveness(t0 + 21s).ok);
  health.heartbeat(t0 + 22s, 30s);  // exactly deadline + grace: not yet
  EXPECT_TRUE(health.liveness(t0 + 22s).ok);
  health.heartbeat(t0 + 23s, 31s);
  const auto report = health.liveness(t0 + 23s);
  EXPECT_FALSE(report.ok);
  EXPECT_FALSE(find(report, "stuck_jobs")->ok);
  EXPECT_TRUE(find(report, "event_loop")->ok);
  health.heartbeat(t0 + 24s, std::nullopt);
  EXPECT_TRUE(health.liveness(t0 + 24s).ok);
}

TEST_F(HealthTest, JsonBodyListsChecks) {
  health.set_started(true);
  health.report_workspace(false, 5.0, "quote \" and newline \n");
  rapidjson::Document doc;
  const auto json = health.readiness(t0).to_json();
  doc.Parse(json.c_str());
  ASSERT_FALSE(doc.HasParseError()) << json;
  EXPECT_STREQ(doc["status"].GetString(), "fail");
  ASSERT_TRUE(doc["checks"].IsArray());
  EXPECT_EQ(doc["checks"].Size(), 5u);
  bool saw_workspace = false;
  for (const auto& check : doc["checks"].GetArray()) {
    if (std::string(check["name"].GetString()) == "workspace_writable") {
      saw_workspace = true;
      EXPECT_FALSE(check["ok"].GetBool());
      EXPECT_STREQ(check["detail"].GetString(), "quote \" and newline \n");
    }
  }
  EXPECT_TRUE(saw_workspace);
}

}  // namespace
}  // namespace mgit::observability
