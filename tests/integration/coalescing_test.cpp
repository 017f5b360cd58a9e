// Burst coalescing end to end: real broker, real https git server (its access log counts the
// fetches), real mgitd. docs/delivery.md, "Burst coalescing".
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "support/http_client.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/test_git_server.hpp"

namespace mgit::test_support {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string string_field(const std::string& raw, const char* name) {
  rapidjson::Document doc;
  doc.Parse(raw.c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember(name) || !doc[name].IsString()) {
    return {};
  }
  return doc[name].GetString();
}

class CoalescingTest : public PipelineFixture {
 protected:
  /// The git server's plain-http port, from MGITD_TEST_GIT_URL (`http://127.0.0.1:PORT`).
  std::uint16_t git_http_port() const {
    const auto colon = git_url_.rfind(':');
    return static_cast<std::uint16_t>(std::stoi(git_url_.substr(colon + 1)));
  }

  /// Fetches of `repo` the server answered (a 200 for its `info/refs`), counted once every
  /// earlier request is in the access log: lighttpd writes it through a pipe, so a request
  /// made now (a marker) is awaited first.
  std::size_t fetches_of(const std::string& repo) {
    const TestGitServer server(git_dir_);
    const auto marker = "/flush-marker-" + suffix_ + "-" + std::to_string(++markers_);
    http_request(git_http_port(), "GET", marker, 5s);
    std::vector<std::string> lines;
    const bool flushed = eventually(
        [&] {
          lines = read_lines(server.access_log());
          for (const auto& line : lines) {
            if (line.find(marker) != std::string::npos) return true;
          }
          return false;
        },
        10s);
    EXPECT_TRUE(flushed) << "the access log never showed the marker request";
    std::size_t fetches = 0;
    for (const auto& line : lines) {
      if (line.find("/" + repo + ".git/info/refs") != std::string::npos &&
          line.find("\" 200 ") != std::string::npos) {
        ++fetches;
      }
    }
    return fetches;
  }

  std::string sync_job(const std::string& id, const std::string& repo) const {
    return job_json(id, "sync", repo, "\"target\":\"burst/" + repo + "\"");
  }

  std::map<std::string, ParsedResult> results_by_job(std::size_t count) {
    std::map<std::string, ParsedResult> out;
    for (auto& result : wait_for_results(count, 120s)) out[result.job_id] = result;
    return out;
  }

