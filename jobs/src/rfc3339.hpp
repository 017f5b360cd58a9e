#pragma once

#include <chrono>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/jobs/error.hpp"

namespace mgit::jobs {

/// Reads an RFC 3339 timestamp (`2026-11-23T10:00:00Z`; optional fraction, `Z` or `±hh:mm`;
/// years 1970-2200, the range system_clock holds). Errors are `invalid_job` and name the only
/// field that carries one, `not_after`.
tl::expected<std::chrono::system_clock::time_point, JobError> parse_rfc3339(std::string_view text);

}  // namespace mgit::jobs
