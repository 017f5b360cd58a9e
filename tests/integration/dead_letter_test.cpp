// Records that could stop intake, against the real broker: DLQ copies too large for the DLQ
// topic (they become reduced records) and poison records (running at three unclean exits).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "support/http_client.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/prometheus_text.hpp"

namespace mgit::test_support {
namespace {

using namespace std::chrono_literals;
using Headers = std::vector<std::pair<std::string, std::string>>;

// Bytes of a Kafka varint (zigzag) holding `value`.
std::size_t varint_bytes(std::int64_t value) {
  auto zigzag = (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
  std::size_t bytes = 1;
  while (zigzag >= 0x80) {
    zigzag >>= 7;
    ++bytes;
  }
  return bytes;
}

// The sizes of a record's parts: key, value, and each header's name and value.
struct RecordSizes {
  std::size_t key = 0;
  std::size_t value = 0;
  std::vector<std::pair<std::size_t, std::size_t>> headers;
};

RecordSizes sizes_of(const std::string& key, const std::string& value, const Headers& headers) {
  RecordSizes sizes{key.size(), value.size(), {}};
  for (const auto& [name, bytes] : headers) sizes.headers.emplace_back(name.size(), bytes.size());
  return sizes;
}

// What the broker compares with max.message.bytes for a batch of this one record, sent
// uncompressed: the v2 batch header (61 bytes, offset and length included) and the record.
std::size_t batch_bytes(const RecordSizes& sizes) {
  const auto field = [](std::size_t n) { return varint_bytes(static_cast<std::int64_t>(n)) + n; };
  std::size_t body = 3;  // attributes, timestamp delta 0, offset delta 0
  body += field(sizes.key) + field(sizes.value);
  body += varint_bytes(static_cast<std::int64_t>(sizes.headers.size()));
  for (const auto& [name, value] : sizes.headers) body += field(name) + field(value);
  return 61 + varint_bytes(static_cast<std::int64_t>(body)) + body;
}

// The largest value of `grown`, a part of `sizes`, that keeps the batch within `limit`.
std::size_t largest_fitting(RecordSizes& sizes, std::size_t& grown, std::size_t limit) {
  grown = limit;
  while (batch_bytes(sizes) > limit) --grown;
  return grown;
}

std::string random_bytes(std::size_t size) {
  // Incompressible, so the daemon's lz4 cannot shrink the copy back under the limit.
  std::mt19937_64 random(std::random_device{}());
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(random());
  return out;
}

// sha256sum's answer, not mgitd's code.
std::string sha256_of(const std::filesystem::path& dir, const std::string& bytes) {
  const auto file = dir / ("sha-" + random_suffix());
  std::ofstream(file, std::ios::binary) << bytes;
  const auto line = run_trimmed("sha256sum " + shell_quote(file.string()));
  std::filesystem::remove(file);
  return line.substr(0, 64);
}

// The documented encoding behind `mgit-original-headers-sha256`.
std::string encoded_headers(const Headers& headers) {
  std::string out;
  const auto length = [&](std::size_t n) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  };
  for (const auto& [name, value] : headers) {
    length(name.size());
    out += name;
    length(value.size());
    out += value;
  }
  return out;
}

/// A git "server" that accepts connections and never answers: a job against it stays
/// in flight until the process running it dies.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("silent server: cannot listen");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd ready{fd_, POLLIN, 0};
        if (::poll(&ready, 1, 50) <= 0) continue;
        const int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0) continue;
        accepted_fds_.push_back(client);  // held open, never read nor written
        ++accepted_;
      }
    });
  }
  ~SilentServer() {
    stop_ = true;
    thread_.join();
    for (const int fd : accepted_fds_) ::close(fd);
    ::close(fd_);
  }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::vector<int> accepted_fds_;  // the accept thread's only
  std::thread thread_;
};

class DeadLetterTest : public PipelineFixture {
 protected:
  /// The largest record the jobs topic takes, less a margin for this test's arithmetic;
  /// its DLQ copy carries ~150 bytes more headers and cannot fit a DLQ with the same limit.
  std::size_t near_limit() {
    const auto jobs_limit = kafka_->topic_config(jobs_topic_, "max.message.bytes");
    const auto dlq_limit = kafka_->topic_config(dlq_topic_, "max.message.bytes");
    EXPECT_TRUE(jobs_limit && dlq_limit);
    EXPECT_EQ(jobs_limit, dlq_limit) << "the fixture's topics take the broker's default";
    return static_cast<std::size_t>(std::stoll(jobs_limit.value_or("0"))) - 32;
  }

