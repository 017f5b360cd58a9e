#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/basics/file_descriptor.hpp"

namespace mgit::daemon {

// The daemon keeps a few files under `<workspace>/.mgitd/`, a directory its worker processes
// may also write to. A worker taken over by a hostile repository could put a FIFO, a socket,
// a device or a symlink where the daemon expects its file, or swap `.mgitd` itself for a
// symlink; opening a FIFO blocks until someone opens the other end, which would hang the
// daemon. These open only regular files, never block on opening, and reach them through the
// directory opened without following a symlink (the workspace's own path is the operator's).
// Temp file and file share that directory.

/// A new, empty regular file at `path`, opened for writing: whatever stands at `path` is
/// unlinked first and the file is created with O_EXCL, so the descriptor is the daemon's own
/// file, never one a worker planted. Errors carry `strerror` text.
tl::expected<basics::FileDescriptor, std::string> create_state_file(
    const std::filesystem::path& path);

/// The contents of the regular file at `path` (no symlink, FIFO or device), at most
/// `max_bytes`. An absent file is an empty optional-like error "absent".
tl::expected<std::string, std::string> read_state_file(const std::filesystem::path& path,
                                                       std::size_t max_bytes);

/// Renames `from` to `to` (same directory) inside that directory.
tl::expected<void, std::string> replace_state_file(const std::filesystem::path& from,
                                                   const std::filesystem::path& to);

/// Removes `path` if it is there; best effort.
void remove_state_file(const std::filesystem::path& path);

/// Writes all of `content` to `fd`, retrying short writes.
bool write_all(int fd, std::string_view content);

}  // namespace mgit::daemon
