// mgitd-bench-noop: the real daemon (intake, scheduler, results, commits) with an executor
// that does nothing, to measure the pipeline's own ceiling. Built from tests/bench only and
// never installed: the shipped mgitd has no mode that reports success without syncing.
#include <exception>
#include <iostream>
#include <memory>

#include "mgit/daemon/config.hpp"
#include "mgit/daemon/daemon.hpp"
#include "mgit/execution/executor.hpp"

namespace {

class NoopExecutor final : public mgit::execution::Executor {
 public:
  tl::expected<mgit::jobs::ExecutionReport, mgit::jobs::JobError> execute(
      const mgit::jobs::Job& /*job*/, const mgit::observability::JobContext& /*ctx*/,
      const mgit::execution::ExecutionControl& /*control*/) override {
    return mgit::jobs::ExecutionReport{};
  }
};

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto loaded = mgit::daemon::load_config(argc, argv, &mgit::daemon::process_env);
    if (!loaded.config) return loaded.exit_code;
    return mgit::daemon::run_daemon(
        *loaded.config,
        [](const mgit::daemon::Config&, mgit::security::CredentialStore&,
           mgit::observability::Metrics&) { return std::make_unique<NoopExecutor>(); });
  } catch (const std::exception& e) {
    std::cerr << "mgitd-bench-noop: " << e.what() << "\n";
    return 1;
  }
}
