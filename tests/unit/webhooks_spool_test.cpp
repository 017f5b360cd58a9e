// The spool keeps webhook jobs the broker did not acknowledge; per-source limits and the
// client address behind a trusted proxy.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "mgit/webhooks/source_limits.hpp"
#include "mgit/webhooks/spool.hpp"
#include "support/test_environment.hpp"

namespace mgit::webhooks {
namespace {

using namespace std::chrono_literals;
using test_support::TempDir;

TEST(WebhookSpoolTest, ARecordWrittenIsReadBackWholeUntilRemoved) {
  TempDir dir;
  auto spool = Spool::open(dir.path() / "spool");
  ASSERT_TRUE(spool) << spool.error();
  struct stat status {};
  ASSERT_EQ(::stat((dir.path() / "spool").c_str(), &status), 0);
  EXPECT_EQ(status.st_mode & 0777, 0700U) << "jobs may name credentials: owner only";
  const SpooledRecord record{"github:d-1",
                             "https://git.example.com/acme/app",
                             R"({"job_id":"github:d-1","x":"\u00e9\n"})",
                             {{"correlation-id", "d-1"}, {"traceparent", "00-ab-cd-01"}}};
  ASSERT_TRUE(spool->write(record));
  ASSERT_TRUE(spool->write(SpooledRecord{"gitlab:k", "key", "{}", {}}));
  EXPECT_EQ(spool->job_ids(), (std::vector<std::string>{"github:d-1", "gitlab:k"}));
  EXPECT_TRUE(spool->contains("github:d-1"));
  // Another process (the replica after a restart) reads the same directory.
  auto reopened = Spool::open(dir.path() / "spool");
  ASSERT_TRUE(reopened);
  auto back = reopened->read("github:d-1");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->key, record.key);
  EXPECT_EQ(back->payload, record.payload);
  EXPECT_EQ(back->headers, record.headers);
  reopened->remove("github:d-1");
  EXPECT_FALSE(spool->contains("github:d-1"));
  EXPECT_EQ(spool->job_ids(), std::vector<std::string>{"gitlab:k"});
}

TEST(WebhookSpoolTest, AnUnreadableRecordIsSetAsideNotReplayedForever) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  ASSERT_TRUE(spool);
  std::ofstream(dir.path() / "github:torn.json") << R"({"job_id":"github:torn","key":)";
  std::ofstream(dir.path() / ".tmp-github:half") << "{";
  EXPECT_EQ(spool->job_ids(), std::vector<std::string>{"github:torn"}) << "temporaries skipped";
  const auto torn = spool->read("github:torn");
  ASSERT_FALSE(torn);
  EXPECT_TRUE(torn.error().corrupt);
  EXPECT_TRUE(spool->job_ids().empty());
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "github:torn.json.corrupt"));
  // A crash's temporaries are removed when the spool is opened again.
  ASSERT_TRUE(Spool::open(dir.path()));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / ".tmp-github:half"));
}

TEST(WebhookSpoolTest, AFifoOrASymlinkPlantedThereIsSetAsideWithoutBlocking) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  ASSERT_TRUE(spool);
  ASSERT_EQ(::mkfifo((dir.path() / "github:fifo.json").c_str(), 0600), 0);
  std::ofstream(dir.path() / "elsewhere")
      << R"({"job_id":"github:link","key":"k","payload":"{}","headers":[]})";
  std::filesystem::create_symlink(dir.path() / "elsewhere", dir.path() / "github:link.json");
  for (const std::string id : {"github:fifo", "github:link"}) {
    const auto read = spool->read(id);  // would block forever on a FIFO opened for reading
    ASSERT_FALSE(read) << id;
    EXPECT_TRUE(read.error().corrupt) << id;
  }
  EXPECT_TRUE(spool->job_ids().empty());
}

TEST(WebhookSpoolTest, AFileThatCannotBeOpenedNowIsNotSetAside) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  ASSERT_TRUE(spool);
  ASSERT_TRUE(spool->write(SpooledRecord{"gitea:d", "k", "{}", {}}));
  const auto missing = spool->read("gitea:other");
  ASSERT_FALSE(missing);
  EXPECT_FALSE(missing.error().corrupt) << "an open failure may pass: it is tried again";
  EXPECT_EQ(spool->job_ids(), std::vector<std::string>{"gitea:d"});
}

TEST(WebhookSpoolTest, OpeningFailsWhereNoDirectoryCanBe) {
  TempDir dir;
  std::ofstream(dir.path() / "file") << "x";
  EXPECT_FALSE(Spool::open(dir.path() / "file"));
}

