#pragma once

#include <unistd.h>

#include <array>
#include <string>

namespace mgit::daemon {

/// This host's name (the pod name on Kubernetes), `mgitd` when it cannot be read.
inline std::string host_name() {
  std::array<char, 256> buffer{};
  if (gethostname(buffer.data(), buffer.size() - 1) != 0) return "mgitd";
  return buffer.data();
}

}  // namespace mgit::daemon
