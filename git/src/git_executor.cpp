#include "mgit/git/git_executor.hpp"

#include <fmt/format.h>
#include <git2.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "mgit/basics/ascii.hpp"
#include "mgit/basics/handle.hpp"
#include "mgit/jobs/repository_key.hpp"
#include "mgit/observability/log.hpp"
#include "mgit/security/redaction.hpp"

namespace mgit::git {
namespace {

namespace fs = std::filesystem;
using observability::LogLevel;

using basics::Handle;
using RepositoryPtr = Handle<git_repository, &git_repository_free>;
using RemotePtr = Handle<git_remote, &git_remote_free>;
using ReferencePtr = Handle<git_reference, &git_reference_free>;
using ObjectPtr = Handle<git_object, &git_object_free>;
using ConfigPtr = Handle<git_config, &git_config_free>;

/// git_buf is a value type with its own dispose function, so it gets its own owner.
struct Buffer {
  git_buf buf = GIT_BUF_INIT;
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { git_buf_dispose(&buf); }
  std::string str() const {
    return buf.ptr == nullptr ? std::string() : std::string(buf.ptr, buf.size);
  }
};

// libgit2 calls the credential callback again on every 401 without limit; two tries let a
// first anonymous probe be followed by the credential, and no more.
constexpr int kMaxAuthAttempts = 2;
constexpr std::string_view kRemote = "origin";
constexpr std::string_view kStateDir = ".mgitd";

enum class Layout { kWorkTree, kBare, kMirror };

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

std::string oid_hex(const git_oid* oid) {
  if (oid == nullptr || git_oid_is_zero(oid)) return {};
  char text[GIT_OID_HEXSZ + 1];
  git_oid_tostr(text, sizeof text, oid);
  return text;
}

using basics::contains;
using basics::starts_with;
using basics::to_lower;

jobs::JobError stop_error(const execution::ExecutionControl& control, std::string_view during) {
  if (control.cancelled != nullptr && control.cancelled->load()) {
    return jobs::JobError{jobs::ErrorCode::kInternal, fmt::format("cancelled during {}", during)};
  }
  return jobs::JobError{jobs::ErrorCode::kTimeout,
                        fmt::format("deadline passed during {}", during)};
}

/// Everything libgit2's callbacks see. Lives on the executing thread's stack for one job.
struct Transfer {
  const execution::ExecutionControl* control = nullptr;
  const security::Credential* credential = nullptr;
  std::string credential_name;
  int auth_attempts = 0;
  bool auth_exhausted = false;
  bool auth_without_credential = false;
  std::string host_not_allowed;  ///< set when the credential is not bound to the URL's host
  bool stopped = false;
  std::string host_key_problem;
  std::vector<jobs::RefUpdate> updates;
};

// ---- ssh host key verification -------------------------------------------------------

std::vector<unsigned char> base64_decode(std::string_view text) {
  std::vector<unsigned char> out(3 * ((text.size() + 3) / 4) + 1);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return {};
  std::size_t size = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;
  out.resize(size);
  return out;
}

bool host_matches(std::string_view patterns, std::string_view host) {
  std::size_t begin = 0;
  while (begin <= patterns.size()) {
    const std::size_t end = std::min(patterns.find(',', begin), patterns.size());
    std::string_view pattern = patterns.substr(begin, end - begin);
    // `[host]:22` names the default port; other ports are not told apart here.
    if (starts_with(pattern, "[") && contains(pattern, "]")) {
      pattern = pattern.substr(1, pattern.find(']') - 1);
    }
    if (to_lower(pattern) == to_lower(host)) return true;
    begin = end + 1;
  }
  return false;
}

/// Empty when `key` is listed for `host` in the known_hosts file; else the problem.
std::string check_known_hosts(const fs::path& file, std::string_view host, const char* key,
                              std::size_t key_length) {
  std::ifstream in(file);
  if (!in) return "known_hosts file cannot be read";
  const std::vector<unsigned char> wanted(key, key + key_length);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string hosts, type, blob;
    if (!(fields >> hosts >> type >> blob) || hosts.front() == '#' || hosts.front() == '@') {
      continue;  // comments, markers (@revoked, @cert-authority) and hashed names unsupported
    }
    if (host_matches(hosts, host) && base64_decode(blob) == wanted) return {};
  }
  return fmt::format("ssh host key of '{}' is not in the credential's known_hosts", host);
}

// ---- libgit2 callbacks (run on the executing thread, inside libgit2 calls) ------------

/// Host and explicit port of the URL libgit2 authenticates against: `scheme://[user@]host[:port]/…`
/// or scp-like `[user@]host:path`. Port is nullopt when the URL names none.
std::pair<std::string, std::optional<int>> url_host(std::string_view url) {
  std::string_view rest = url;
  const std::size_t scheme = rest.find("://");
  const bool scp_like = scheme == std::string_view::npos;
  if (!scp_like) rest.remove_prefix(scheme + 3);
  rest = rest.substr(0, std::min(rest.find('/'), rest.size()));
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    rest.remove_prefix(at + 1);
  }
  std::string_view host = rest;
  std::string_view port;
  if (starts_with(rest, "[")) {
    const std::size_t close = std::min(rest.find(']'), rest.size());
    host = rest.substr(0, close + 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (const std::size_t colon = rest.find(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    if (!scp_like) port = rest.substr(colon + 1);  // scp-like: the colon starts the path
  }
  std::optional<int> number;
  if (!port.empty() && port.size() <= 5 &&
      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    number = std::stoi(std::string(port));
  }
  return {to_lower(host), number};
}

int on_credentials(git_credential** out, const char* url, const char* username_from_url,
                   unsigned int allowed, void* payload) {
  auto& t = *static_cast<Transfer*>(payload);
  if (t.control->should_stop()) {
    t.stopped = true;
    return GIT_EUSER;
  }
  if (t.credential == nullptr) {
    t.auth_without_credential = true;
    return GIT_EUSER;
  }
  const security::Credential& cred = *t.credential;
  // A redirect or a job URL may point anywhere; a credential bound to hosts is only ever
  // handed to those.
  const auto [host, port] = url_host(url == nullptr ? "" : url);
  if (!cred.allows_host(host, port)) {
    t.host_not_allowed = host;
    return GIT_EUSER;
  }
  const std::string url_user = username_from_url != nullptr ? username_from_url : "";
  // Over ssh the URL's user (`git@host`) is the account the key is for; over HTTP the
  // credential's user name goes with its password.
  std::string ssh_user =
      url_user.empty() ? (cred.username.empty() ? "git" : cred.username) : url_user;
  if ((allowed & GIT_CREDENTIAL_USERNAME) != 0) {
    return git_credential_username_new(out, ssh_user.c_str());
  }
  if (++t.auth_attempts > kMaxAuthAttempts) {
    t.auth_exhausted = true;
    return GIT_EUSER;
  }
  // A key is preferred over a password where the server takes both (ssh): it never crosses
  // the wire.
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) != 0 && cred.has_ssh_key()) {
    const std::string pub = cred.ssh_public_key.string();
    const std::string priv = cred.ssh_private_key.string();
    return git_credential_ssh_key_new(
        out, ssh_user.c_str(), pub.empty() ? nullptr : pub.c_str(), priv.c_str(),
        cred.ssh_passphrase.empty() ? nullptr : cred.ssh_passphrase.reveal().c_str());
  }
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0 && cred.has_userpass()) {
    return git_credential_userpass_plaintext_new(out, cred.username.c_str(),
                                                 cred.password.reveal().c_str());
  }
  t.auth_exhausted = true;  // the server wants a kind of credential this one does not have
  return GIT_EUSER;
}

