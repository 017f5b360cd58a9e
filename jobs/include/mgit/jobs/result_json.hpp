#pragma once

#include <cstddef>
#include <string>

#include "mgit/jobs/result.hpp"

namespace mgit::jobs {

/// Serializes `mgit.sync-result/v1`. When the event would exceed `max_bytes`,
/// `refs_updated` is truncated (with `refs_updated_total`) so the event fits.
std::string result_to_json(const JobResult& result,
                           std::size_t max_bytes = std::size_t{900} * 1024);

}  // namespace mgit::jobs
