#include "ref_safety_net.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "libgit2_handles.hpp"

namespace mgit::git {
namespace {

// More backups of one ref within one second than this is not a clock, it is a bug.
constexpr int kMaxSequence = 1000;

tl::unexpected<GitStepFailure> failed(int rc, const char* action) {
  return tl::make_unexpected(GitStepFailure{rc, action});
}

git_oid oid_of(const std::string& hex) {
  git_oid oid{};
  if (!hex.empty()) git_oid_fromstr(&oid, hex.c_str());
  return oid;
}

}  // namespace

tl::expected<std::vector<AdvertisedRef>, int> advertised_refs(git_remote* remote) {
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  std::vector<AdvertisedRef> out;
  if (const int rc = git_remote_ls(&heads, &count, remote); rc != 0) return tl::make_unexpected(rc);
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string name = heads[i]->name == nullptr ? "" : heads[i]->name;
    if (name.empty() || name == "HEAD" || name.ends_with("^{}")) continue;
    out.push_back(AdvertisedRef{name, heads[i]->oid});
  }
  return out;
}

RefSafetyNet::RefSafetyNet(git_repository* repo, SafetyNetPolicy policy,
                           std::vector<RefMapping> mappings,
                           std::chrono::system_clock::time_point now)
    : repo_(repo), policy_(std::move(policy)), mappings_(std::move(mappings)), now_(now) {}

/// The remote ref a local ref mirrors; itself when no mapping claims it (a mirror's ref in
/// a namespace the remote stopped advertising, a tag libgit2 followed).
std::string RefSafetyNet::remote_name(const std::string& local) const {
  for (const RefMapping& mapping : mappings_) {
    if (auto remote = mapping.to_remote(local)) return *remote;
  }
  return local;
}

bool RefSafetyNet::backed_up(const std::string& local) const {
  return policy_.backups && in_namespaces(remote_name(local), policy_.namespaces);
}

/// Whether moving from `old_oid` to `new_oid` drops the old tip: it is not an ancestor of the
/// new one. Objects that are not commits (an annotated tag, a tree) cannot be compared, so
/// any change of them counts as forced.
bool RefSafetyNet::forced(const git_oid& old_oid, const git_oid& new_oid) const {
  if (git_oid_equal(&old_oid, &new_oid) != 0) return false;
  const int rc = git_graph_descendant_of(repo_, &new_oid, &old_oid);
  if (rc < 0) git_error_clear();
  return rc != 1;
}

tl::expected<std::vector<BackupName>, GitStepFailure> RefSafetyNet::list_backups(
    const std::string& glob) const {
  git_reference_iterator* raw = nullptr;
  if (const int rc = git_reference_iterator_glob_new(&raw, repo_, glob.c_str()); rc < 0) {
    return failed(rc, "listing backup refs");
  }
  const ReferenceIteratorPtr iterator(raw);
  std::vector<BackupName> out;
  const char* name = nullptr;
  int rc = 0;
  while ((rc = git_reference_next_name(&name, iterator.get())) == 0) {
    if (auto parsed = parse_backup_ref(name)) out.push_back(std::move(*parsed));
  }
  if (rc != GIT_ITEROVER) return failed(rc, "listing backup refs");
  return out;
}

/// Writes `refs/mgitd/backup/<local>/<stamp>` at `old`, unless the newest backup of `local`
/// already holds `old` (a job killed after its backups, before its refs moved).
tl::expected<std::string, GitStepFailure> RefSafetyNet::backup(const std::string& local,
                                                               const git_oid& old) {
  if (auto found = backups_.find(local); found != backups_.end()) return found->second;
  auto existing = list_backups(std::string(kBackupNamespace) + local + "/*");
  if (!existing) return tl::make_unexpected(existing.error());
  std::erase_if(*existing, [&](const BackupName& b) { return b.ref != local; });
  const auto newest = std::max_element(
      existing->begin(), existing->end(), [](const BackupName& a, const BackupName& b) {
        return std::tie(a.taken, a.sequence) < std::tie(b.taken, b.sequence);
      });
  if (newest != existing->end()) {
    git_oid held{};
    if (git_reference_name_to_id(&held, repo_, newest->name.c_str()) == 0 &&
        git_oid_equal(&held, &old) != 0) {
      return backups_[local] = newest->name;
    }
  }
  const std::string stamp = backup_stamp(now_);
  const auto create = [&](const std::string& name) {
    git_reference* created = nullptr;
    const int rc = git_reference_create(&created, repo_, name.c_str(), &old, 0,
                                        "mgitd: backup before a forced update");
    if (rc == 0) git_reference_free(created);
    return rc;
  };
  for (int sequence = 0; sequence <= kMaxSequence; ++sequence) {
    const std::string name = backup_ref_name(local, stamp, sequence);
    const int rc = create(name);
    if (rc == 0) return backups_[local] = name;
    if (rc == GIT_EEXISTS) continue;
    // The name's folder is another backup's file: a branch named `x/<stamp of x's backup>`
    // was pushed and deleted. The tip is kept under a name that cannot collide (the stamp
    // first); retention leaves it alone, so such a backup stays until removed by hand.
    git_error_clear();
    const std::string collided =
        fmt::format("refs/mgitd/backup-collided/{}-{}/{}", stamp, sequence, local);
    if (const int again = create(collided); again != 0)
      return failed(again, "writing a backup ref");
    return backups_[local] = collided;
  }
  return failed(GIT_EEXISTS, "writing a backup ref");
}

