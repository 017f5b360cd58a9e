#pragma once

#include <git2.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <tl/expected.hpp>

namespace mgit::git {

/// Blob bytes a checkout involves, read from object headers (no blob is inflated). Sizes are
/// git's, not the file system's: block rounding and filters are ignored.
struct CheckoutBytes {
  std::uint64_t tree = 0;     ///< every blob of the new tree: the work tree's size afterwards
  std::uint64_t written = 0;  ///< blobs added or changed relative to the current tree
};

/// Sizes checking out `to` over `from` (null: an empty work tree, as after a clone). The tree
/// total is only summed when `tree_limit` is set, since it walks every entry. Each sum stops
/// growing once it passes its limit (the caller only needs to know it is over). Submodule
/// entries count nothing. A failed libgit2 call returns its code; `git_error_last()` says why.
tl::expected<CheckoutBytes, int> checkout_bytes(git_repository* repo, git_tree* from, git_tree* to,
                                                std::optional<std::uint64_t> tree_limit,
                                                std::uint64_t written_limit);

/// Bytes an unprivileged process may still write on the file system holding `path`;
/// nothing when it cannot be read.
std::optional<std::uint64_t> free_bytes(const std::filesystem::path& path);

}  // namespace mgit::git