int on_certificate(git_cert* cert, int /*valid*/, const char* host, void* payload) {
  auto& t = *static_cast<Transfer*>(payload);
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) return GIT_PASSTHROUGH;  // TLS: libgit2 decides
  // libgit2 1.5 accepts any ssh host key on its own, so the check is ours.
  const auto* hostkey = reinterpret_cast<const git_cert_hostkey*>(cert);
  if (t.credential == nullptr || t.credential->known_hosts.empty()) {
    t.host_key_problem = "ssh needs a credential with known_hosts to verify the server";
  } else if ((hostkey->type & GIT_CERT_SSH_RAW) == 0) {
    t.host_key_problem = "ssh server offered no raw host key to verify";
  } else {
    t.host_key_problem = check_known_hosts(t.credential->known_hosts, host == nullptr ? "" : host,
                                           hostkey->hostkey, hostkey->hostkey_len);
  }
  return t.host_key_problem.empty() ? 0 : GIT_ECERTIFICATE;
}

int on_transfer(const git_indexer_progress* /*stats*/, void* payload) {
  auto& t = *static_cast<Transfer*>(payload);
  if (t.control->should_stop()) {
    t.stopped = true;
    return GIT_EUSER;
  }
  return 0;
}

int on_sideband(const char* /*text*/, int /*length*/, void* payload) {
  return on_transfer(nullptr, payload);
}

int on_update_tips(const char* refname, const git_oid* old_oid, const git_oid* new_oid,
                   void* payload) {
  auto& t = *static_cast<Transfer*>(payload);
  t.updates.push_back(jobs::RefUpdate{refname, oid_hex(old_oid), oid_hex(new_oid)});
  return 0;
}

