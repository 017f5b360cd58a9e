// mgit-bench-fetch-loop: the in-process limit for a fleet sync. W threads fetch existing
// mirrors the way mgitd's executor does (git/src/git_executor.cpp): an in-memory remote with
// the mirror refspec, connect, learn the default branch, fetch with prune and no FETCH_HEAD,
// point HEAD at the default branch — and nothing else (no Kafka, no target lock or record).
// Over https it sends the credential on the first request, as mgitd does with its default
// follow_redirects = none (docs/git-executor.md, "Credentials on the first request"), so both
// make the same one request per nothing-new sync; over plain http it answers the 401.
//
//   mgit-bench-fetch-loop [--rounds R] WORKERS LIST USER PASSWORD_FILE [CA_FILE]
//       LIST holds `REPO_DIR<TAB>URL` lines. CA_FILE: certificates trusted for https, set the
//       way mgitd's git_ca_file is (Debian's mbedTLS build of libgit2 ignores SSL_CERT_FILE).
//       R rounds (default 1) fetch every repository once each, one round after the other (the
//       threads are joined in between, as scripts/bench waits for each round's results from
//       mgitd), so a repository is never fetched by two threads at once.
//       Prints `fetch-loop repos=N rounds=R failed=F wall_ms=W received_objects=O`; exit 0
//       when every fetch succeeded.
#include <git2.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Credentials {
  std::string user;
  std::string password;
  std::string header;  ///< "Authorization: Basic …", sent on the first request over https
};

std::string base64(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, in.size() - i);
    unsigned value = 0;
    for (std::size_t k = 0; k < 3; ++k) {
      value = (value << 8) | (k < n ? static_cast<unsigned char>(in[i + k]) : 0U);
    }
    for (std::size_t k = 0; k < 4; ++k) {
      out += k <= n ? kAlphabet[(value >> (18 - 6 * k)) & 0x3F] : '=';
    }
  }
  return out;
}

struct Attempt {
  const Credentials* credentials;
  int tries = 0;
};

int on_credentials(git_credential** out, const char* /*url*/, const char* /*user*/,
                   unsigned int allowed, void* payload) {
  auto& attempt = *static_cast<Attempt*>(payload);
  // Like mgitd: an anonymous probe may be followed by the credential, and no more.
  if (++attempt.tries > 2 || (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0) return GIT_EUSER;
  return git_credential_userpass_plaintext_new(out, attempt.credentials->user.c_str(),
                                               attempt.credentials->password.c_str());
}

bool fetch_one(const std::string& dir, const std::string& url, const Credentials& credentials,
               unsigned long& received_objects) {
  git_repository* repo = nullptr;
  if (git_repository_open_ext(&repo, dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0) {
    return false;
  }
  git_remote_create_options create;
  git_remote_create_options_init(&create, GIT_REMOTE_CREATE_OPTIONS_VERSION);
  create.repository = repo;
  create.fetchspec = "+refs/*:refs/*";
  create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  git_remote* remote = nullptr;
  bool ok = git_remote_create_with_opts(&remote, url.c_str(), &create) == 0;
  Attempt attempt{&credentials};
  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  callbacks.credentials = &on_credentials;
  callbacks.payload = &attempt;
  git_proxy_options proxy;
  git_proxy_options_init(&proxy, GIT_PROXY_OPTIONS_VERSION);
  // As mgitd without git_proxy: no proxy from the environment or git config.
  proxy.type = GIT_PROXY_NONE;
  char* header = const_cast<char*>(credentials.header.c_str());
  git_strarray headers{&header, url.rfind("https://", 0) == 0 ? 1U : 0U};
  ok = ok && git_remote_connect(remote, GIT_DIRECTION_FETCH, &callbacks, &proxy, &headers) == 0;
  git_buf branch = GIT_BUF_INIT;
  const bool has_default = ok && git_remote_default_branch(&branch, remote) == 0;
  if (ok) {
    git_fetch_options options;
    git_fetch_options_init(&options, GIT_FETCH_OPTIONS_VERSION);
    options.callbacks = callbacks;
    options.proxy_opts = proxy;
    options.custom_headers = headers;
    options.prune = GIT_FETCH_PRUNE;
    options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_UNSPECIFIED;
    options.update_fetchhead = 0;
    ok = git_remote_fetch(remote, nullptr, &options, "fetch") == 0;
  }
  if (ok) received_objects += git_remote_stats(remote)->received_objects;
  if (ok && has_default) ok = git_repository_set_head(repo, branch.ptr) == 0;
  if (!ok) {
    const git_error* error = git_error_last();
    std::fprintf(stderr, "fetch-loop: %s: %s\n", dir.c_str(),
                 error != nullptr && error->message != nullptr ? error->message : "failed");
  }
  git_buf_dispose(&branch);
  git_remote_free(remote);
  git_repository_free(repo);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const char* program = argv[0];
  int rounds = 1;
  if (argc >= 3 && std::string(argv[1]) == "--rounds") {
    rounds = std::atoi(argv[2]);
    argc -= 2;
    argv += 2;
  }
  if ((argc != 5 && argc != 6) || rounds < 1) {
    std::fprintf(stderr, "usage: %s [--rounds R] WORKERS LIST USER PASSWORD_FILE [CA_FILE]\n",
                 program);
    return 2;
  }
  const int workers = std::atoi(argv[1]);
  std::vector<std::pair<std::string, std::string>> repos;
  {
    std::ifstream in(argv[2]);
    for (std::string line; std::getline(in, line);) {
      const auto tab = line.find('\t');
      if (tab != std::string::npos) repos.emplace_back(line.substr(0, tab), line.substr(tab + 1));
    }
  }
  Credentials credentials{argv[3], {}, {}};
  {
    std::ifstream in(argv[4]);
    std::getline(in, credentials.password);
  }
  credentials.header =
      "Authorization: Basic " + base64(credentials.user + ":" + credentials.password);
  if (workers < 1 || repos.empty() || credentials.password.empty()) {
    std::fprintf(stderr, "fetch-loop: need WORKERS >= 1, repositories and a password\n");
    return 2;
  }
  git_libgit2_init();
  if (argc == 6 && git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, argv[5], nullptr) != 0) {
    const git_error* error = git_error_last();
    std::fprintf(stderr, "fetch-loop: cannot load %s: %s\n", argv[5],
                 error != nullptr && error->message != nullptr ? error->message : "failed");
    git_libgit2_shutdown();
    return 2;
  }
  std::atomic<long> failed{0};
  std::atomic<unsigned long> objects{0};
  const auto started = std::chrono::steady_clock::now();
  for (int round = 0; round < rounds; ++round) {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&] {
        unsigned long received = 0;
        for (std::size_t i; (i = next.fetch_add(1)) < repos.size();) {
          if (!fetch_one(repos[i].first, repos[i].second, credentials, received)) ++failed;
        }
        objects += received;
      });
    }
    for (auto& thread : threads) thread.join();
  }
  const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
  git_libgit2_shutdown();
  std::printf("fetch-loop repos=%zu rounds=%d failed=%ld wall_ms=%lld received_objects=%lu\n",
              repos.size(), rounds, failed.load(), static_cast<long long>(wall), objects.load());
  return failed == 0 ? 0 : 1;
}
