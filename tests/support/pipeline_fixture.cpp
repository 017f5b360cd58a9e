#include "support/pipeline_fixture.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "mgit/security/credentials.hpp"
#include "support/test_git_server.hpp"

namespace mgit::test_support {

std::optional<ParsedResult> parse_result(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  ParsedResult out;
  out.raw = json;
  auto text = [](const rapidjson::Value& v, const char* name) -> std::string {
    if (v.IsObject() && v.HasMember(name) && v[name].IsString()) return v[name].GetString();
    return {};
  };
  out.job_id = text(doc, "job_id");
  out.status = text(doc, "status");
  out.target = text(doc, "target");
  out.trace_id = text(doc, "trace_id");
  if (doc.HasMember("error") && doc["error"].IsObject()) {
    out.error_code = text(doc["error"], "code");
    out.error_message = text(doc["error"], "message");
  }
  if (doc.HasMember("head") && doc["head"].IsObject()) out.head_oid = text(doc["head"], "oid");
  if (doc.HasMember("refs_updated") && doc["refs_updated"].IsArray()) {
    out.refs_updated = doc["refs_updated"].Size();
  }
  if (doc.HasMember("refs_updated_total") && doc["refs_updated_total"].IsInt64()) {
    out.refs_updated_total = doc["refs_updated_total"].GetInt64();
  }
  if (doc.HasMember("source") && doc["source"].IsObject()) {
    out.source_offset = doc["source"]["offset"].GetInt64();
    out.source_partition = doc["source"]["partition"].GetInt();
  }
  return out;
}

void PipelineFixture::SetUp() {
  kafka_ = std::make_unique<KafkaTestClient>(required_env("MGITD_TEST_BROKERS"));
  git_url_ = required_env("MGITD_TEST_GIT_URL");
  git_dir_ = required_env("MGITD_TEST_GIT_DIR");
  git_https_url_ = TestGitServer(git_dir_).https_url();
  git_ca_file_ = TestGitServer(git_dir_).ca_file();
  {
    std::ifstream in(git_dir_ + "/password");
    std::getline(in, git_password_);
  }
  secrets_ = {git_password_};
  dir_ = std::make_unique<TempDir>();
  suffix_ = random_suffix();
  jobs_topic_ = "it.jobs." + suffix_;
  results_topic_ = "it.results." + suffix_;
  dlq_topic_ = "it.dlq." + suffix_;
  audit_topic_ = "it.audit." + suffix_;
  group_ = "it.group." + suffix_;
  kafka_->create_topic(jobs_topic_, partitions_);
  kafka_->create_topic(results_topic_, partitions_);
  kafka_->create_topic(dlq_topic_, 1);
  kafka_->create_topic(audit_topic_, 1);
  workspace_ = dir_->path() / "workspace";
  credentials_ = dir_->path() / "credentials";
  std::filesystem::create_directories(workspace_);
  std::filesystem::create_directories(credentials_);
  std::ofstream(credentials_ / "gitserver")
      << "username=mgit\npassword=" << git_password_
      << "\nhosts=" << security::url_host(git_url_).first << "\n";
}

void PipelineFixture::TearDown() {
  if (kafka_ != nullptr && dir_ != nullptr) {
    EXPECT_EQ(outputs_holding_secrets(), std::vector<std::string>{});
  }
  kafka_.reset();
}

std::vector<std::string> PipelineFixture::outputs_holding_secrets() {
  std::vector<std::pair<std::string, std::string>> outputs;
  const auto file_text = [](const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  // Daemon logs (mgitd, mgitctl and test servers the test started) sit beside the workspace.
  for (const auto& entry : std::filesystem::directory_iterator(dir_->path())) {
    if (entry.is_regular_file() && entry.path().extension() == ".log") {
      outputs.emplace_back(entry.path().filename().string(), file_text(entry.path()));
    }
  }
  for (const auto& topic : {results_topic_, dlq_topic_, audit_topic_}) {
    std::size_t records = 0;
    for (const auto& [partition, end] : kafka_->end_offsets(topic)) {
      records += static_cast<std::size_t>(std::max<std::int64_t>(end, 0));
    }
    if (records == 0) continue;
    for (const auto& record : kafka_->read_until(
             topic, [&](const std::vector<TestRecord>& seen) { return seen.size() >= records; },
             std::chrono::seconds(30))) {
      std::string text = record.key.value_or("") + "\n" + record.value;
      for (const auto& [name, value] : record.headers) text += "\n" + name + ": " + value;
      outputs.emplace_back(topic + " record " + std::to_string(record.partition) + ":" +
                               std::to_string(record.offset),
                           std::move(text));
    }
  }
  if (const char* otlp = std::getenv("MGITD_TEST_OTLP_DIR"); otlp != nullptr && *otlp != 0) {
    for (const auto& entry : std::filesystem::directory_iterator(otlp)) {
      if (entry.is_regular_file()) outputs.emplace_back(entry.path().string(), file_text(entry));
    }
  }
  std::vector<std::string> found;
  for (std::size_t i = 0; i < secrets_.size(); ++i) {
    if (secrets_[i].empty()) continue;
    for (const auto& [where, text] : outputs) {
      // The secret's index, never the secret itself: the failure message is an output too.
      if (text.find(secrets_[i]) != std::string::npos) {
        found.push_back(where + " holds secret #" + std::to_string(i));
      }
    }
  }
  return found;
}

std::string PipelineFixture::create_repo(const std::string& name, int commits) {
  return TestGitServer(git_dir_).create_repo(name, commits);
}

std::string PipelineFixture::add_commits(const std::string& name, int commits) {
  return TestGitServer(git_dir_).add_commits(name, commits);
}

std::string PipelineFixture::server_head(const std::string& name) {
  return TestGitServer(git_dir_).rev_parse(name, "refs/heads/main");
}

std::string PipelineFixture::repo_url(const std::string& name) const {
  return git_https_url_ + "/" + name + ".git";
}

std::string PipelineFixture::job_json(const std::string& job_id, const std::string& operation,
                                      const std::string& repo_name,
                                      const std::string& extra) const {
  std::string json = "{\"schema\":\"mgit.sync-job/v1\",\"job_id\":\"" + job_id +
                     "\",\"operation\":\"" + operation + "\",\"repository\":{\"url\":\"" +
                     repo_url(repo_name) + "\",\"credential\":\"gitserver\"},\"ref\":\"main\"";
  if (!extra.empty()) json += "," + extra;
  json += "}";
  return json;
}

void PipelineFixture::enqueue(
    const std::vector<std::pair<std::string, std::string>>& key_and_payload) {
  std::vector<std::tuple<std::optional<std::string>, std::string,
                         std::vector<std::pair<std::string, std::string>>>>
      records;
  for (const auto& [key, payload] : key_and_payload) {
    records.emplace_back(
        key, payload,
        std::vector<std::pair<std::string, std::string>>{{"content-type", "application/json"}});
  }
  kafka_->produce(jobs_topic_, records);
}

void PipelineFixture::enqueue_jobs(const std::vector<std::string>& payloads,
                                   const std::string& key) {
  std::vector<std::pair<std::string, std::string>> records;
  for (const auto& payload : payloads) records.emplace_back(key, payload);
  enqueue(records);
}

std::vector<std::string> PipelineFixture::daemon_args() const {
  return {"--brokers", kafka_->brokers(), "--jobs-topic", jobs_topic_, "--results-topic",
          results_topic_, "--dlq-topic", dlq_topic_, "--audit-topic", audit_topic_, "--group-id",
          group_, "--workspace", workspace_.string(), "--credentials-dir", credentials_.string(),
          "--http-listen", "127.0.0.1:0", "--min-free-disk-percent", "0",
          "--startup-broker-timeout-seconds", "30",
          // The test git server is on loopback, which the network policy denies by default.
          "--network-allow", "127.0.0.1/32", "--git-ca-file", git_ca_file_};
}

std::unique_ptr<DaemonProcess> PipelineFixture::start_daemon(
    const std::vector<std::string>& extra_args) {
  auto args = daemon_args();
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  const auto log = dir_->path() / ("mgitd-" + std::to_string(++daemon_count_) + ".log");
  return std::make_unique<DaemonProcess>(MGITD_BINARY, args, log);
}

std::vector<ParsedResult> PipelineFixture::wait_for_results(std::size_t distinct_jobs,
                                                            std::chrono::milliseconds timeout) {
  std::vector<ParsedResult> results;
  auto records = kafka_->read_until(
      results_topic_,
      [&](const std::vector<TestRecord>& seen) {
        std::set<std::string> ids;
        for (const auto& record : seen) {
          if (auto parsed = parse_result(record.value)) ids.insert(parsed->job_id);
        }
        return ids.size() >= distinct_jobs;
      },
      timeout);
  for (const auto& record : records) {
    if (auto parsed = parse_result(record.value)) results.push_back(std::move(*parsed));
  }
  return results;
}

std::vector<TestRecord> PipelineFixture::wait_for_dlq(std::size_t count,
                                                      std::chrono::milliseconds timeout) {
  return kafka_->read_until(
      dlq_topic_, [&](const std::vector<TestRecord>& seen) { return seen.size() >= count; },
      timeout);
}

bool PipelineFixture::wait_for_committed_to_reach_end(std::chrono::milliseconds timeout) {
  const auto end = kafka_->end_offsets(jobs_topic_);
  return eventually(
      [&] {
        auto committed = kafka_->committed_offsets(group_, jobs_topic_);
        for (const auto& [partition, high] : end) {
          // An empty partition has nothing to commit (-1001 = no offset stored).
          const auto have = committed.count(partition) ? committed[partition] : -1001;
          if (high == 0 ? (have != -1001 && have != 0) : have != high) return false;
        }
        return true;
      },
      timeout);
}

std::string PipelineFixture::target_head(const std::string& target) const {
  return run_trimmed("git -C " + shell_quote((workspace_ / target).string()) + " rev-parse HEAD");
}

}  // namespace mgit::test_support