TEST(WebhookSourceLimitsTest, EachSourceHasItsOwnBucket) {
  SourceRateLimiter limiter(1.0, 2.0);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  EXPECT_TRUE(limiter.allow("10.0.0.1", t0));
  EXPECT_TRUE(limiter.allow("10.0.0.1", t0));
  EXPECT_FALSE(limiter.allow("10.0.0.1", t0)) << "burst of 2 spent";
  EXPECT_TRUE(limiter.allow("10.0.0.2", t0)) << "another source is not affected";
  EXPECT_FALSE(limiter.allow("10.0.0.1", t0 + 500ms));
  EXPECT_TRUE(limiter.allow("10.0.0.1", t0 + 1s)) << "one token per second";
}

TEST(WebhookSourceLimitsTest, TheSourceTableIsBounded) {
  SourceRateLimiter limiter(1.0, 1.0, 3);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  for (int i = 0; i < 100; ++i) limiter.allow("10.0.0." + std::to_string(i), t0);
  EXPECT_EQ(limiter.sources(), 3U);
  // The most recent sources are kept: the last one is still limited.
  EXPECT_FALSE(limiter.allow("10.0.0.99", t0));
}

TEST(WebhookSourceLimitsTest, AnIpv6HostSpendsOneBucketPerSlash64) {
  EXPECT_EQ(rate_limit_source("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(rate_limit_source("10.0.0.1"), "10.0.0.1");
  SourceRateLimiter limiter(1.0, 2.0);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  // Fresh addresses of one /64 (a host picks any of 2^64) share the bucket ...
  for (int i = 1; i <= 2; ++i) {
    EXPECT_TRUE(limiter.allow(rate_limit_source("2001:db8:1:2::" + std::to_string(i)), t0));
  }
  EXPECT_FALSE(limiter.allow(rate_limit_source("2001:db8:1:2::77"), t0)) << "burst of 2 spent";
  // ... and the next /64 has its own.
  EXPECT_TRUE(limiter.allow(rate_limit_source("2001:db8:1:3::1"), t0));
}

TEST(WebhookSourceLimitsTest, ForwardedForIsBelievedOnlyFromATrustedProxy) {
  auto proxies = TrustedProxies::parse({"10.42.0.0/16", "fd00::/8"});
  ASSERT_TRUE(proxies) << proxies.error();
  // Not from a proxy: the header is the client's own words.
  EXPECT_EQ(client_address("203.0.113.9", "198.51.100.1", *proxies), "203.0.113.9");
  // From the ingress: the right-most address it appended.
  EXPECT_EQ(client_address("10.42.1.7", "198.51.100.1", *proxies), "198.51.100.1");
  // A client prepending a forged address cannot choose its bucket.
  EXPECT_EQ(client_address("10.42.1.7", "1.2.3.4, 198.51.100.1", *proxies), "198.51.100.1");
  // Through two trusted hops.
  EXPECT_EQ(client_address("10.42.1.7", "198.51.100.1, 10.42.3.3", *proxies), "198.51.100.1");
  // A dual-stack socket's IPv4-mapped peer is the IPv4 address.
  EXPECT_EQ(client_address("::ffff:10.42.1.7", "198.51.100.2", *proxies), "198.51.100.2");
  EXPECT_EQ(client_address("fd00::1", "[2001:db8::5]", *proxies), "2001:db8::5");
  // Proxies that write a port.
  EXPECT_EQ(client_address("10.42.1.7", "198.51.100.3:51234", *proxies), "198.51.100.3");
  EXPECT_EQ(client_address("10.42.1.7", "[2001:db8::6]:443", *proxies), "2001:db8::6");
  // Garbage stops at the last trusted hop rather than inventing a client.
  EXPECT_EQ(client_address("10.42.1.7", "not-an-address", *proxies), "10.42.1.7");
  EXPECT_EQ(client_address("10.42.1.7", "", *proxies), "10.42.1.7");
  EXPECT_EQ(client_address("10.42.1.7", "198.51.100.1", TrustedProxies{}), "10.42.1.7");
}

TEST(WebhookSourceLimitsTest, TrustedProxiesMustBeCidrs) {
  EXPECT_TRUE(TrustedProxies::parse({"10.0.0.1", "10.0.0.0/8", "::1/128"}));
  for (const std::string bad :
       {"10.0.0.0/33", "10.0.0.0/", "ingress.local", "10.0.0.0/8x", "::/129"}) {
    EXPECT_FALSE(TrustedProxies::parse({bad})) << bad;
  }
}

}  // namespace
}  // namespace mgit::webhooks
