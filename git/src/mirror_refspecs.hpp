#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mgit::git {

/// mgitd's own namespace in a target (backups): never fetched into, never pruned by a
/// fetch, never listed as a remote ref.
inline constexpr std::string_view kReservedNamespace = "refs/mgitd/";

/// Whether `ref` is `refs/mgitd` or lies under it.
bool is_reserved_ref(std::string_view ref);

/// One forced refspec of the form libgit2 and mgitd both read: `+<src>*:<dst>*` when `glob`,
/// else `+<src>:<dst>` for one ref.
struct RefMapping {
  std::string src;
  std::string dst;
  bool glob = true;

  /// `+src*:dst*` or `+src:dst`, for libgit2.
  [[nodiscard]] std::string refspec() const;
  /// The local ref a remote ref lands on; nullopt when this mapping does not take it.
  [[nodiscard]] std::optional<std::string> to_local(std::string_view remote_ref) const;
  /// The remote ref a local ref came from; nullopt when it is not one of this mapping's.
  [[nodiscard]] std::optional<std::string> to_remote(std::string_view local_ref) const;
};

/// What a mirror fetches, built from the refs the remote advertised (`git_remote_ls`):
/// one mapping per namespace actually advertised (`refs/heads/` → `+refs/heads/*:refs/heads/*`),
/// one exact mapping per ref directly under `refs/` (`refs/stash`). Never `refs/mgitd/`,
/// `HEAD`, peeled `^{}` entries or a namespace whose name git would not accept as a ref
/// component (the remote's answer is untrusted); those go to `skipped`.
/// libgit2 1.5 has no negative refspecs, so this is how `+refs/*:refs/*` minus `refs/mgitd/`
/// is spelled.
struct MirrorRefspecs {
  std::vector<RefMapping> mappings;  ///< sorted by `src`, no duplicates
  std::vector<std::string> skipped;  ///< advertised names left out (not HEAD or `^{}`)
};
MirrorRefspecs mirror_refspecs(const std::vector<std::string>& advertised);

/// Whether `ref` starts with one of `prefixes` (the backed-up namespace set, e.g.
/// `refs/heads/`).
bool in_namespaces(std::string_view ref, const std::vector<std::string>& prefixes);

}  // namespace mgit::git
