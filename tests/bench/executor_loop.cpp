// mgit-bench-executor-loop: mgitd's executor alone, one thread, no daemon, no worker process:
// the per-job cost of GitExecutor::execute for a nothing-new sync, for profiling (perf, strace)
// beside mgit-bench-fetch-loop, and for the per-phase budget of docs/performance.md.
//
//   mgit-bench-executor-loop WORKSPACE CREDENTIALS_DIR CA_FILE ROUNDS URL...
//       Round 0 mirrors each URL into target tN (a clone); rounds 1..ROUNDS sync them again,
//       timed (BENCH_WORK_TREE=1: work-tree syncs instead of mirrors). CREDENTIALS_DIR holds a
//       credential named `server` (hosts= the URLs' host). Logs at debug level to stdout (one `git
//       job phases` line per job), then prints `executor-loop syncs=N failed=F wall_us=W
//       per_sync_us=P`; exit 0 when all succeeded.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "mgit/git/git_executor.hpp"
#include "mgit/jobs/repository_key.hpp"
#include "mgit/observability/log.hpp"
#include "mgit/security/credentials.hpp"

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s WORKSPACE CREDENTIALS_DIR CA_FILE ROUNDS URL...\n", argv[0]);
    return 2;
  }
  using namespace mgit;
  observability::init_logging(observability::LogLevel::kDebug);
  const security::CredentialStore credentials(argv[2]);
  git::GitExecutorSettings settings;
  settings.workspace = argv[1];
  settings.credentials = &credentials;
  settings.min_free_disk_percent = 0;
  settings.network_policy = *security::NetworkPolicy::parse({"127.0.0.1/32", "::1/128"});
  settings.ca_file = argv[3];
  git::GitExecutor executor(settings);
  const int rounds = std::atoi(argv[4]);
  // Mirrors, as mgit-bench-fetch-loop and scripts/bench's fleet scenarios; BENCH_WORK_TREE=1
  // syncs work trees (a checkout per job) instead.
  const char* work_tree = std::getenv("BENCH_WORK_TREE");
  const jobs::Operation operation = work_tree != nullptr && std::string(work_tree) == "1"
                                        ? jobs::Operation::kSync
                                        : jobs::Operation::kMirror;
  std::vector<std::string> urls(argv + 5, argv + argc);

  int failed = 0;
  int counter = 0;
  const auto run = [&](std::size_t i) {
    jobs::Job job;
    // Unique per process: a job id the target already served is answered from its record.
    job.job_id = "bench-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    job.correlation_id = job.job_id;
    job.operation = operation;
    job.repository_url = urls[i];
    job.repository_key = jobs::normalize_repository_url(urls[i]).value_or(urls[i]);
    job.credential = "server";
    job.target = "t" + std::to_string(i);
    const auto outcome = executor.execute(job, observability::JobContext{}, {});
    if (!outcome) {
      ++failed;
      std::fprintf(stderr, "%s: %s\n", urls[i].c_str(), outcome.error().message.c_str());
    }
  };
  for (std::size_t i = 0; i < urls.size(); ++i) run(i);
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < urls.size(); ++i) run(i);
  }
  const auto wall = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  const auto syncs = static_cast<long long>(rounds) * static_cast<long long>(urls.size());
  std::printf("executor-loop syncs=%lld failed=%d wall_us=%lld per_sync_us=%lld\n", syncs, failed,
              static_cast<long long>(wall),
              syncs == 0 ? 0LL : static_cast<long long>(wall) / syncs);
  return failed == 0 ? 0 : 1;
}
