#include "mgit/jobs/result.hpp"

#include <string_view>

namespace mgit::jobs {

// No `default`: -Wswitch (an error under -Werror) fails the build until a new enumerator is
// named here. The trailing return is only reached through an out-of-range cast.

std::string_view to_string(Status status) {
  switch (status) {
    case Status::kSucceeded:
      return "succeeded";
    case Status::kFailed:
      return "failed";
    case Status::kRejected:
      return "rejected";
    case Status::kExpired:
      return "expired";
  }
  return "failed";
}

}  // namespace mgit::jobs
