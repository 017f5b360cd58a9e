#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "mgit/git/target_store.hpp"

namespace mgit::git {

/// The record in `text` (schema `mgit.target/v1`), or nothing when it is not JSON or does not
/// have the shape `serialize_record` writes (a truncated write, a hand edit, another
/// program's file), or belongs to another target.
std::optional<TargetRecord> parse_record(std::string_view text, std::string_view target);

std::string serialize_record(const TargetRecord& record);

}  // namespace mgit::git