git_remote_callbacks make_callbacks(Transfer& transfer) {
  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  callbacks.credentials = &on_credentials;
  callbacks.certificate_check = &on_certificate;
  callbacks.transfer_progress = &on_transfer;
  callbacks.sideband_progress = &on_sideband;
  callbacks.update_tips = &on_update_tips;
  callbacks.payload = &transfer;
  return callbacks;
}

// ---- an existing target ---------------------------------------------------------------

/// Opens an existing target and checks it is laid out as mgitd lays targets out: git dir
/// `<target>/.git/` with work tree `<target>/`, or bare at `<target>/`, not a linked
/// worktree. Anything else (`core.worktree`, a `gitdir:` file, a repository planted by
/// another target's content) could point a forced checkout outside the target.
tl::expected<RepositoryPtr, jobs::JobError> open_target(const fs::path& path,
                                                        std::string_view target) {
  git_repository* raw_repo = nullptr;
  if (git_repository_open_ext(&raw_repo, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) !=
      0) {
    return tl::make_unexpected(
        jobs::JobError{jobs::ErrorCode::kConflict,
                       fmt::format("target '{}' exists but is not a git repository", target)});
  }
  RepositoryPtr repo(raw_repo);
  std::error_code ec;
  const fs::path real = fs::canonical(path, ec);
  const std::string dir = real.string() + "/";
  const bool bare = git_repository_is_bare(repo.get()) == 1;
  const char* workdir = git_repository_workdir(repo.get());
  const char* gitdir = git_repository_path(repo.get());
  const char* commondir = git_repository_commondir(repo.get());
  const bool workdir_ok = bare ? workdir == nullptr : workdir != nullptr && workdir == dir;
  const bool gitdir_ok = gitdir != nullptr && gitdir == (bare ? dir : dir + ".git/") &&
                         commondir != nullptr && std::string_view(commondir) == gitdir;
  if (ec || !workdir_ok || !gitdir_ok) {
    return tl::make_unexpected(
        jobs::JobError{jobs::ErrorCode::kConflict,
                       fmt::format("target '{}' is not a repository mgitd created", target)});
  }
  return repo;
}

// Bounds the walk through `refs/`, which a huge repository may fill with loose refs.
constexpr std::size_t kMaxLockScanEntries = 100000;

