#pragma once

#include <string>
#include <vector>

#include "kafka.hpp"

namespace mgit::mgitctl {

struct TopicsCreateOptions {
  int partitions = 12;
  int replication_factor = 3;
  int min_insync_replicas = 2;
};

struct TopicsCheckOptions {
  bool strict = false;
};

struct EnqueueOptions {
  // One job from flags.
  std::string url;
  std::string operation = "sync";
  std::string ref;
  std::string target;
  std::string credential;
  std::string job_id;
  std::string correlation_id;
  int timeout_seconds = 0;  ///< 0: not set, the daemon's default applies
  bool prune = true;
  std::string requested_by;
  // Or many from a JSON-lines file (`-` for stdin).
  std::string file;
  bool allow_invalid = false;
  std::size_t max_message_bytes = 65536;
  // Then optionally wait for their results.
  bool wait = false;
  int wait_timeout_seconds = 300;
};

struct ConsumeOptions {
  bool follow = false;
  bool from_beginning = false;
  int timeout_seconds = 0;  ///< 0: no limit
};

struct ValidateOptions {
  std::string file;
  std::size_t max_message_bytes = 65536;
};

struct CredentialsCheckOptions {
  std::string directory;
};

/// One JSON document of an input file and the 1-based line it starts on.
struct InputDocument {
  int line = 0;
  std::string text;
};

/// Reads `path` (`-`: stdin) as JSON lines, or as one document when the whole file is a
/// single (possibly pretty-printed) JSON value. Blank lines are skipped.
std::vector<InputDocument> read_documents(const std::string& path);

int run_topics_create(const KafkaOptions& kafka, const TopicsCreateOptions& options);
int run_topics_check(const KafkaOptions& kafka, const TopicsCheckOptions& options);
int run_enqueue(const KafkaOptions& kafka, const EnqueueOptions& options);
int run_results(const KafkaOptions& kafka, const ConsumeOptions& options);
int run_dlq(const KafkaOptions& kafka, const ConsumeOptions& options);
int run_validate(const ValidateOptions& options);
/// Every problem of every credential file of a directory (docs/mgitctl.md); exit 1 on any.
int run_credentials_check(const CredentialsCheckOptions& options);

}  // namespace mgit::mgitctl
