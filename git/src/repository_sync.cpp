#include "repository_sync.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <optional>

#include "checkout_size.hpp"
#include "error_classification.hpp"
#include "existing_target.hpp"
#include "git_dir_sweep.hpp"
#include "job_phases.hpp"
#include "mgit/basics/ascii.hpp"
#include "mgit/observability/log.hpp"
#include "preemptive_auth.hpp"

namespace mgit::git {
namespace {

using basics::starts_with;
using jobs::ErrorCode;
using jobs::ExecutionReport;
using jobs::JobError;

constexpr std::string_view kRemote = "origin";

std::string_view fetchspec(Layout layout) {
  switch (layout) {
    case Layout::kWorkTree:
      return "+refs/heads/*:refs/remotes/origin/*";
    case Layout::kBare:
      return "+refs/heads/*:refs/heads/*";
    case Layout::kMirror:
      return "+refs/*:refs/*";
  }
  return "+refs/heads/*:refs/remotes/origin/*";
}

}  // namespace

RepositorySync::RepositorySync(const jobs::Job& job, std::filesystem::path path,
                               const execution::ExecutionControl& control,
                               const security::Credential* credential,
                               const security::Redactor& redactor,
                               const observability::JobContext& ctx, SyncLimits limits,
                               SyncNetwork network, RefBackupSettings backups)
    : job_(job),
      path_(std::move(path)),
      control_(control),
      redactor_(redactor),
      ctx_(ctx),
      limits_(limits),
      network_(std::move(network)),
      backups_(std::move(backups)) {
  transfer_.control = &control;
  transfer_.credential = credential;
  transfer_.url = job_.repository_url;
  transfer_.max_received_bytes = limits.max_received_bytes;
  transfer_.connections = &connections_;
  transfer_.job_endpoint = network_.job.endpoint;
  transfer_.job_url_port = network_.job.port_in_url;
  // Not through a proxy: the policy stream then sees only the proxy, and libgit2 1.5 follows
  // a redirect to another port of the job's host, where the header would go along.
  if (network_.git_proxy.empty()) {
    auth_header_ =
        preemptive_auth_header(credential, job_.repository_url, network_.policy.follow_redirects);
  }
  transfer_.credential_presented = auth_header_.has_value();
}

tl::expected<void, JobError> RepositorySync::check(int rc, std::string_view action) {
  if (rc >= 0) return {};
  return tl::make_unexpected(classify(rc, action));
}

JobError RepositorySync::classify(int rc, std::string_view action) {
  // Read first: anything below may overwrite libgit2's last error and errno.
  const GitFailure failure = last_git_failure(rc);
  if (transfer_.stopped) return control_.stop_error(fmt::format("during {}", action));
  if (connections_.denial) transfer_.findings.policy_denied = connections_.denial->message;
  transfer_.findings.connection_refused = connections_.refused;
  ClassifiedError classified =
      classify_git_error(failure, transfer_.findings,
                         FailureContext{action, job_.credential, redactor_,
                                        job_.repository_key.starts_with("ssh://")});
  if (classified.lock_held) lock_held_ = true;
  return std::move(classified.error);
}

/// Connects, learns the remote's default branch, fetches with the remote's refspecs.
/// Returns the default branch (`refs/heads/x`), empty for an empty remote.
tl::expected<std::string, JobError> RepositorySync::fetch(git_remote* remote, Layout layout) {
  // Every connection libgit2 makes from here on goes through the policy stream with this
  // job's policy (policy_stream.hpp).
  const ConnectScope scope(network_.policy, connections_);
  const git_remote_callbacks callbacks = make_callbacks(transfer_);
  git_proxy_options proxy;
  git_proxy_options_init(&proxy, GIT_PROXY_OPTIONS_VERSION);
  // Never GIT_PROXY_AUTO: a proxy from the environment or git config would be the only
  // endpoint the stream sees.
  proxy.type = network_.git_proxy.empty() ? GIT_PROXY_NONE : GIT_PROXY_SPECIFIED;
  proxy.url = network_.git_proxy.empty() ? nullptr : network_.git_proxy.c_str();
  // libgit2's NONE still follows redirects to another port of the same host; with
  // follow_redirects = none the stream refuses those connections.
  constexpr git_remote_redirect_t kRedirects = GIT_REMOTE_REDIRECT_NONE;
  // The credential on the first request (info/refs, asked at connect) and on the fetch's
  // (libgit2 replaces the connect options with the fetch's when it reuses the connection).
  char* header = auth_header_ ? const_cast<char*>(auth_header_->reveal().c_str()) : nullptr;
  const git_strarray headers{&header, header != nullptr ? 1U : 0U};
  git_remote_connect_options connect;
  git_remote_connect_options_init(&connect, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
  connect.callbacks = callbacks;
  connect.proxy_opts = proxy;
  connect.follow_redirects = kRedirects;
  connect.custom_headers = headers;
  if (auto ok = check(git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &connect), "connect");
      !ok) {
    return tl::make_unexpected(ok.error());
  }
  std::string default_branch;
  Buffer buffer;
  if (const int rc = git_remote_default_branch(&buffer.buf, remote); rc == 0) {
    default_branch = buffer.str();
  } else if (rc != GIT_ENOTFOUND) {
    return tl::make_unexpected(classify(rc, "default branch lookup"));
  }
  JobPhases::mark(Phase::kConnect);

  git_fetch_options options;
  git_fetch_options_init(&options, GIT_FETCH_OPTIONS_VERSION);
  options.callbacks = callbacks;
  options.proxy_opts = proxy;
  options.follow_redirects = kRedirects;
  options.custom_headers = headers;
  // libgit2's prune deletes before anything could be backed up, and with `+refs/*:refs/*`
  // it would also delete `refs/mgitd/`: mgitd prunes itself (ref_safety_net.hpp).
  options.prune = GIT_FETCH_NO_PRUNE;
  // A mirror's refspecs name the tags; the others take them all so a tag can be checked out.
  options.download_tags =
      layout == Layout::kMirror ? GIT_REMOTE_DOWNLOAD_TAGS_NONE : GIT_REMOTE_DOWNLOAD_TAGS_ALL;
  options.update_fetchhead = 0;
  if (auto ok = download_and_update(remote, layout, options); !ok) {
    return tl::make_unexpected(ok.error());
  }
  JobPhases::mark(Phase::kFetch);
  const git_indexer_progress* stats = git_remote_stats(remote);
  report_.received_objects = stats->received_objects;
  report_.received_bytes = stats->received_bytes;
  return default_branch;
}

/// Forces the work tree to the fetched commit of `ref` (or the default branch): a branch
/// becomes a local branch reset to `origin/<branch>`, a tag or commit id a detached HEAD.
tl::expected<void, JobError> RepositorySync::checkout(git_repository* repo,
                                                      const std::string& default_branch) {
  std::string name = job_.ref.empty() ? default_branch : job_.ref;
  if (name.empty()) return {};  // empty remote: nothing to check out
  std::string branch;
  std::string source;  // the ref holding the commit
  const auto exists = [&](const std::string& ref) {
    git_oid oid;
    return git_reference_name_to_id(&oid, repo, ref.c_str()) == 0;
  };
  if (starts_with(name, "refs/heads/")) {
    branch = name.substr(11);
    source = fmt::format("refs/remotes/{}/{}", kRemote, branch);
  } else if (starts_with(name, "refs/")) {
    source = name;
  } else if (exists(fmt::format("refs/remotes/{}/{}", kRemote, name))) {
    branch = name;
    source = fmt::format("refs/remotes/{}/{}", kRemote, name);
  } else if (exists("refs/tags/" + name)) {
    source = "refs/tags/" + name;
  }

  ObjectPtr commit;
  if (!source.empty()) {
    git_object* object = nullptr;
    ObjectPtr target;
    if (git_revparse_single(&object, repo, source.c_str()) == 0) target.reset(object);
    if (target && git_object_peel(&object, target.get(), GIT_OBJECT_COMMIT) == 0) {
      commit.reset(object);
    }
  } else if (name.size() == GIT_OID_HEXSZ) {
    git_oid oid;
    git_object* object = nullptr;
    if (git_oid_fromstr(&oid, name.c_str()) == 0 &&
        git_object_lookup(&object, repo, &oid, GIT_OBJECT_COMMIT) == 0) {
      commit.reset(object);
    }
  }
  if (!commit) {
    return tl::make_unexpected(
        JobError{ErrorCode::kNotFound,
                 redactor_.redact(fmt::format("ref '{}' not found on the remote", name))});
  }

  if (auto ok = check_checkout_size(repo, commit.get()); !ok) return ok;

  git_checkout_options options;
  git_checkout_options_init(&options, GIT_CHECKOUT_OPTIONS_VERSION);
  options.checkout_strategy = GIT_CHECKOUT_FORCE;
  // A large checkout is progress too: without it a supervisor would take it for a stall.
  options.progress_cb = [](const char* /*path*/, size_t completed, size_t /*total*/,
                           void* payload) {
    auto& t = *static_cast<Transfer*>(payload);
    t.progress.checkout_steps = completed;
    t.control->report(t.progress);
  };
  options.progress_payload = &transfer_;
  if (auto ok = check(git_checkout_tree(repo, commit.get(), &options), "checkout"); !ok) return ok;
  const git_oid* oid = git_object_id(commit.get());
  if (branch.empty()) {
    detached_ref_ = source.empty() ? std::string("HEAD") : source;
    return check(git_repository_set_head_detached(repo, oid), "checkout");
  }
  const std::string local = "refs/heads/" + branch;
  git_reference* created = nullptr;
  if (auto ok = check(git_reference_create(&created, repo, local.c_str(), oid, 1, "mgitd: sync"),
                      "checkout");
      !ok) {
    return ok;
  }
  ReferencePtr owned(created);
  if (auto ok = configure(repo, {{fmt::format("branch.{}.remote", branch), std::string(kRemote)},
                                 {fmt::format("branch.{}.merge", branch), local}});
      !ok) {
    return ok;
  }
  return check(git_repository_set_head(repo, local.c_str()), "checkout");
}

/// Refuses (`disk_full`) a checkout that would make the work tree larger than
/// `max_checkout_bytes` or write more than the file system has free, before it writes a
/// file: a checkout that fills the disk half-way leaves a work tree matching no commit.
tl::expected<void, JobError> RepositorySync::check_checkout_size(git_repository* repo,
                                                                 git_object* commit) {
  git_object* object = nullptr;
  if (auto ok = check(git_object_peel(&object, commit, GIT_OBJECT_TREE), "checkout"); !ok) {
    return ok;
  }
  const TreePtr to(reinterpret_cast<git_tree*>(object));
  TreePtr from;  // none before the first checkout: every file is written
  if (git_revparse_single(&object, repo, "HEAD^{tree}") == 0) {
    from.reset(reinterpret_cast<git_tree*>(object));
  }
  if (from && git_oid_equal(git_tree_id(from.get()), git_tree_id(to.get())) != 0) return {};

  const std::uint64_t available = free_bytes(path_).value_or(UINT64_MAX);
  const std::uint64_t limit = limits_.max_checkout_bytes;
  auto bytes =
      checkout_bytes(repo, from.get(), to.get(),
                     limit == 0 ? std::nullopt : std::optional<std::uint64_t>(limit), available);
  if (!bytes) return tl::make_unexpected(classify(bytes.error(), "checkout"));
  if (limit != 0 && bytes->tree > limit) {
    return tl::make_unexpected(JobError{
        ErrorCode::kDiskFull,
        fmt::format("checkout refused: the tree's files add up to more than max_checkout_bytes "
                    "({} bytes)",
                    limit)});
  }
  if (bytes->written > available) {
    return tl::make_unexpected(
        JobError{ErrorCode::kDiskFull,
                 fmt::format("checkout refused: it would write more than the {} bytes free on the "
                             "workspace's file system",
                             available)});
  }
  return {};
}

/// Bare targets have no work tree: HEAD names the job's branch when it exists, else the
/// remote's default branch.
tl::expected<void, JobError> RepositorySync::point_head(git_repository* repo,
                                                        const std::string& default_branch) {
  std::string head = default_branch;
  if (!job_.ref.empty()) {
    const std::string wanted =
        starts_with(job_.ref, "refs/heads/") ? job_.ref : "refs/heads/" + job_.ref;
    git_oid oid;
    if (git_reference_name_to_id(&oid, repo, wanted.c_str()) == 0) head = wanted;
  }
  if (head.empty()) return {};
  return check(git_repository_set_head(repo, head.c_str()), "set HEAD");
}

tl::expected<ExecutionReport, JobError> RepositorySync::finish(git_repository* repo, Layout layout,
                                                               bool checkout_ref,
                                                               const std::string& default_branch) {
  if (checkout_ref) {
    auto ok = layout == Layout::kWorkTree ? checkout(repo, default_branch)
                                          : point_head(repo, default_branch);
    if (!ok) return tl::make_unexpected(ok.error());
  }
  git_reference* head = nullptr;
  const int rc = git_repository_head(&head, repo);
  if (rc == 0) {
    ReferencePtr owned(head);
    report_.head_ref = git_repository_head_detached(repo) == 1
                           ? (detached_ref_.empty() ? std::string("HEAD") : detached_ref_)
                           : std::string(git_reference_name(head));
    report_.head_oid = oid_hex(git_reference_target(head));
  } else if (rc == GIT_EUNBORNBRANCH || rc == GIT_ENOTFOUND) {
    git_reference* symbolic = nullptr;
    if (git_reference_lookup(&symbolic, repo, "HEAD") == 0) {
      ReferencePtr owned(symbolic);
      if (const char* target = git_reference_symbolic_target(symbolic)) report_.head_ref = target;
    }
  } else {
    return tl::make_unexpected(classify(rc, "reading HEAD"));
  }
  report_.refs_updated = std::move(transfer_.updates);
  return std::move(report_);
}

// libgit2 1.5.1 leaks a PCRE2 match block (~20 KiB with PCRE2 10.4x) for every config entry
// that does not match the `url.*.insteadof` pattern, on every git_remote_lookup, named
// git_remote_create* and git_branch_set_upstream (fixed upstream in libgit2#6382, 1.6).
// A daemon running thousands of jobs cannot afford that, so the executor never calls them:
// it writes the remote's config keys itself and fetches through an in-memory remote built
// from the target's layout, skipping insteadOf.
tl::expected<RemotePtr, JobError> RepositorySync::in_memory_remote(git_repository* repo,
                                                                   Layout layout) {
  git_remote_create_options options;
  git_remote_create_options_init(&options, GIT_REMOTE_CREATE_OPTIONS_VERSION);
  options.repository = repo;
  options.name = nullptr;
  // A mirror's refspecs are built per fetch from what the remote advertises and passed to
  // the download; without a base `+refs/*:refs/*` nothing else (libgit2's opportunistic
  // updates of configured refspecs) can ever reach `refs/mgitd/`.
  const std::string spec(fetchspec(layout));
  options.fetchspec = layout == Layout::kMirror ? nullptr : spec.c_str();
  options.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  git_remote* remote = nullptr;
  if (auto ok = check(git_remote_create_with_opts(&remote, job_.repository_url.c_str(), &options),
                      "remote setup");
      !ok) {
    return tl::make_unexpected(ok.error());
  }
  return RemotePtr(remote);
}

/// Writes `key=value` pairs into the repository's own config, so plain `git` run in the
/// target later sees a normal `origin`. A key that already has its value is not set again:
/// most jobs set the same URL and branch keys. (libgit2 1.5 itself compares before writing,
/// measured: no config.lock per job either way; this keeps it so without relying on that.)
tl::expected<void, JobError> RepositorySync::configure(
    git_repository* repo, std::initializer_list<std::pair<std::string, std::string>> values) {
  git_config* raw_config = nullptr;
  if (auto ok = check(git_repository_config(&raw_config, repo), "config"); !ok) return ok;
  ConfigPtr config(raw_config);
  for (const auto& [key, value] : values) {
    Buffer current;
    if (git_config_get_string_buf(&current.buf, config.get(), key.c_str()) == 0 &&
        current.str() == value) {
      continue;
    }
    if (auto ok = check(git_config_set_string(config.get(), key.c_str(), value.c_str()), "config");
        !ok) {
      return ok;
    }
  }
  return {};
}

tl::expected<ExecutionReport, JobError> RepositorySync::create(Layout layout) {
  git_repository_init_options init;
  git_repository_init_options_init(&init, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
  init.flags = GIT_REPOSITORY_INIT_NO_REINIT | GIT_REPOSITORY_INIT_MKPATH;
  if (layout != Layout::kWorkTree) init.flags |= GIT_REPOSITORY_INIT_BARE;
  git_repository* raw_repo = nullptr;
  if (auto ok = check(git_repository_init_ext(&raw_repo, path_.c_str(), &init), "init"); !ok) {
    return tl::make_unexpected(ok.error());
  }
  RepositoryPtr repo(raw_repo);
  auto configured =
      layout == Layout::kMirror
          ? configure(repo.get(), {{"remote.origin.url", job_.repository_url},
                                   {"remote.origin.fetch", std::string(fetchspec(layout))},
                                   {"remote.origin.mirror", "true"},
                                   // Whoever serves or clones the mirror (git daemon,
                                   // http-backend) does not hand out the backups.
                                   {"transfer.hideRefs", "refs/mgitd/"}})
          : configure(repo.get(), {{"remote.origin.url", job_.repository_url},
                                   {"remote.origin.fetch", std::string(fetchspec(layout))}});
  if (!configured) return tl::make_unexpected(configured.error());
  auto remote = in_memory_remote(repo.get(), layout);
  if (!remote) return tl::make_unexpected(remote.error());
  JobPhases::mark(Phase::kOpen);
  auto default_branch = fetch(remote->get(), layout);
  if (!default_branch) return tl::make_unexpected(default_branch.error());
  return finish(repo.get(), layout, true, *default_branch);
}

tl::expected<ExecutionReport, JobError> RepositorySync::update(RepositoryPtr repo, Layout requested,
                                                               bool checkout_ref) {
  if (const SweptFiles swept = sweep_git_dir(git_repository_path(repo.get()));
      swept.locks + swept.temporaries > 0) {
    observability::log(observability::LogLevel::kWarn, ctx_,
                       "removed what an interrupted git operation left in the target",
                       {{"target", job_.target},
                        {"lock_files", swept.locks},
                        {"temporary_files", swept.temporaries}});
  }
  // A target created as a mirror stays one whatever operation updates it.
  const Layout layout = layout_of(repo.get());
  if (requested == Layout::kMirror) {
    if (layout != Layout::kMirror) {
      return tl::make_unexpected(
          JobError{ErrorCode::kConflict,
                   fmt::format("target '{}' exists and is not a mirror", job_.target)});
    }
  }
  // The binding guarantees the same repository key; the URL may still be spelled
  // differently (e.g. with or without `.git`), and the latest spelling wins.
  if (auto ok = configure(repo.get(), {{"remote.origin.url", job_.repository_url}}); !ok) {
    return tl::make_unexpected(ok.error());
  }
  auto remote = in_memory_remote(repo.get(), layout);
  if (!remote) return tl::make_unexpected(remote.error());
  JobPhases::mark(Phase::kOpen);
  auto default_branch = fetch(remote->get(), layout);
  if (!default_branch) return tl::make_unexpected(default_branch.error());
  return finish(repo.get(), layout, checkout_ref, *default_branch);
}

}  // namespace mgit::git
