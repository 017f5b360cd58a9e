#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/kafka_test_client.hpp"
#include "support/test_environment.hpp"

namespace mgit::test_support {

/// The fields of a result event the tests look at, read with RapidJSON.
struct ParsedResult {
  std::string job_id;
  std::string status;
  std::string error_code;
  std::string error_message;
  std::string head_oid;
  std::string target;
  std::size_t refs_updated = 0;
  std::optional<std::int64_t> refs_updated_total;
  std::int64_t source_offset = -1;
  std::int32_t source_partition = -1;
  std::string trace_id;
  bool replayed_hint = false;
  std::string raw;
};

std::optional<ParsedResult> parse_result(const std::string& json);

/// Real broker + real smart-HTTP git server + real mgitd processes. Each test gets its
/// own topics, consumer group, workspace and repositories, so tests may run in parallel.
class PipelineFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// Creates a bare repository on the git server; returns its head.
  std::string create_repo(const std::string& name, int commits = 1);
  std::string add_commits(const std::string& name, int commits);
  std::string server_head(const std::string& name);
  /// The repository's https URL: every job with a credential goes over TLS (`git_ca_file`).
  std::string repo_url(const std::string& name) const;

  /// A job document; `extra` is inserted verbatim into the top-level object.
  std::string job_json(const std::string& job_id, const std::string& operation,
                       const std::string& repo_name, const std::string& extra = "") const;

  /// Produces raw payloads to the jobs topic, keyed as a producer would (by repo key).
  void enqueue(const std::vector<std::pair<std::string, std::string>>& key_and_payload);
  void enqueue_jobs(const std::vector<std::string>& payloads, const std::string& key);

  std::unique_ptr<DaemonProcess> start_daemon(const std::vector<std::string>& extra_args = {});
  std::vector<std::string> daemon_args() const;

  /// Reads results until `count` distinct job ids are present (or timeout).
  std::vector<ParsedResult> wait_for_results(std::size_t distinct_jobs,
                                             std::chrono::milliseconds timeout);
  std::vector<TestRecord> wait_for_dlq(std::size_t records, std::chrono::milliseconds timeout);

  /// Waits until the group's committed offsets equal the jobs topic's end offsets.
  bool wait_for_committed_to_reach_end(std::chrono::milliseconds timeout);

  std::string target_head(const std::string& target) const;

  /// Where a secret of `secrets_` shows up in this test's outputs: every daemon log in the
  /// test's directory, every record (key, value, headers) of the results, DLQ and audit
  /// topics, and every file the OTLP receiver stored. TearDown runs it for every test of the
  /// suite, after the daemons stopped (so the audit stream is flushed); tests may run it
  /// earlier too.
  std::vector<std::string> outputs_holding_secrets();

  /// Secrets no output may hold: the git server's password, plus what a test plants.
  std::vector<std::string> secrets_;

  std::unique_ptr<KafkaTestClient> kafka_;
  std::unique_ptr<TempDir> dir_;
  std::string suffix_;
  std::string jobs_topic_;
  std::string results_topic_;
  std::string dlq_topic_;
  std::string audit_topic_;
  std::string group_;
  std::string git_url_;        ///< plain http (stalling proxies forward to its port)
  std::string git_https_url_;  ///< https, certificate signed by git_ca_file_
  std::string git_ca_file_;
  std::string git_dir_;
  std::string git_password_;
  std::filesystem::path workspace_;
  std::filesystem::path credentials_;
  int partitions_ = 4;
  int daemon_count_ = 0;
};

}  // namespace mgit::test_support
