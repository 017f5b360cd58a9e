// RepositorySync's fetch after connect: the download, the force-push safety net and the
// ref updates, apart from repository_sync.cpp so each file stays readable.
#include <fmt/format.h>

#include <chrono>
#include <string>
#include <vector>

#include "mgit/observability/log.hpp"
#include "ref_safety_net.hpp"
#include "repository_sync.hpp"

namespace mgit::git {
namespace {

/// The refspec each layout fetches with; a mirror's are built from the advertisement.
std::vector<RefMapping> layout_mappings(Layout layout, const std::vector<AdvertisedRef>& advertised,
                                        std::vector<std::string>& skipped) {
  switch (layout) {
    case Layout::kWorkTree:
      return {RefMapping{"refs/heads/", "refs/remotes/origin/", true}};
    case Layout::kBare:
      return {RefMapping{"refs/heads/", "refs/heads/", true}};
    case Layout::kMirror: {
      std::vector<std::string> names;
      names.reserve(advertised.size());
      for (const AdvertisedRef& ref : advertised) names.push_back(ref.name);
      MirrorRefspecs specs = mirror_refspecs(names);
      skipped = std::move(specs.skipped);
      return std::move(specs.mappings);
    }
  }
  return {};
}

}  // namespace

tl::expected<void, jobs::JobError> RepositorySync::download_and_update(
    git_remote* remote, Layout layout, const git_fetch_options& options) {
  git_repository* repo = git_remote_owner(remote);
  const auto listed = advertised_refs(remote);
  if (!listed) return tl::make_unexpected(classify(listed.error(), "listing the remote's refs"));
  const std::vector<AdvertisedRef>& advertised = *listed;
  std::vector<std::string> skipped;
  std::vector<RefMapping> mappings = layout_mappings(layout, advertised, skipped);
  if (!skipped.empty()) {
    // Untrusted names: their count and the first one, redacted, not the whole list.
    observability::log(observability::LogLevel::kWarn, ctx_,
                       "remote advertises refs a mirror does not fetch",
                       {{"target", job_.target},
                        {"skipped", skipped.size()},
                        {"first", redactor_.redact(skipped.front())}});
  }
  std::vector<std::string> specs;
  std::vector<char*> spec_ptrs;
  specs.reserve(mappings.size());
  spec_ptrs.reserve(mappings.size());
  for (const RefMapping& mapping : mappings) specs.push_back(mapping.refspec());
  for (std::string& spec : specs) spec_ptrs.push_back(spec.data());
  const git_strarray refspecs{spec_ptrs.data(), spec_ptrs.size()};

  // An empty list would make libgit2 fall back to the remote's own refspecs.
  if (!specs.empty()) {
    if (auto ok = check(git_remote_download(remote, &refspecs, &options), "fetch"); !ok) {
      return ok;
    }
  }
  const bool mirror = layout == Layout::kMirror;
  SafetyNetPolicy policy;
  policy.backups = backups_.enabled && job_.options.ref_backup;
  policy.namespaces = backups_.namespaces;
  policy.retention = BackupRetention{backups_.keep, std::chrono::hours(24 * backups_.max_age_days)};
  policy.prune_all = mirror;
  policy.prune = mirror || job_.options.prune;
  RefSafetyNet net(repo, std::move(policy), std::move(mappings), std::chrono::system_clock::now());
  const auto step =
      [&](const tl::expected<void, GitStepFailure>& done) -> tl::expected<void, jobs::JobError> {
    if (done) return {};
    return tl::make_unexpected(classify(done.error().rc, done.error().action));
  };
  if (auto ok = step(net.prepare(advertised)); !ok) return ok;
  if (auto ok = step(net.prune()); !ok) return ok;
  if (!specs.empty()) {
    const git_remote_callbacks callbacks = options.callbacks;
    if (auto ok = check(
            git_remote_update_tips(remote, &callbacks, 0, options.download_tags, "mgitd: fetch"),
            "fetch");
        !ok) {
      return ok;
    }
  }
  if (auto ok = step(net.finish(transfer_.updates)); !ok) return ok;
  return step(net.expire());
}

}  // namespace mgit::git
