#include "mgit/execution/executor.hpp"

#include <fmt/format.h>

namespace mgit::execution {

jobs::JobError ExecutionControl::stop_error(std::string_view when) const {
  if (cancel_requested()) {
    return jobs::JobError{jobs::ErrorCode::kInternal, fmt::format("cancelled {}", when)};
  }
  return jobs::JobError{jobs::ErrorCode::kTimeout, fmt::format("deadline passed {}", when)};
}

}  // namespace mgit::execution