  int markers_ = 0;
};

TEST_F(CoalescingTest, AHundredJobsForOneRepositoryShareAtMostTwoFetches) {
  const auto repo = "burst-" + suffix_;
  create_repo(repo, 2);
  // Buffers raised so the whole burst is consumed at once (one partition holds it).
  auto daemon = start_daemon({"--max-buffered-per-partition", "256", "--max-in-flight", "512"});
  enqueue({{repo_url(repo), sync_job("seed", repo)}});
  ASSERT_EQ(results_by_job(1).at("seed").status, "succeeded");
  const auto before = fetches_of(repo);
  ASSERT_GE(before, 1u);

  const auto head = add_commits(repo, 1);
  std::vector<std::pair<std::string, std::string>> burst;
  for (int i = 0; i < 100; ++i) {
    burst.emplace_back(repo_url(repo), sync_job("burst-" + std::to_string(i), repo));
  }
  enqueue(burst);
  const auto results = results_by_job(101);
  ASSERT_EQ(results.size(), 101u);
  std::size_t served_by_another = 0;
  for (int i = 0; i < 100; ++i) {
    const auto& result = results.at("burst-" + std::to_string(i));
    EXPECT_EQ(result.status, "succeeded") << result.raw;
    EXPECT_EQ(result.head_oid, head)
        << "every job sees the commit pushed before it: " << result.raw;
    const auto served_by = string_field(result.raw, "served_by");
    if (!served_by.empty()) {
      ++served_by_another;
      EXPECT_TRUE(results.contains(served_by)) << result.raw;
      EXPECT_TRUE(string_field(results.at(served_by).raw, "served_by").empty())
          << "the job that ran was not itself served: " << results.at(served_by).raw;
    }
  }
  const auto burst_fetches = fetches_of(repo) - before;
  EXPECT_LE(burst_fetches, 2u) << "100 jobs queued behind one fetch share the next one";
  EXPECT_GE(served_by_another, 98u);
  std::printf(
      "[ figures ] 100-job burst for one repository: %zu fetches, %zu jobs served by "
      "another's execution\n",
      burst_fetches, served_by_another);
  EXPECT_TRUE(wait_for_committed_to_reach_end(30s)) << "every coalesced job's offset is committed";

  // A push between two bursts: the later burst's jobs see it (they were consumed after it).
  const auto newer = add_commits(repo, 2);
  std::vector<std::pair<std::string, std::string>> second;
  for (int i = 0; i < 10; ++i) {
    second.emplace_back(repo_url(repo), sync_job("after-push-" + std::to_string(i), repo));
  }
  enqueue(second);
  const auto later = results_by_job(111);
  for (int i = 0; i < 10; ++i) {
    const auto& result = later.at("after-push-" + std::to_string(i));
    EXPECT_EQ(result.status, "succeeded") << result.raw;
    EXPECT_EQ(result.head_oid, newer) << result.raw;
  }

  // A redelivered coalesced job (the same record again) is answered from the target's record,
  // with no fetch.
  std::string coalesced_id;
  for (int i = 0; i < 100 && coalesced_id.empty(); ++i) {
    const auto id = "burst-" + std::to_string(i);
    if (!string_field(results.at(id).raw, "served_by").empty()) coalesced_id = id;
  }
  ASSERT_FALSE(coalesced_id.empty());
  const auto fetches_before_redelivery = fetches_of(repo);
  enqueue({{repo_url(repo), sync_job(coalesced_id, repo)}});
  std::vector<ParsedResult> copies;
  const auto copies_of = [&](const std::vector<TestRecord>& seen) {
    copies.clear();
    for (const auto& record : seen) {
      auto parsed = parse_result(record.value);
      if (parsed && parsed->job_id == coalesced_id) copies.push_back(*parsed);
    }
    return copies.size() >= 2;
  };
  kafka_->read_until(results_topic_, copies_of, 60s);
  ASSERT_EQ(copies.size(), 2u);
  const auto& replay =
      copies.back().source_offset > copies.front().source_offset ? copies.back() : copies.front();
  EXPECT_EQ(replay.status, "succeeded") << replay.raw;
  EXPECT_EQ(replay.head_oid, head) << "the state its first answer had: " << replay.raw;
  EXPECT_EQ(fetches_of(repo), fetches_before_redelivery) << "a replay fetches nothing";
  EXPECT_NE(daemon->log_text().find("job already served by this target, replaying"),
            std::string::npos);

  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
}

TEST_F(CoalescingTest, OffEveryJobFetchesOnItsOwn) {
  const auto repo = "no-burst-" + suffix_;
  const auto head = create_repo(repo, 1);
  auto daemon = start_daemon({"--coalesce=false", "--max-buffered-per-partition", "256"});
  enqueue({{repo_url(repo), sync_job("seed", repo)}});
  ASSERT_EQ(results_by_job(1).at("seed").status, "succeeded");
  const auto before = fetches_of(repo);
  std::vector<std::pair<std::string, std::string>> burst;
  for (int i = 0; i < 10; ++i) {
    burst.emplace_back(repo_url(repo), sync_job("each-" + std::to_string(i), repo));
  }
  enqueue(burst);
  const auto results = results_by_job(11);
  for (int i = 0; i < 10; ++i) {
    const auto& result = results.at("each-" + std::to_string(i));
    EXPECT_EQ(result.head_oid, head) << result.raw;
    EXPECT_TRUE(string_field(result.raw, "served_by").empty()) << result.raw;
  }
  EXPECT_EQ(fetches_of(repo) - before, 10u);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(60s), 0);
}

}  // namespace
}  // namespace mgit::test_support
