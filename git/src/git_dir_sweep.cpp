#include "git_dir_sweep.hpp"

#include <string>
#include <string_view>
#include <system_error>

#include "mgit/basics/ascii.hpp"

namespace mgit::git {
namespace {

namespace fs = std::filesystem;
using basics::starts_with;

// Bounds each recursive walk (`refs/`, `logs/`), which a huge repository may fill with loose
// refs and reflogs.
constexpr std::size_t kMaxScanEntries = 100000;

bool is_regular_file(const fs::directory_entry& entry) {
  std::error_code ec;
  return entry.symlink_status(ec).type() == fs::file_type::regular;
}

bool remove_file(const fs::path& path) {
  std::error_code ec;
  return fs::remove(path, ec);
}

/// Calls `visit` for each entry of `dir` (not recursing), or of its whole tree.
template <class Visit>
void for_each_entry(const fs::path& dir, bool recursive, Visit&& visit) {
  std::error_code ec;
  if (fs::symlink_status(dir, ec).type() != fs::file_type::directory) return;
  if (!recursive) {
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      visit(*it);
    }
    return;
  }
  std::size_t visited = 0;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator() && ++visited <= kMaxScanEntries;
       it.increment(ec)) {
    visit(*it);
  }
}

}  // namespace

SweptFiles sweep_git_dir(const fs::path& git_dir) {
  SweptFiles swept;
  const auto remove_if_lock = [&](const fs::directory_entry& entry) {
    if (entry.path().extension() == ".lock" && is_regular_file(entry) &&
        remove_file(entry.path())) {
      ++swept.locks;
    }
  };
  for_each_entry(git_dir, false, remove_if_lock);
  for_each_entry(git_dir / "refs", true, remove_if_lock);
  for_each_entry(git_dir / "logs", true, remove_if_lock);

  for_each_entry(git_dir / "objects", false, [&](const fs::directory_entry& entry) {
    if (starts_with(entry.path().filename().string(), "tmp_object_git2_") &&
        is_regular_file(entry) && remove_file(entry.path())) {
      ++swept.temporaries;
    }
  });
  for_each_entry(git_dir / "objects" / "pack", false, [&](const fs::directory_entry& entry) {
    if (!is_regular_file(entry)) return;
    const std::string name = entry.path().filename().string();
    if (starts_with(name, "pack_git2_")) {
      if (remove_file(entry.path())) ++swept.temporaries;
      return;
    }
    if (entry.path().extension() == ".lock") {
      if (remove_file(entry.path())) ++swept.locks;
      return;
    }
    if (starts_with(name, "pack-") && entry.path().extension() == ".idx") {
      fs::path pack = entry.path();
      pack.replace_extension(".pack");
      std::error_code ec;
      if (fs::symlink_status(pack, ec).type() == fs::file_type::not_found &&
          remove_file(entry.path())) {
        ++swept.temporaries;
      }
    }
  });
  return swept;
}

}  // namespace mgit::git