  /// Produces one record alone (its own batch); returns its (partition, offset).
  std::pair<std::int32_t, std::int64_t> produce_alone(const std::string& key,
                                                      const std::string& value,
                                                      const Headers& headers) {
    return kafka_->produce(jobs_topic_, {{key, value, headers}}).front();
  }

  /// Runs the daemon until the DLQ holds one record and the valid job behind it succeeded.
  TestRecord reduced_record_then_next_job(const std::string& key, const std::string& repo) {
    const auto head = create_repo(repo, 1);
    enqueue({{key, job_json("after-" + repo, "sync", repo, "\"target\":\"t/" + repo + "\"")}});
    auto daemon = start_daemon();
    const auto dlq = wait_for_dlq(1, 60s);
    EXPECT_EQ(dlq.size(), 1u) << daemon->log_text().substr(0, 4000);
    const auto results = wait_for_results(1, 60s);
    EXPECT_EQ(results.size(), 1u);
    if (!results.empty()) {
      EXPECT_EQ(results.front().status, "succeeded") << results.front().raw;
      EXPECT_EQ(results.front().head_oid, head);
    }
    EXPECT_TRUE(wait_for_committed_to_reach_end(30s)) << "intake went past the record";
    EXPECT_NE(daemon->log_text().find("DLQ copy too large; publishing a reduced record"),
              std::string::npos);
    daemon->signal(SIGTERM);
    EXPECT_EQ(daemon->wait_exit(60s), 0);
    return dlq.empty() ? TestRecord{} : dlq.front();
  }
};

TEST_F(DeadLetterTest, AMegabyteUnparseableRecordBecomesAReducedDlqRecordAndIntakeGoesOn) {
  const auto repo = "big-" + suffix_;
  const auto key = repo_url(repo);
  const Headers headers = {{"content-type", "application/json"}, {"correlation-id", "req-big"}};
  auto sizes = sizes_of(key, "", headers);
  const auto value = random_bytes(largest_fitting(sizes, sizes.value, near_limit()));
  const auto [partition, offset] = produce_alone(key, value, headers);

  const auto record = reduced_record_then_next_job(key, repo);
  EXPECT_TRUE(record.value.empty());
  EXPECT_EQ(record.key, key);
  EXPECT_EQ(record.header("content-type"), "application/json");
  EXPECT_EQ(record.header("correlation-id"), "req-big");
  EXPECT_EQ(record.header("mgit-error-code"), "oversize");
  EXPECT_TRUE(record.header("mgit-error-message").has_value());
  EXPECT_EQ(record.header("mgit-source-topic"), jobs_topic_);
  EXPECT_EQ(record.header("mgit-source-partition"), std::to_string(partition));
  EXPECT_EQ(record.header("mgit-source-offset"), std::to_string(offset));
  EXPECT_EQ(record.header("mgit-original-size"), std::to_string(value.size()));
  EXPECT_EQ(record.header("mgit-original-sha256"), sha256_of(dir_->path(), value));
  EXPECT_FALSE(record.header("mgit-original-key-sha256").has_value());
  EXPECT_FALSE(record.header("mgit-original-headers-sha256").has_value());
}

