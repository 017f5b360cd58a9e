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
  bool ref_backup = true;  ///< false: `options.ref_backup: false` (no force-push backups)
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

struct FleetOptions {
  std::string since;        ///< RFC 3339 time or a duration back from now
  std::string from_offset;  ///< beginning (default), end or N
  std::string stale_after;  ///< a duration; empty: staleness is not judged
  bool json = false;
  int timeout_seconds = 60;
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

/// A ULID-shaped job id (48-bit milliseconds + 80 random bits, Crockford base32): sortable
/// by time.
std::string generate_job_id();

/// Validates and produces `documents` as `enqueue --file` does (options.file and url unused),
/// then waits for their results when `options.wait`.
int enqueue_documents(const KafkaOptions& kafka, const EnqueueOptions& options,
                      const std::vector<InputDocument>& documents);

struct DiscoverCommandOptions {
  std::string provider;
  std::string org;
  std::string api_url;  ///< empty: the provider's public API
  std::string api_credential;
  std::string credentials_dir;
  std::string ca_file;
  bool allow_http = false;
  int max_wait_seconds = 300;
  int request_timeout_seconds = 60;
  int max_repositories = 100'000;
  // Filters.
  bool include_archived = false;
  bool include_forks = false;
  std::vector<std::string> visibilities;
  std::vector<std::string> names;
  std::vector<std::string> topics;
  std::string pushed_since;  ///< RFC 3339 time or a duration back from now
  // The jobs.
  std::string operation = "mirror";
  std::string target = "{provider}/{full_name}";
  std::string credential;
  std::string url_scheme = "https";
  bool enqueue = false;
  EnqueueOptions enqueue_options;  ///< --wait, --timeout, --max-message-bytes
};

int run_topics_create(const KafkaOptions& kafka, const TopicsCreateOptions& options);
int run_topics_check(const KafkaOptions& kafka, const TopicsCheckOptions& options);
int run_enqueue(const KafkaOptions& kafka, const EnqueueOptions& options);
int run_results(const KafkaOptions& kafka, const ConsumeOptions& options);
int run_dlq(const KafkaOptions& kafka, const ConsumeOptions& options);
/// One line per repository from the results topic; exit 1 when any is failing (or stale).
int run_fleet(const KafkaOptions& kafka, const FleetOptions& options);
int run_validate(const ValidateOptions& options);
/// Lists an organisation's repositories through its provider's API and writes (or enqueues)
/// one job per repository kept by the filters (docs/discovery.md).
int run_discover(const KafkaOptions& kafka, const DiscoverCommandOptions& options);
/// Every problem of every credential file of a directory (docs/mgitctl.md); exit 1 on any.
int run_credentials_check(const CredentialsCheckOptions& options);

}  // namespace mgit::mgitctl
