#include "worker_mode.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>

#include "mgit/daemon/daemon.hpp"
#include "mgit/git/git_executor.hpp"
#include "mgit/isolation/worker.hpp"

namespace mgit::daemon {
namespace {

std::uint64_t mebibytes(int value) { return static_cast<std::uint64_t>(value) << 20; }

}  // namespace

isolation::WorkerPoolSettings worker_pool_settings(const Config& config,
                                                   const security::CredentialStore& credentials,
                                                   observability::Metrics& metrics) {
  isolation::WorkerPoolSettings settings;
  auto& setup = settings.setup;
  setup.workspace = config.workspace;
  setup.min_free_disk_percent = config.min_free_disk_percent;
  setup.memory_limit_bytes = mebibytes(config.worker_memory_limit_mb);
  setup.file_size_limit_bytes = mebibytes(config.max_file_size_mb);
  setup.max_received_bytes = mebibytes(config.max_fetch_size_mb);
  setup.max_checkout_bytes = mebibytes(config.max_checkout_size_mb);
  setup.max_pack_objects = static_cast<std::uint64_t>(config.max_pack_objects);
  setup.log_level = config.log_level;
  setup.network_allow = config.network_allow;
  setup.allow_plain_http = config.allow_plain_http;
  setup.follow_redirects = config.follow_redirects;
  setup.git_proxy = config.git_proxy;
  setup.connect_timeout_seconds = config.connect_timeout_seconds;
  setup.socket_timeout_seconds = config.socket_timeout_seconds;
  setup.ca_file = config.git_ca_file;
  setup.ref_backup = config.ref_backup;
  setup.ref_backup_namespaces = config.ref_backup_namespaces;
  setup.ref_backup_keep = config.ref_backup_keep;
  setup.ref_backup_max_age_days = config.ref_backup_max_age_days;
  settings.home = std::filesystem::path(config.workspace) / ".mgitd" / "worker-home";
  settings.credentials = &credentials;
  settings.stall_timeout = std::chrono::seconds(config.stall_timeout_seconds);
  settings.max_jobs_per_worker = config.worker_max_jobs;
  settings.on_worker_replaced = [&metrics](std::string_view reason) {
    metrics.worker_restart(reason);
  };
  return settings;
}

int run_worker_process() {
  return isolation::run_worker(
      isolation::kWorkerSocketFd,
      [](const isolation::WorkerSetup& setup,
         const security::CredentialSource& credentials) -> std::unique_ptr<execution::Executor> {
        git::GitExecutorSettings settings;
        settings.workspace = setup.workspace;
        settings.credentials = &credentials;
        settings.min_free_disk_percent = setup.min_free_disk_percent;
        settings.max_received_bytes = setup.max_received_bytes;
        settings.max_checkout_bytes = setup.max_checkout_bytes;
        settings.max_pack_objects = static_cast<std::size_t>(setup.max_pack_objects);
        // Validated by the supervisor's config; a setup it could not have sent is refused.
        auto policy = security::NetworkPolicy::parse(setup.network_allow);
        if (!policy) throw std::runtime_error(policy.error());
        settings.network_policy = std::move(*policy);
        settings.allow_plain_http = setup.allow_plain_http;
        settings.follow_redirects = setup.follow_redirects == "same_host"
                                        ? git::FollowRedirects::kSameHost
                                        : git::FollowRedirects::kNone;
        settings.git_proxy = setup.git_proxy;
        settings.connect_timeout = std::chrono::seconds(setup.connect_timeout_seconds);
        settings.socket_timeout = std::chrono::seconds(setup.socket_timeout_seconds);
        settings.ca_file = setup.ca_file;
        settings.ref_backup =
            git::RefBackupSettings{setup.ref_backup, setup.ref_backup_namespaces,
                                   setup.ref_backup_keep, setup.ref_backup_max_age_days};
        return std::make_unique<git::GitExecutor>(std::move(settings));
      });
}

}  // namespace mgit::daemon
