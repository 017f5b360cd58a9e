#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "mgit/daemon/config.hpp"
#include "mgit/daemon/daemon.hpp"

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "worker-process") {
      return mgit::daemon::run_worker_process();
    }
    if (argc > 1 && std::string(argv[1]) == "healthcheck") {
      return mgit::daemon::run_healthcheck(std::vector<std::string>(argv + 2, argv + argc));
    }
    const auto loaded = mgit::daemon::load_config(argc, argv, &mgit::daemon::process_env);
    if (!loaded.config) return loaded.exit_code;
    return mgit::daemon::run_daemon(
        *loaded.config, [argc, argv]() -> tl::expected<mgit::daemon::Config, std::string> {
          auto again = mgit::daemon::load_config(argc, argv, &mgit::daemon::process_env);
          if (!again.config) return tl::make_unexpected("the configuration does not load");
          return *again.config;
        });
  } catch (const std::exception& e) {
    // Startup and programmer errors only; job-path errors are typed values.
    std::cerr << "mgitd: " << e.what() << "\n";
    return 1;
  }
}