TEST_F(DeadLetterTest, AMegabyteHeaderBecomesItsDigestInAReducedDlqRecordAndIntakeGoesOn) {
  const auto repo = "header-" + suffix_;
  const auto key = repo_url(repo);
  const std::string value = "not json at all";
  Headers headers = {{"correlation-id", "req-header"}, {"x-blob", ""}, {"x-after", "kept"}};
  auto sizes = sizes_of(key, value, headers);
  headers[1].second = random_bytes(largest_fitting(sizes, sizes.headers[1].second, near_limit()));
  const auto [partition, offset] = produce_alone(key, value, headers);

  const auto record = reduced_record_then_next_job(key, repo);
  EXPECT_TRUE(record.value.empty());
  EXPECT_EQ(record.key, key);
  EXPECT_EQ(record.header("correlation-id"), "req-header");
  EXPECT_EQ(record.header("x-after"), "kept") << "small headers after the huge one stay";
  EXPECT_FALSE(record.header("x-blob").has_value());
  EXPECT_EQ(record.header("mgit-original-headers-sha256"),
            sha256_of(dir_->path(), encoded_headers(headers)));
  EXPECT_EQ(record.header("mgit-error-code"), "not_json");
  EXPECT_EQ(record.header("mgit-source-partition"), std::to_string(partition));
  EXPECT_EQ(record.header("mgit-source-offset"), std::to_string(offset));
  EXPECT_EQ(record.header("mgit-original-size"), std::to_string(value.size()));
  EXPECT_EQ(record.header("mgit-original-sha256"), sha256_of(dir_->path(), value));
}

TEST_F(DeadLetterTest, ARecordRunningAtThreeUncleanExitsGoesToTheDlqAsPoison) {
  SilentServer silent;
  const auto hang_url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/hang.git";
  const auto key = "http://127.0.0.1:" + std::to_string(silent.port()) + "/hang";
  const auto hang_job =
      R"({"schema":"mgit.sync-job/v1","job_id":"hang","operation":"sync","repository":{"url":")" +
      hang_url + R"("},"target":"hang/)" + suffix_ + "\"}";
  const auto [partition, offset] = produce_alone(key, hang_job, {{"correlation-id", "req-hang"}});
  // Static membership: each restart takes the partitions back at once.
  // The silent server speaks plain http on loopback (network_allow comes with the fixture).
  const std::vector<std::string> args = {"--group-instance-id", "poison-" + suffix_,
                                         "--allow-plain-http"};

  for (int exits = 1; exits <= 3; ++exits) {
    auto daemon = start_daemon(args);
    // Connected: the execution started, and the ledger wrote that before it did.
    ASSERT_TRUE(eventually([&] { return silent.accepted() == exits; }, 60s))
        << "run " << exits << "\n"
        << daemon->log_text();
    daemon->signal(SIGKILL);
    ASSERT_TRUE(daemon->wait_exit(30s).has_value());
  }

  const auto repo = "after-poison-" + suffix_;
  const auto head = create_repo(repo, 1);
  enqueue({{key, job_json("after-poison", "sync", repo, "\"target\":\"t/" + repo + "\"")}});
  auto daemon = start_daemon(args);
  const auto dlq = wait_for_dlq(1, 60s);
  ASSERT_EQ(dlq.size(), 1u) << daemon->log_text();
  const auto& record = dlq.front();
  EXPECT_EQ(record.header("mgit-error-code"), "poison");
  EXPECT_NE(record.header("mgit-error-message").value_or("").find("3 times"), std::string::npos);
  EXPECT_EQ(record.header("mgit-source-partition"), std::to_string(partition));
  EXPECT_EQ(record.header("mgit-source-offset"), std::to_string(offset));
  EXPECT_EQ(record.header("correlation-id"), "req-hang");
  EXPECT_EQ(record.key, key);
  EXPECT_EQ(record.value, hang_job) << "the record, untouched";

  const auto results = wait_for_results(1, 60s);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results.front().job_id, "after-poison");
  EXPECT_EQ(results.front().status, "succeeded") << results.front().raw;
  EXPECT_EQ(results.front().head_oid, head);
  EXPECT_TRUE(wait_for_committed_to_reach_end(30s));
  EXPECT_EQ(silent.accepted(), 3) << "the poison record did not run a fourth time";

  const auto port = wait_for_http_port(*daemon, 30s);
  ASSERT_TRUE(port);
  const auto metrics = http_request(*port, "GET", "/metrics");
  EXPECT_EQ(metric_sample(metrics.body, R"(mgitd_dlq_records_total{reason="poison"})"), 1);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
  const auto ledger =
      workspace_ / ".mgitd" / "in-flight" / (group_ + "-poison-" + suffix_ + ".json");
  EXPECT_FALSE(std::filesystem::exists(ledger))
      << "answered, nothing left counted: the clean exit removes the file";
  EXPECT_FALSE(std::filesystem::exists(ledger.string() + ".alt")) << "and its other slot";
}

}  // namespace
}  // namespace mgit::test_support
