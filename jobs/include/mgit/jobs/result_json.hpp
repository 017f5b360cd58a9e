#pragma once

#include <cstddef>
#include <string>

#include "mgit/jobs/parse.hpp"
#include "mgit/jobs/result.hpp"

namespace mgit::jobs {

/// Serializes `mgit.sync-result/v1`. When the event would exceed `max_bytes`,
/// `refs_updated` is truncated (with `refs_updated_total`) so the event fits.
std::string result_to_json(const JobResult& result, std::size_t max_bytes = 900 * 1024);

/// Strips userinfo (user names and anything else) from a URL for publishing and logging.
std::string strip_userinfo(std::string_view url);

}  // namespace mgit::jobs