tl::expected<void, GitStepFailure> RefSafetyNet::prepare(
    const std::vector<AdvertisedRef>& advertised) {
  std::map<std::string, git_oid> incoming;  // local ref → the tip the update gives it
  for (const AdvertisedRef& ref : advertised) {
    for (const RefMapping& mapping : mappings_) {
      if (auto local = mapping.to_local(ref.name); local && !is_reserved_ref(*local)) {
        incoming.emplace(std::move(*local), ref.oid);
        break;
      }
    }
  }
  git_reference_iterator* raw = nullptr;
  if (const int rc = git_reference_iterator_new(&raw, repo_); rc < 0) {
    return failed(rc, "listing refs");
  }
  const ReferenceIteratorPtr iterator(raw);
  std::vector<std::pair<std::string, git_oid>> local_refs;
  git_reference* ref = nullptr;
  int rc = 0;
  while ((rc = git_reference_next(&ref, iterator.get())) == 0) {
    const ReferencePtr owned(ref);
    const git_oid* target = git_reference_target(ref);
    if (target == nullptr || is_reserved_ref(git_reference_name(ref))) continue;  // symbolic
    local_refs.emplace_back(git_reference_name(ref), *target);
  }
  if (rc != GIT_ITEROVER) return failed(rc, "listing refs");

  for (const auto& local : local_refs) {
    // Not a structured binding: clang 14 cannot capture one in the lambda below.
    const std::string& name = local.first;
    const git_oid& old = local.second;
    bool drops_tip = false;
    if (auto in = incoming.find(name); in != incoming.end()) {
      drops_tip = forced(old, in->second);
    } else {
      const bool mapped = std::any_of(mappings_.begin(), mappings_.end(),
                                      [&](const RefMapping& m) { return m.to_remote(name); });
      if (policy_.prune_all || (policy_.prune && mapped)) {
        to_prune_.emplace(name, old);
        drops_tip = true;
      }
    }
    if (drops_tip && backed_up(name)) {
      if (auto made = backup(name, old); !made) return tl::make_unexpected(made.error());
    }
  }
  return {};
}

tl::expected<void, GitStepFailure> RefSafetyNet::finish(std::vector<jobs::RefUpdate>& updates) {
  for (jobs::RefUpdate& update : updates) {
    if (update.old_oid.empty() || update.new_oid.empty()) continue;
    const git_oid old = oid_of(update.old_oid);
    if (!forced(old, oid_of(update.new_oid))) continue;
    update.forced = true;
    if (!backed_up(update.ref)) continue;
    // Foreseen by `prepare` unless libgit2 moved a ref outside the mappings (a tag it
    // followed); then the backup comes after the move, while the old objects are still here.
    auto made = backup(update.ref, old);
    if (!made) return tl::make_unexpected(made.error());
    update.backup_ref = *made;
  }
  updates.insert(updates.end(), std::make_move_iterator(pruned_.begin()),
                 std::make_move_iterator(pruned_.end()));
  pruned_.clear();
  return {};
}

tl::expected<void, GitStepFailure> RefSafetyNet::prune() {
  for (const auto& [name, old] : to_prune_) {
    git_reference* ref = nullptr;
    if (const int rc = git_reference_lookup(&ref, repo_, name.c_str()); rc == GIT_ENOTFOUND) {
      continue;
    } else if (rc < 0) {
      return failed(rc, "prune");
    }
    const ReferencePtr owned(ref);
    if (const int rc = git_reference_delete(ref); rc < 0) return failed(rc, "prune");
    jobs::RefUpdate deleted{name, oid_hex(&old), {}};
    deleted.forced = true;
    if (auto found = backups_.find(name); found != backups_.end()) {
      deleted.backup_ref = found->second;
    }
    pruned_.push_back(std::move(deleted));
  }
  return {};
}

tl::expected<void, GitStepFailure> RefSafetyNet::expire() {
  const BackupRetention& retention = policy_.retention;
  if (retention.keep <= 0 && retention.max_age.count() <= 0) return {};
  auto all = list_backups(std::string(kBackupNamespace) + "*");
  if (!all) return tl::make_unexpected(all.error());
  std::vector<std::string> protect;
  protect.reserve(backups_.size());
  for (const auto& [ref, name] : backups_) protect.push_back(name);
  for (const std::string& name : expired_backups(*all, retention, now_, protect)) {
    if (const int rc = git_reference_remove(repo_, name.c_str()); rc < 0 && rc != GIT_ENOTFOUND) {
      return failed(rc, "removing an expired backup ref");
    }
  }
  return {};
}

}  // namespace mgit::git
