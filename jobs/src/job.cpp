#include "mgit/jobs/job.hpp"

#include <optional>
#include <string_view>

namespace mgit::jobs {

// No `default`: -Wswitch (an error under -Werror) fails the build until a new enumerator is
// named here. The trailing return is only reached through an out-of-range cast.

std::string_view to_string(Operation operation) {
  switch (operation) {
    case Operation::kClone:
      return "clone";
    case Operation::kFetch:
      return "fetch";
    case Operation::kSync:
      return "sync";
    case Operation::kMirror:
      return "mirror";
  }
  return "sync";
}

std::optional<Operation> parse_operation(std::string_view text) {
  if (text == "clone") return Operation::kClone;
  if (text == "fetch") return Operation::kFetch;
  if (text == "sync") return Operation::kSync;
  if (text == "mirror") return Operation::kMirror;
  return std::nullopt;
}

}  // namespace mgit::jobs
