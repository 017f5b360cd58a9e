// mgitctl: operator and producer CLI for mgitd (topics, enqueue, results, dlq, validate).

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <utility>

#include "commands.hpp"

#ifndef MGITD_VERSION
#define MGITD_VERSION "0.0.0"
#endif

namespace {

using namespace mgit::mgitctl;

std::string env_or(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

void add_consume_options(CLI::App& command, ConsumeOptions& options) {
  command.add_flag("--follow,-f", options.follow, "Keep printing new records until interrupted");
  command.add_flag("--from-beginning", options.from_beginning,
                   "Start at the oldest record (the default without --follow)");
  command
      .add_option("--timeout", options.timeout_seconds, "Stop after this many seconds (0: never)")
      ->check(CLI::NonNegativeNumber);
}

int run(int argc, char** argv) {
  CLI::App app{"mgitctl: create and check mgitd's topics, enqueue jobs, read results", "mgitctl"};
  app.set_version_flag("--version", fmt::format("mgitctl {}", MGITD_VERSION));
  app.require_subcommand(1);
  app.option_defaults()->always_capture_default();
  app.footer(
      "Secrets for librdkafka come from --kafka-secrets-file (env MGITD_KAFKA_SECRETS_FILE) or\n"
      "MGITD_KAFKA_SECRET_<KEY> variables, as for mgitd.\n"
      "Exit codes: 0 ok, 1 the command found a problem, 2 usage or connection error, 3 timeout.\n"
      "Every command has its own --help with an example, e.g. mgitctl fleet --help.\n\n"
      "Examples:\n"
      "  mgitctl --brokers kafka:9092 topics check\n"
      "  MGITD_BROKERS=kafka:9092 mgitctl enqueue --url https://git.example.com/org/app.git "
      "--wait");

  KafkaOptions kafka;
  kafka.brokers = env_or("MGITD_BROKERS", kafka.brokers);
  kafka.jobs_topic = env_or("MGITD_JOBS_TOPIC", kafka.jobs_topic);
  kafka.results_topic = env_or("MGITD_RESULTS_TOPIC", kafka.results_topic);
  kafka.dlq_topic = env_or("MGITD_DLQ_TOPIC", kafka.dlq_topic);
  kafka.audit_topic = env_or("MGITD_AUDIT_TOPIC", kafka.audit_topic);
  kafka.secrets_file = env_or("MGITD_KAFKA_SECRETS_FILE", "");
  app.add_option("--brokers", kafka.brokers, "Kafka bootstrap servers (env MGITD_BROKERS)");
  app.add_option("--kafka-property", kafka.properties, "Repeatable KEY=VALUE for librdkafka")
      ->type_name("KEY=VALUE");
  app.add_option("--kafka-secrets-file", kafka.secrets_file,
                 "File of KEY=VALUE librdkafka secrets (env MGITD_KAFKA_SECRETS_FILE)");
  app.add_option("--jobs-topic", kafka.jobs_topic, "Intake topic (env MGITD_JOBS_TOPIC)");
  app.add_option("--results-topic", kafka.results_topic, "Results topic (env MGITD_RESULTS_TOPIC)");
  app.add_option("--dlq-topic", kafka.dlq_topic, "Dead-letter topic (env MGITD_DLQ_TOPIC)");
  app.add_option("--audit-topic", kafka.audit_topic, "Audit topic (env MGITD_AUDIT_TOPIC)");
  app.add_option("--request-timeout", kafka.timeout_ms, "Metadata/admin request timeout in ms")
      ->check(CLI::PositiveNumber);

  // topics
  auto* topics =
      app.add_subcommand("topics", "Create or check the jobs, results, DLQ and audit topics");
  topics->require_subcommand(1);
  topics->footer(
      "Example:\n  mgitctl topics create --replication-factor 3\n  mgitctl topics check --strict");
  TopicsCreateOptions create_options;
  auto* create =
      topics->add_subcommand("create", "Create the four topics (existing ones are kept)");
  create->add_option("--partitions", create_options.partitions, "Partitions per topic")
      ->check(CLI::PositiveNumber);
  create
      ->add_option("--replication-factor", create_options.replication_factor,
                   "Replicas per partition")
      ->check(CLI::PositiveNumber);
  create
      ->add_option("--min-insync-replicas", create_options.min_insync_replicas,
                   "min.insync.replicas (clamped to the replication factor)")
      ->check(CLI::PositiveNumber);
  TopicsCheckOptions check_options;
  auto* check = topics->add_subcommand(
      "check", "Verify the topics exist (exit 1 if not) and warn about weak replication");
  check->add_flag("--strict", check_options.strict, "Warnings fail the check too");
  create->footer(
      "Example:\n  mgitctl --brokers kafka:9092 topics create --partitions 12 "
      "--replication-factor 3");
  check->footer("Example:\n  mgitctl --brokers kafka:9092 topics check --strict");

  // enqueue
  EnqueueOptions enqueue_options;
  auto* enqueue = app.add_subcommand("enqueue", "Send one job from flags, or many from --file");
  enqueue->add_option("--url", enqueue_options.url, "Repository URL");
  enqueue->add_option("--operation", enqueue_options.operation, "clone|fetch|sync|mirror");
  enqueue->add_option("--ref", enqueue_options.ref, "Ref to check out (sync)");
  enqueue->add_option("--target", enqueue_options.target, "Workspace-relative target");
  enqueue->add_option("--credential", enqueue_options.credential, "Credential name");
  enqueue->add_option("--job-id", enqueue_options.job_id, "Job id (default: a new ULID)");
  enqueue->add_option("--correlation-id", enqueue_options.correlation_id, "Correlation id");
  enqueue
      ->add_option("--timeout-seconds", enqueue_options.timeout_seconds,
                   "Job deadline (0: the daemon's default)")
      ->check(CLI::NonNegativeNumber);
  enqueue->add_flag("--prune,!--no-prune", enqueue_options.prune, "Prune deleted remote refs");
  enqueue->add_flag(
      "!--no-ref-backup", enqueue_options.ref_backup,
      "No refs/mgitd/backup/ refs for this job's forced updates (options.ref_backup)");
  enqueue->add_option("--requested-by", enqueue_options.requested_by,
                      "Who asked (default mgitctl:$USER)");
  enqueue->add_option("--file", enqueue_options.file,
                      "JSON lines of full jobs, or one JSON job; '-' reads stdin");
  enqueue->add_flag("--allow-invalid", enqueue_options.allow_invalid,
                    "Send invalid jobs as they are (for testing the daemon)");
  enqueue->add_option("--max-message-bytes", enqueue_options.max_message_bytes,
                      "Size limit used when validating");
  enqueue->add_flag("--wait", enqueue_options.wait,
                    "Wait for every job's result and print it (on a terminal, live progress "
                    "and a summary go to stderr)");
  enqueue->footer(
      "Examples:\n"
      "  mgitctl enqueue --url https://git.example.com/org/app.git --ref main --target org/app\n"
      "  mgitctl validate jobs.jsonl && mgitctl enqueue --file jobs.jsonl --wait --timeout 600");
  enqueue
      ->add_option("--timeout", enqueue_options.wait_timeout_seconds,
                   "Seconds --wait waits (exit 3 when reached)")
      ->check(CLI::PositiveNumber);

  // results, dlq
  ConsumeOptions results_options;
  auto* results = app.add_subcommand("results", "Print result events, one JSON per line");
  add_consume_options(*results, results_options);
  results->footer(
      "Examples:\n  mgitctl results | jq -c 'select(.status != \"succeeded\")'\n"
      "  mgitctl results --follow --timeout 60");
  ConsumeOptions dlq_options;
  auto* dlq = app.add_subcommand("dlq", "Print dead-letter records with their error headers");
  add_consume_options(*dlq, dlq_options);
  dlq->footer("Example:\n  mgitctl dlq | jq -r '.headers[\"mgit-error-code\"]' | sort | uniq -c");

  // fleet
  FleetOptions fleet_options;
  auto* fleet = app.add_subcommand(
      "fleet", "One line per repository from the results topic: failing and stale ones first");
  auto* since = fleet->add_option(
      "--since", fleet_options.since,
      "Read results from this RFC 3339 time (2026-11-23T09:00:00Z) or this long ago (24h, 7d)");
  fleet
      ->add_option("--from-offset", fleet_options.from_offset,
                   "Or start at beginning (default), end, or offset N of every partition")
      ->excludes(since);
  fleet->add_option("--stale-after", fleet_options.stale_after,
                    "Mark (and exit 1 for) repositories without a success for this long (24h)");
  fleet->add_flag("--json", fleet_options.json, "One JSON document for scripts");
  fleet
      ->add_option("--timeout", fleet_options.timeout_seconds,
                   "Seconds to read up to the end offsets taken at start (exit 3 when reached)")
      ->check(CLI::PositiveNumber);
  fleet->footer(
      "Reads up to the end of the topic as it is at start, then prints and exits.\n"
      "Exit 1 when any repository's newest result is not succeeded (or, with --stale-after,\n"
      "it has not succeeded for that long).\n\n"
      "Examples:\n"
      "  mgitctl fleet --since 24h --stale-after 6h\n"
      "  mgitctl fleet --json | jq -r '.repositories[] | select(.failing) | .target'");

  // validate
  ValidateOptions validate_options;
  auto* validate = app.add_subcommand("validate", "Check job files offline, as mgitd would");
  validate->add_option("file", validate_options.file, "JSON lines or one JSON job; '-' is stdin")
      ->required();
  validate->add_option("--max-message-bytes", validate_options.max_message_bytes,
                       "Size limit, as mgitd's max_message_bytes");
  validate->footer("Example:\n  mgitctl validate jobs.jsonl && mgitctl enqueue --file jobs.jsonl");

  // discover
  DiscoverCommandOptions discover_options;
  discover_options.credentials_dir = env_or("MGITD_CREDENTIALS_DIR", "");
  discover_options.api_credential = env_or("MGITD_API_CREDENTIAL", "");
  auto* discover = app.add_subcommand(
      "discover", "List an organisation's repositories through its provider's API, as jobs");
  discover
      ->add_option("--provider", discover_options.provider,
                   "github, gitlab, gitea, azure-devops or bitbucket")
      ->required();
  discover
      ->add_option("--org", discover_options.org,
                   "Organisation (GitLab: group path; Bitbucket: workspace)")
      ->required();
  discover->add_option("--api-url", discover_options.api_url,
                       "API base (default: the provider's public API; GitHub Enterprise: "
                       "https://HOST/api/v3; required for gitea)");
  discover->add_option("--api-credential", discover_options.api_credential,
                       "Credential file whose password= is the API token; its hosts= must "
                       "allow the API host (env MGITD_API_CREDENTIAL)");
  discover->add_option("--credentials-dir", discover_options.credentials_dir,
                       "Directory of credential files, mgitd's format (env "
                       "MGITD_CREDENTIALS_DIR)");
  discover->add_option("--ca-file", discover_options.ca_file,
                       "Extra CA certificates (PEM) to trust for the API, e.g. a self-hosted one");
  discover->add_flag("--allow-http", discover_options.allow_http,
                     "Allow a plain http:// --api-url (trusted networks only: the token is "
                     "sent unencrypted)");
  discover
      ->add_option("--max-wait", discover_options.max_wait_seconds,
                   "Longest wait, in seconds, for one rate limit to reset (longer: exit 3)")
      ->check(CLI::NonNegativeNumber);
  discover
      ->add_option("--max-repositories", discover_options.max_repositories,
                   "Stop with an error when the API lists more repositories than this")
      ->check(CLI::PositiveNumber);
  discover
      ->add_option("--request-timeout-seconds", discover_options.request_timeout_seconds,
                   "Timeout of one API request")
      ->check(CLI::PositiveNumber);
  discover->add_flag("--include-archived", discover_options.include_archived,
                     "Keep archived repositories (left out by default)");
  discover->add_flag("--include-forks", discover_options.include_forks,
                     "Keep forks (left out by default)");
  discover
      ->add_option("--visibility", discover_options.visibilities,
                   "Keep only this visibility; repeatable (any of)")
      ->check(CLI::IsMember({"public", "private", "internal"}));
  discover->add_option("--name", discover_options.names,
                       "Keep names or full names matching this glob (fnmatch); repeatable (any "
                       "of)");
  discover->add_option("--topic", discover_options.topics,
                       "Keep repositories with this topic; repeatable (all of); not for "
                       "azure-devops or bitbucket (no topics)");
  discover->add_option("--pushed-since", discover_options.pushed_since,
                       "Keep repositories pushed since this RFC 3339 time or this long ago "
                       "(30d); not for azure-devops (no push time)");
  discover->add_option("--operation", discover_options.operation, "The jobs' operation")
      ->check(CLI::IsMember({"clone", "fetch", "sync", "mirror"}));
  discover->add_option("--target", discover_options.target,
                       "Target template: {provider}, {org}, {full_name}, {name}");
  discover->add_option("--credential", discover_options.credential,
                       "The credential the jobs name for git (not the API token's)");
  discover->add_option("--url-scheme", discover_options.url_scheme, "Clone URL: https or ssh")
      ->check(CLI::IsMember({"https", "ssh"}));
  discover->add_flag("--enqueue", discover_options.enqueue,
                     "Send the jobs to the jobs topic instead of printing them");
  discover->add_flag("--wait", discover_options.enqueue_options.wait,
                     "With --enqueue: wait for every job's result, as enqueue --wait");
  discover
      ->add_option("--timeout", discover_options.enqueue_options.wait_timeout_seconds,
                   "Seconds --wait waits (exit 3 when reached)")
      ->check(CLI::PositiveNumber);
  discover->add_option("--max-message-bytes", discover_options.enqueue_options.max_message_bytes,
                       "Size limit used when validating the jobs");
  discover->footer(
      "Writes one job per repository as JSON lines (for mgitctl enqueue --file -), or sends\n"
      "them with --enqueue. Archived repositories and forks are left out unless asked for.\n"
      "A summary (listed, filtered out, pages, rate-limit waits) goes to stderr.\n"
      "Exit: 0 ok (also for an empty organisation), 1 an invalid API answer or job, 2 usage,\n"
      "credential (401/403), unknown org (404) or connection error, 3 rate limited longer\n"
      "than --max-wait. See docs/discovery.md.\n\n"
      "Examples:\n"
      "  mgitctl discover --provider github --org acme --api-credential github-api \\\n"
      "    --credentials-dir /etc/mgitd/credentials --credential github-git \\\n"
      "    --topic backend --pushed-since 90d > jobs.jsonl\n"
      "  mgitctl discover --provider gitea --api-url https://gitea.example.com --org infra \\\n"
      "    --api-credential gitea-api --credentials-dir ./creds --enqueue --wait");

  // credentials check
  CredentialsCheckOptions credentials_options;
  auto* credentials = app.add_subcommand("credentials", "Inspect a credentials directory offline");
  credentials->require_subcommand(1);
  credentials->footer("Example:\n  mgitctl credentials check /etc/mgitd/credentials");
  auto* credentials_check = credentials->add_subcommand(
      "check", "List every problem of every credential file, as mgitd would meet it");
  credentials_check
      ->add_option("directory", credentials_options.directory,
                   "The credentials directory (mgitd's credentials_dir)")
      ->required();
  credentials_check->footer("Example:\n  mgitctl credentials check /etc/mgitd/credentials");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  try {
    if (*create) return run_topics_create(kafka, create_options);
    if (*check) return run_topics_check(kafka, check_options);
    if (*enqueue) return run_enqueue(kafka, enqueue_options);
    if (*results) return run_results(kafka, results_options);
    if (*dlq) return run_dlq(kafka, dlq_options);
    if (*fleet) return run_fleet(kafka, fleet_options);
    if (*validate) return run_validate(validate_options);
    if (*credentials_check) return run_credentials_check(credentials_options);
    if (*discover) return run_discover(kafka, discover_options);
  } catch (const CtlError& e) {
    fmt::print(stderr, "mgitctl: {}\n", e.what());
    return e.exit_code();
  }
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // What else escapes (std::bad_alloc, a CLI11 construction error) is one line and a non-zero
  // exit, not std::terminate's abort.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mgitctl: %s\n", e.what());
    return kExitUsage;
  }
}
