#include <exception>
#include <iostream>

#include "mgit/daemon/config.hpp"
#include "mgit/daemon/daemon.hpp"

int main(int argc, char** argv) {
  try {
    const auto loaded = mgit::daemon::load_config(argc, argv, &mgit::daemon::process_env);
    if (!loaded.config) return loaded.exit_code;
    return mgit::daemon::run_daemon(*loaded.config);
  } catch (const std::exception& e) {
    // Startup and programmer errors only; job-path errors are typed values.
    std::cerr << "mgitd: " << e.what() << "\n";
    return 1;
  }
}