/// Removes `*.lock` files from the git dir's root and `refs/`. mgitd holds the target's
/// flock while it is in the repository, so no other mgitd can own them: they are left by a
/// process killed mid-write, and libgit2 would refuse the target (`GIT_ELOCKED`) forever.
std::size_t remove_stale_locks(const fs::path& git_dir) {
  std::size_t removed = 0;
  const auto remove_if_lock = [&](const fs::directory_entry& entry) {
    std::error_code ec;
    if (entry.path().extension() == ".lock" &&
        entry.symlink_status(ec).type() == fs::file_type::regular && fs::remove(entry.path(), ec)) {
      ++removed;
    }
  };
  std::error_code ec;
  for (auto it = fs::directory_iterator(git_dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    remove_if_lock(*it);
  }
  ec.clear();
  if (fs::symlink_status(git_dir / "refs", ec).type() != fs::file_type::directory) return removed;
  std::size_t visited = 0;
  for (auto it = fs::recursive_directory_iterator(git_dir / "refs", ec);
       !ec && it != fs::recursive_directory_iterator() && ++visited <= kMaxLockScanEntries;
       it.increment(ec)) {
    remove_if_lock(*it);
  }
  return removed;
}

/// The repository key an existing target was cloned from, read from `remote.origin.url`
/// (config read directly: `git_remote_lookup` leaks in libgit2 1.5, see below).
tl::expected<std::string, jobs::JobError> origin_key(git_repository* repo,
                                                     std::string_view target) {
  const auto unknown = [&] {
    return tl::make_unexpected(jobs::JobError{
        jobs::ErrorCode::kConflict,
        fmt::format("target '{}' has no record and no usable origin to adopt", target)});
  };
  git_config* raw_config = nullptr;
  if (git_repository_config_snapshot(&raw_config, repo) != 0) return unknown();
  ConfigPtr config(raw_config);
  Buffer url;
  if (git_config_get_string_buf(&url.buf, config.get(), "remote.origin.url") != 0) {
    return unknown();
  }
  auto key = jobs::normalize_repository_url(url.str());
  if (!key) return unknown();
  return *key;
}

// ---- one execution --------------------------------------------------------------------

class Run {
 public:
  Run(const jobs::Job& job, fs::path path, const execution::ExecutionControl& control,
      const security::Credential* credential, const security::Redactor& redactor,
      const observability::JobContext& ctx)
      : job_(job), path_(std::move(path)), control_(control), redactor_(redactor), ctx_(ctx) {
    transfer_.control = &control;
    transfer_.credential = credential;
    transfer_.credential_name = job.credential;
  }

  tl::expected<jobs::ExecutionReport, jobs::JobError> create(Layout layout);
  tl::expected<jobs::ExecutionReport, jobs::JobError> update(Layout requested, bool checkout);
  /// Whether a failure came from a git lock file held by someone else.
  bool lock_held() const { return lock_held_; }

 private:
  tl::expected<void, jobs::JobError> check(int rc, std::string_view action) const;
  jobs::JobError classify(int rc, std::string_view action) const;
  tl::expected<std::string, jobs::JobError> fetch(git_remote* remote, Layout layout);
  tl::expected<void, jobs::JobError> checkout(git_repository* repo,
                                              const std::string& default_branch);
  tl::expected<void, jobs::JobError> point_head(git_repository* repo,
                                                const std::string& default_branch);
  tl::expected<RemotePtr, jobs::JobError> in_memory_remote(git_repository* repo, Layout layout);
  tl::expected<void, jobs::JobError> configure(
      git_repository* repo, std::initializer_list<std::pair<std::string, std::string>> values);
  tl::expected<jobs::ExecutionReport, jobs::JobError> finish(git_repository* repo, Layout layout,
                                                             bool checkout,
                                                             const std::string& default_branch);

  const jobs::Job& job_;
  fs::path path_;
  const execution::ExecutionControl& control_;
  const security::Redactor& redactor_;
  const observability::JobContext& ctx_;
  Transfer transfer_;
  mutable bool lock_held_ = false;
  jobs::ExecutionReport report_;
  std::string detached_ref_;  ///< the ref a detached checkout came from
};

tl::expected<void, jobs::JobError> Run::check(int rc, std::string_view action) const {
  if (rc >= 0) return {};
  return tl::make_unexpected(classify(rc, action));
}

jobs::JobError Run::classify(int rc, std::string_view action) const {
  if (transfer_.stopped) return stop_error(control_, action);
  if (transfer_.auth_without_credential) {
    return jobs::JobError{jobs::ErrorCode::kAuthFailed,
                          "the remote requires authentication and the job names no credential"};
  }
  if (!transfer_.host_not_allowed.empty()) {
    return jobs::JobError{
        jobs::ErrorCode::kAuthFailed,
        redactor_.redact(fmt::format("credential '{}' is not allowed for host '{}'",
                                     transfer_.credential_name, transfer_.host_not_allowed))};
  }
  if (transfer_.auth_exhausted) {
    return jobs::JobError{
        jobs::ErrorCode::kAuthFailed,
        fmt::format("the remote rejected credential '{}'", transfer_.credential_name)};
  }
  if (!transfer_.host_key_problem.empty()) {
    return jobs::JobError{jobs::ErrorCode::kAuthFailed,
                          redactor_.redact(transfer_.host_key_problem)};
  }
  const git_error* error = git_error_last();
  const int klass = error != nullptr ? error->klass : GIT_ERROR_NONE;
  const std::string raw = error != nullptr && error->message != nullptr ? error->message : "";
  const std::string message =
      redactor_.redact(fmt::format("{} failed: {}", action, raw.empty() ? "unknown error" : raw));
  const std::string text = to_lower(raw);

  jobs::ErrorCode code = jobs::ErrorCode::kInternal;
  if (rc == GIT_EAUTH || contains(text, "status code: 401") || contains(text, "status code: 403") ||
      contains(text, "authentication")) {
    code = jobs::ErrorCode::kAuthFailed;
  } else if (contains(text, "status code: 429")) {
    code = jobs::ErrorCode::kRateLimited;
  } else if (contains(text, "status code: 404") || contains(text, "not found") ||
             contains(text, "does not appear to be a git repository")) {
    code = jobs::ErrorCode::kNotFound;
  } else if (contains(text, "no space left") || (klass == GIT_ERROR_OS && errno == ENOSPC)) {
    code = jobs::ErrorCode::kDiskFull;
  } else if (rc == GIT_ELOCKED) {
    // Stale locks are removed before each run, so this one is held by something outside
    // mgitd (e.g. an operator's git) and will go away: not recorded, a redelivery runs again.
    lock_held_ = true;
    return jobs::JobError{
        jobs::ErrorCode::kConflict,
        redactor_.redact(fmt::format("{} failed: a git lock file is held: {}", action,
                                     raw.empty() ? "unknown error" : raw))};
  } else if (rc == GIT_ECONFLICT || rc == GIT_EEXISTS || rc == GIT_EUNMERGED) {
    code = jobs::ErrorCode::kConflict;
  } else if (klass == GIT_ERROR_NET || klass == GIT_ERROR_SSL || klass == GIT_ERROR_SSH ||
             klass == GIT_ERROR_HTTP || rc == GIT_ECERTIFICATE || rc == GIT_EEOF ||
             contains(text, "status code: 5")) {
    code = jobs::ErrorCode::kNetwork;
  }
  return jobs::JobError{code, message};
}

/// Connects, learns the remote's default branch, fetches with the remote's refspecs.
/// Returns the default branch (`refs/heads/x`), empty for an empty remote.
tl::expected<std::string, jobs::JobError> Run::fetch(git_remote* remote, Layout layout) {
  const git_remote_callbacks callbacks = make_callbacks(transfer_);
  git_proxy_options proxy;
  git_proxy_options_init(&proxy, GIT_PROXY_OPTIONS_VERSION);
  proxy.type = GIT_PROXY_AUTO;
  if (auto ok = check(git_remote_connect(remote, GIT_DIRECTION_FETCH, &callbacks, &proxy, nullptr),
                      "connect");
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

  git_fetch_options options;
  git_fetch_options_init(&options, GIT_FETCH_OPTIONS_VERSION);
  options.callbacks = callbacks;
  options.proxy_opts = proxy;
  options.prune =
      (layout == Layout::kMirror || job_.options.prune) ? GIT_FETCH_PRUNE : GIT_FETCH_NO_PRUNE;
  // A mirror's refspec already names the tags; the others take them all so a tag can be
  // checked out.
  options.download_tags = layout == Layout::kMirror ? GIT_REMOTE_DOWNLOAD_TAGS_UNSPECIFIED
                                                    : GIT_REMOTE_DOWNLOAD_TAGS_ALL;
  options.update_fetchhead = 0;
  if (auto ok = check(git_remote_fetch(remote, nullptr, &options, "mgitd: fetch"), "fetch"); !ok) {
    return tl::make_unexpected(ok.error());
  }
  const git_indexer_progress* stats = git_remote_stats(remote);
  report_.received_objects = stats->received_objects;
  report_.received_bytes = stats->received_bytes;
  return default_branch;
}

/// Forces the work tree to the fetched commit of `ref` (or the default branch): a branch
/// becomes a local branch reset to `origin/<branch>`, a tag or commit id a detached HEAD.
tl::expected<void, jobs::JobError> Run::checkout(git_repository* repo,
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
        jobs::JobError{jobs::ErrorCode::kNotFound,
                       redactor_.redact(fmt::format("ref '{}' not found on the remote", name))});
  }

  git_checkout_options options;
  git_checkout_options_init(&options, GIT_CHECKOUT_OPTIONS_VERSION);
  options.checkout_strategy = GIT_CHECKOUT_FORCE;
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

/// Bare targets have no work tree: HEAD names the job's branch when it exists, else the
/// remote's default branch.
tl::expected<void, jobs::JobError> Run::point_head(git_repository* repo,
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

tl::expected<jobs::ExecutionReport, jobs::JobError> Run::finish(git_repository* repo, Layout layout,
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
tl::expected<RemotePtr, jobs::JobError> Run::in_memory_remote(git_repository* repo, Layout layout) {
  git_remote_create_options options;
  git_remote_create_options_init(&options, GIT_REMOTE_CREATE_OPTIONS_VERSION);
  options.repository = repo;
  options.name = nullptr;
  const std::string spec(fetchspec(layout));
  options.fetchspec = spec.c_str();
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
/// target later sees a normal `origin`.
tl::expected<void, jobs::JobError> Run::configure(
    git_repository* repo, std::initializer_list<std::pair<std::string, std::string>> values) {
  git_config* raw_config = nullptr;
  if (auto ok = check(git_repository_config(&raw_config, repo), "config"); !ok) return ok;
  ConfigPtr config(raw_config);
  for (const auto& [key, value] : values) {
    if (auto ok = check(git_config_set_string(config.get(), key.c_str(), value.c_str()), "config");
        !ok) {
      return ok;
    }
  }
  return {};
}

tl::expected<jobs::ExecutionReport, jobs::JobError> Run::create(Layout layout) {
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
                                   {"remote.origin.mirror", "true"}})
          : configure(repo.get(), {{"remote.origin.url", job_.repository_url},
                                   {"remote.origin.fetch", std::string(fetchspec(layout))}});
  if (!configured) return tl::make_unexpected(configured.error());
  auto remote = in_memory_remote(repo.get(), layout);
  if (!remote) return tl::make_unexpected(remote.error());
  auto default_branch = fetch(remote->get(), layout);
  if (!default_branch) return tl::make_unexpected(default_branch.error());
  return finish(repo.get(), layout, true, *default_branch);
}

tl::expected<jobs::ExecutionReport, jobs::JobError> Run::update(Layout requested,
                                                                bool checkout_ref) {
  auto opened = open_target(path_, job_.target);
  if (!opened) return tl::make_unexpected(opened.error());
  RepositoryPtr repo = std::move(*opened);
  if (const std::size_t removed = remove_stale_locks(git_repository_path(repo.get()));
      removed > 0) {
    observability::log(LogLevel::kWarn, ctx_, "removed stale git lock files from the target",
                       {{"target", job_.target}, {"count", removed}});
  }
  const bool bare = git_repository_is_bare(repo.get()) == 1;
  Layout layout = bare ? Layout::kBare : Layout::kWorkTree;
  if (bare) {
    // A target created as a mirror stays one whatever operation updates it.
    git_config* raw_config = nullptr;
    int mirror = 0;
    if (git_repository_config_snapshot(&raw_config, repo.get()) == 0) {
      ConfigPtr config(raw_config);
      if (git_config_get_bool(&mirror, config.get(), "remote.origin.mirror") != 0) mirror = 0;
    }
    if (mirror != 0) layout = Layout::kMirror;
  }
  if (requested == Layout::kMirror) {
    if (layout != Layout::kMirror) {
      return tl::make_unexpected(
          jobs::JobError{jobs::ErrorCode::kConflict,
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
  auto default_branch = fetch(remote->get(), layout);
  if (!default_branch) return tl::make_unexpected(default_branch.error());
  return finish(repo.get(), layout, checkout_ref, *default_branch);
}

// ---- the target on disk ---------------------------------------------------------------

/// Re-checks the target as a workspace-relative path (the parser did too; this is the
/// last line before the filesystem) and keeps the executor's own state directory out.
tl::expected<void, jobs::JobError> check_target_name(std::string_view target) {
  const auto invalid = [&](std::string_view why) {
    return tl::make_unexpected(
        jobs::JobError{jobs::ErrorCode::kInvalidJob, fmt::format("target is not valid: {}", why)});
  };
  if (target.empty()) return invalid("empty");
  if (target.front() == '/') return invalid("absolute path");
  std::size_t begin = 0;
  bool first = true;
  while (begin <= target.size()) {
    const std::size_t end = std::min(target.find('/', begin), target.size());
    const std::string_view segment = target.substr(begin, end - begin);
    if (segment.empty() || segment == "." || segment == "..") {
      return invalid("empty, '.' or '..' segment");
    }
    if (first && segment == kStateDir) return invalid("reserved for mgitd's own state");
    // A `.git` segment would address another target's repository internals directly.
    if (to_lower(segment) == ".git") return invalid("'.git' segment");
    first = false;
    begin = end + 1;
  }
  for (const char c : target) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return invalid("control character");
  }
  return {};
}

/// Whether `dir` is a git repository: a work tree (`.git` of any kind) or a bare one.
bool is_repository_dir(const fs::path& dir) {
  struct stat info {};
  if (::lstat((dir / ".git").c_str(), &info) == 0) return true;
  return ::lstat((dir / "HEAD").c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::lstat((dir / "objects").c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

/// Refuses a target any of whose existing components inside the workspace is a symlink
/// (it could lead out of the workspace), a non-directory parent, or a repository: a target
/// inside another one would be made of files that repository's remote controls (a planted
/// `HEAD`/`config` with `core.worktree` turns it into a repository checking out anywhere).
tl::expected<bool, jobs::JobError> target_exists(const fs::path& workspace,
                                                 std::string_view target) {
  fs::path current = workspace;
  const fs::path relative(target);
  fs::path ancestor;
  std::size_t remaining = static_cast<std::size_t>(std::distance(relative.begin(), relative.end()));
  for (const auto& part : relative) {
    current /= part;
    ancestor /= part;
    --remaining;
    struct stat info {};
    if (::lstat(current.c_str(), &info) != 0) {
      if (errno == ENOENT) return false;
      return tl::make_unexpected(jobs::JobError{
          jobs::ErrorCode::kInternal,
          fmt::format("cannot inspect target '{}': {}", target, std::strerror(errno))});
    }
    if (S_ISLNK(info.st_mode)) {
      return tl::make_unexpected(
          jobs::JobError{jobs::ErrorCode::kInvalidJob,
                         fmt::format("target '{}' has a symlinked component", target)});
    }
    if (!S_ISDIR(info.st_mode)) {
      return tl::make_unexpected(
          jobs::JobError{jobs::ErrorCode::kConflict,
                         fmt::format("target '{}' exists and is not a directory", target)});
    }
    if (remaining == 0) {
      std::error_code ec;
      // An empty directory counts as absent: a clone may fill it.
      return !fs::is_empty(current, ec) || ec;
    }
    if (is_repository_dir(current)) {
      return tl::make_unexpected(jobs::JobError{
          jobs::ErrorCode::kConflict,
          fmt::format("target '{}' is inside another repository '{}'", target, ancestor.string())});
    }
  }
  return false;
}

/// Creates the missing directories of `path` below `workspace` (mode 0750) and removes the
/// ones it created, deepest first, unless `keep()` is called.
class CreatedDirectories {
 public:
  CreatedDirectories() = default;
  CreatedDirectories(const CreatedDirectories&) = delete;
  CreatedDirectories& operator=(const CreatedDirectories&) = delete;
  ~CreatedDirectories() {
    std::error_code ec;
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
      if (*it == leaf_) {
        fs::remove_all(*it, ec);
        if (ec) {
          observability::log(LogLevel::kWarn, "cannot remove a failed target",
                             {{"path", it->string()}, {"error", ec.message()}});
        }
        continue;
      }
      // Only while empty: a parent is shared with targets other jobs may be creating now
      // under their own locks. A parent that is not empty stays, which is harmless.
      fs::remove(*it, ec);
    }
    if (clear_contents_of_.empty()) return;
    // Never throws: this runs in a destructor.
    for (auto it = fs::directory_iterator(clear_contents_of_, ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
      std::error_code remove_ec;
      fs::remove_all(it->path(), remove_ec);
    }
  }

  tl::expected<void, jobs::JobError> create(const fs::path& workspace, std::string_view target) {
    fs::path current = workspace;
    for (const auto& part : fs::path(target)) {
      current /= part;
      if (::mkdir(current.c_str(), 0750) == 0) {
        created_.push_back(current);
        continue;
      }
      struct stat info {};
      if (errno != EEXIST || ::lstat(current.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
        const int err = errno;
        return tl::make_unexpected(jobs::JobError{
            err == ENOSPC ? jobs::ErrorCode::kDiskFull : jobs::ErrorCode::kInvalidJob,
            fmt::format("cannot create target '{}': a component is not a plain directory",
                        target)});
      }
    }
    leaf_ = current;
    // Created nothing but the leaf existed empty: on failure put it back to empty.
    if (created_.empty() || created_.back() != current) clear_contents_of_ = current;
    return {};
  }

  void keep() {
    created_.clear();
    clear_contents_of_.clear();
  }

 private:
  std::vector<fs::path> created_;
  fs::path leaf_;
  fs::path clear_contents_of_;
};

tl::expected<void, jobs::JobError> check_free_disk(const fs::path& workspace, int min_percent) {
  struct statvfs info {};
  if (::statvfs(workspace.c_str(), &info) != 0 || info.f_blocks == 0) {
    return tl::make_unexpected(
        jobs::JobError{jobs::ErrorCode::kInternal, "cannot read the workspace's free disk space"});
  }
  const double free_percent =
      100.0 * static_cast<double>(info.f_bavail) / static_cast<double>(info.f_blocks);
  if (free_percent < static_cast<double>(min_percent)) {
    return tl::make_unexpected(jobs::JobError{
        jobs::ErrorCode::kDiskFull,
        fmt::format("workspace has {:.1f}% free disk, below min_free_disk_percent {}", free_percent,
                    min_percent)});
  }
  return {};
}

/// Which failures a redelivery must get again rather than retry: the deterministic ones.
bool worth_recording(const jobs::JobError& error) {
  return !error.retryable() && error.code != jobs::ErrorCode::kInternal &&
         error.code != jobs::ErrorCode::kDiskFull;
}

}  // namespace

// ---- GitExecutor ----------------------------------------------------------------------

class GitExecutor::Libgit2Runtime {
 public:
  Libgit2Runtime() {
    // Reference-counted by libgit2, so several executors (and tests) may coexist.
    if (git_libgit2_init() < 0) throw std::runtime_error("libgit2 initialization failed");
  }
  ~Libgit2Runtime() { git_libgit2_shutdown(); }
  Libgit2Runtime(const Libgit2Runtime&) = delete;
  Libgit2Runtime& operator=(const Libgit2Runtime&) = delete;
};

GitExecutor::GitExecutor(GitExecutorSettings settings)
    : settings_(std::move(settings)),
      runtime_(std::make_unique<Libgit2Runtime>()),
      store_(settings_.workspace) {}

GitExecutor::~GitExecutor() = default;

tl::expected<jobs::ExecutionReport, jobs::JobError> GitExecutor::execute(
    const jobs::Job& job, const observability::JobContext& ctx,
    const execution::ExecutionControl& control) {
  if (control.should_stop()) return tl::make_unexpected(stop_error(control, "queueing"));
  if (auto ok = check_target_name(job.target); !ok) return tl::make_unexpected(ok.error());
  const fs::path path = settings_.workspace / job.target;

  auto lock = store_.lock(job.target, control);
  if (!lock) return tl::make_unexpected(lock.error());
  auto loaded = store_.load(job.target);
  if (!loaded) return tl::make_unexpected(loaded.error());
  TargetRecord record = loaded->value_or(TargetRecord{job.target, {}, {}});

  if (const ServedJob* served = record.find(job.job_id)) {
    observability::log(LogLevel::kInfo, ctx, "job already served by this target, replaying",
                       {{"target", job.target}});
    if (served->error) return tl::make_unexpected(*served->error);
    jobs::ExecutionReport report;
    report.head_ref = served->head_ref;
    report.head_oid = served->head_oid;
    report.replayed = true;
    return report;
  }

  bool lock_held = false;
  const auto outcome = [&]() -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
    auto exists = target_exists(settings_.workspace, job.target);
    if (!exists) return tl::make_unexpected(exists.error());
    if (record.repository_key.empty() && *exists) {
      // The record was lost (e.g. set aside as corrupt): the repository itself still says
      // where it came from, so the binding is rebuilt from it rather than given to any job.
      auto repo = open_target(path, job.target);
      if (!repo) return tl::make_unexpected(repo.error());
      auto key = origin_key(repo->get(), job.target);
      if (!key) return tl::make_unexpected(key.error());
      observability::log(LogLevel::kWarn, ctx, "target has no binding, adopting its origin",
                         {{"target", job.target}, {"repository_key", *key}});
      record.repository_key = std::move(*key);
    }
    if (!record.repository_key.empty() && record.repository_key != job.repository_key) {
      return tl::make_unexpected(jobs::JobError{
          jobs::ErrorCode::kConflict,
          fmt::format("target '{}' is bound to repository {}", job.target, record.repository_key)});
    }
    std::optional<security::Credential> credential;
    security::Redactor redactor;
    if (!job.credential.empty()) {
      if (settings_.credentials == nullptr) {
        return tl::make_unexpected(
            jobs::JobError{jobs::ErrorCode::kAuthFailed, "no credential store"});
      }
      auto loaded_credential = settings_.credentials->load(job.credential);
      if (!loaded_credential) {
        return tl::make_unexpected(
            jobs::JobError{jobs::ErrorCode::kAuthFailed, loaded_credential.error().message});
      }
      credential = std::move(*loaded_credential);
      for (auto& secret : credential->secrets()) redactor.add(std::move(secret));
    }
    Run run(job, path, control, credential ? &*credential : nullptr, redactor, ctx);
    const auto create = [&](Layout layout) -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
      if (auto ok = check_free_disk(settings_.workspace, settings_.min_free_disk_percent); !ok) {
        return tl::make_unexpected(ok.error());
      }
      CreatedDirectories directories;
      if (auto ok = directories.create(settings_.workspace, job.target); !ok) {
        return tl::make_unexpected(ok.error());
      }
      auto report = run.create(layout);
      if (report) directories.keep();
      return report;
    };
    const Layout requested = job.options.bare ? Layout::kBare : Layout::kWorkTree;
    const auto operate = [&]() -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
      switch (job.operation) {
        case jobs::Operation::kClone:
          if (*exists) {
            return tl::make_unexpected(jobs::JobError{
                jobs::ErrorCode::kConflict, fmt::format("target '{}' already exists", job.target)});
          }
          return create(requested);
        case jobs::Operation::kFetch:
          if (!*exists) {
            return tl::make_unexpected(jobs::JobError{
                jobs::ErrorCode::kNotFound, fmt::format("target '{}' does not exist", job.target)});
          }
          return run.update(requested, false);
        case jobs::Operation::kSync:
          return *exists ? run.update(requested, true) : create(requested);
        case jobs::Operation::kMirror:
          return *exists ? run.update(Layout::kMirror, true) : create(Layout::kMirror);
      }
      return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kInternal, "unknown operation"});
    };
    auto result = operate();
    lock_held = run.lock_held();
    return result;
  }();

  // Record what a redelivery of this job id must get back.
  const bool cancelled = control.cancelled != nullptr && control.cancelled->load();
  if (!cancelled && (outcome || (!lock_held && worth_recording(outcome.error())))) {
    ServedJob served{job.job_id, std::nullopt, {}, {}};
    if (outcome) {
      served.head_ref = outcome->head_ref;
      served.head_oid = outcome->head_oid;
      if (record.repository_key.empty()) record.repository_key = job.repository_key;
    } else {
      served.error = outcome.error();
    }
    record.add(std::move(served));
    if (auto saved = store_.save(record); !saved) {
      // The git work is done and stays done; only a redelivery loses its replay.
      observability::log(LogLevel::kError, ctx, "cannot record the job on its target",
                         {{"target", job.target}, {"error", saved.error().message}});
    }
  }
  return outcome;
}

}  // namespace mgit::git
