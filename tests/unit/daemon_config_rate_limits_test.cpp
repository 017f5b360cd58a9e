// The host_* settings (docs/rate-limits.md): every source, precedence, validation, --help and
// how they reach the scheduler.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "config_rate_limits.hpp"
#include "mgit/daemon/config.hpp"
#include "mgit/daemon/pipeline_settings.hpp"
#include "support/config_load_test.hpp"

namespace mgit::daemon {
namespace {

using execution::HostLimit;
using ::testing::HasSubstr;

class RateLimitConfigTest : public test_support::ConfigLoadTest {
 protected:
  void SetUp() override {
    file_ = std::filesystem::temp_directory_path() /
            ("mgitd_rate_limit_config_" + std::to_string(::getpid()) + ".toml");
  }
  void TearDown() override { std::filesystem::remove(file_); }

  std::filesystem::path file_;
};

TEST_F(RateLimitConfigTest, DefaultsLimitNothingButCoolDown) {
  const auto result = load({});
  ASSERT_TRUE(result.config) << err_;
  const auto hosts = pipeline_settings(*result.config).scheduler.hosts;
  EXPECT_EQ(hosts.defaults, HostLimit{});
  EXPECT_TRUE(hosts.overrides.empty());
  EXPECT_EQ(hosts.cooldown_base, std::chrono::seconds(5));
  EXPECT_EQ(hosts.cooldown_max, std::chrono::seconds(300));
  EXPECT_EQ(hosts.wait_share_percent, 50);
  EXPECT_EQ(hosts.partition_share(), 32u) << "50 % of max_buffered_per_partition 64";
  EXPECT_EQ(hosts.global_share(), 128u) << "50 % of max_in_flight 256";
}

TEST_F(RateLimitConfigTest, EverySourceSetsThemFlagBeatsEnvBeatsFile) {
  std::ofstream(file_)
      << "host_max_concurrent_jobs = 2\n"
         "host_jobs_per_minute = 60\n"
         "host_limits = [\"github.com=concurrency:16,per_minute:3000,burst:100\"]\n"
         "host_cooldown_seconds = 7\n";
  env_["MGITD_HOST_JOBS_PER_MINUTE"] = "120";
  env_["MGITD_HOST_COOLDOWN_MAX_SECONDS"] = "60";
  const auto result = load({"--config", file_.string(), "--host-cooldown-seconds", "3",
                            "--host-burst", "4", "--host-wait-share-percent", "25"});
  ASSERT_TRUE(result.config) << err_;
  const auto hosts = pipeline_settings(*result.config).scheduler.hosts;
  EXPECT_EQ(hosts.defaults, (HostLimit{2, 120, 4}));
  EXPECT_EQ(hosts.overrides.at("github.com"), (HostLimit{16, 3000, 100}));
  EXPECT_EQ(hosts.cooldown_base, std::chrono::seconds(3));
  EXPECT_EQ(hosts.cooldown_max, std::chrono::seconds(60));
  EXPECT_EQ(hosts.wait_share_percent, 25);
}

TEST_F(RateLimitConfigTest, HostLimitsFromTheEnvironmentAreSemicolonSeparated) {
  env_["MGITD_HOST_MAX_CONCURRENT_JOBS"] = "3";
  env_["MGITD_HOST_LIMITS"] =
      "GitHub.com=concurrency:8,per_minute:600 ; git.example.com:8443=burst:2";
  const auto result = load({});
  ASSERT_TRUE(result.config) << err_;
  const auto hosts = pipeline_settings(*result.config).scheduler.hosts;
  ASSERT_EQ(hosts.overrides.size(), 2u);
  EXPECT_EQ(hosts.overrides.at("github.com"), (HostLimit{8, 600, 0}));
  EXPECT_EQ(hosts.overrides.at("git.example.com:8443"), (HostLimit{3, 0, 2}))
      << "fields an override leaves out keep the defaults";
  EXPECT_EQ(hosts.limit_for("other.example"), (HostLimit{3, 0, 0}));
}

TEST_F(RateLimitConfigTest, AFlagTakesHostLimitsWhole) {
  env_["MGITD_HOST_LIMITS"] = "a.example=concurrency:1;b.example=concurrency:2";
  const auto result = load({"--host-limits", "c.example=concurrency:3"});
  ASSERT_TRUE(result.config) << err_;
  EXPECT_EQ(result.config->host_limits, std::vector<std::string>{"c.example=concurrency:3"});
}

TEST_F(RateLimitConfigTest, InvalidValuesExitWithTwoAndSayWhy) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--host-limits", "github.com"}, "is not HOST=concurrency:N"},
      {{"--host-limits", "github.com=speed:3"}, "unknown limit 'speed'"},
      {{"--host-limits", "github.com=concurrency:-1"}, "is not NAME:N"},
      {{"--host-limits", "github.com=concurrency:x"}, "is not NAME:N"},
      {{"--host-limits", "github.com="}, "no limit given"},
      {{"--host-limits", "https://github.com/=burst:1"}, "is not a host"},
      {{"--host-limits", "=burst:1"}, "is not a host"},
      {{"--host-max-concurrent-jobs", "-1"}, "host-max-concurrent-jobs"},
      {{"--host-jobs-per-minute", "1000001"}, "host-jobs-per-minute"},
      {{"--host-cooldown-seconds", "0"}, "host-cooldown-seconds"},
      {{"--host-cooldown-max-seconds", "86401"}, "host-cooldown-max-seconds"},
      {{"--host-wait-share-percent", "0"}, "host-wait-share-percent"},
      {{"--host-wait-share-percent", "101"}, "host-wait-share-percent"},
  };
  for (const auto& [args, expected] : cases) {
    SCOPED_TRACE(args.back());
    const auto result = load(args);
    EXPECT_FALSE(result.config);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_THAT(err_, HasSubstr(expected));
  }
  env_["MGITD_HOST_LIMITS"] = "ok.example=burst:1;bad.example=burst";
  EXPECT_FALSE(load({}).config);
  EXPECT_THAT(err_, HasSubstr("environment MGITD_HOST_LIMITS"));
}

TEST_F(RateLimitConfigTest, TheMaxCoolDownIsNeverBelowTheFirst) {
  const auto result = load({"--host-cooldown-seconds", "600", "--host-cooldown-max-seconds", "60"});
  ASSERT_TRUE(result.config) << err_;
  const auto hosts = pipeline_settings(*result.config).scheduler.hosts;
  EXPECT_EQ(hosts.cooldown_max, std::chrono::seconds(600));
}

TEST_F(RateLimitConfigTest, HelpAndTheStartupLineNameThem) {
  load({"--help"});
  for (const char* flag :
       {"--host-max-concurrent-jobs", "--host-jobs-per-minute", "--host-burst", "--host-limits",
        "--host-cooldown-seconds", "--host-cooldown-max-seconds", "--host-wait-share-percent",
        "MGITD_HOST_LIMITS"}) {
    EXPECT_THAT(out_, HasSubstr(flag));
  }
  const auto result = load({"--host-limits", "github.com=concurrency:16"});
  ASSERT_TRUE(result.config) << err_;
  const auto described = describe_config(*result.config);
  EXPECT_THAT(described, HasSubstr("\"host_limits\":[\"github.com=concurrency:16\"]"));
  EXPECT_THAT(described, HasSubstr("\"host_wait_share_percent\":50"));
}

}  // namespace
}  // namespace mgit::daemon
