// mgitctl discover, the real binary over real HTTPS against the stand-in API server that
// scripts/test starts (tests/discovery; GitHub answers validated against GitHub's OpenAPI
// description), and end to end: discovered jobs enqueued to the real broker and synced by a
// real mgitd from the real git server. The fixture (tests/discovery/fixture.json) is this
// test's setup: expectations are computed from it, not copied from mgitctl's output.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "mgitctl_harness.hpp"
#include "support/pipeline_fixture.hpp"

namespace mgit::test_support {
namespace {

using namespace std::chrono_literals;
using mgitctl::CommandResult;
using mgitctl::Mgitctl;
using testing::HasSubstr;
using testing::Not;

const std::string kFixturePath = std::string(MGITD_SOURCE_DIR) + "/tests/discovery/fixture.json";

struct FixtureRepo {
  std::string name;
  std::string visibility = "public";
  bool archived = false;
  bool fork = false;
  std::vector<std::string> topics;
  std::string pushed_at;
};

struct Fixture {
  std::string token;
  int page_size = 0;
  std::map<std::string, std::vector<FixtureRepo>> orgs;
};

Fixture load_fixture() {
  rapidjson::Document doc;
  const auto text = mgitctl::read_file(kFixturePath);
  doc.Parse(text.c_str());
  Fixture fixture;
  fixture.token = doc["token"].GetString();
  fixture.page_size = doc["page_size"].GetInt();
  for (const auto& org : doc["orgs"].GetObject()) {
    auto& repos = fixture.orgs[org.name.GetString()];
    for (const auto& r : org.value["repos"].GetArray()) {
      FixtureRepo repo;
      repo.name = r["name"].GetString();
      if (r.HasMember("visibility")) repo.visibility = r["visibility"].GetString();
      if (r.HasMember("archived")) repo.archived = r["archived"].GetBool();
      if (r.HasMember("fork")) repo.fork = r["fork"].GetBool();
      if (r.HasMember("topics")) {
        for (const auto& t : r["topics"].GetArray()) repo.topics.emplace_back(t.GetString());
      }
      if (r.HasMember("pushed_at") && r["pushed_at"].IsString()) {
        repo.pushed_at = r["pushed_at"].GetString();
      }
      repos.push_back(repo);
    }
  }
  return fixture;
}

/// The targets of the jobs on stdout, sorted.
std::vector<std::string> targets_of(const std::string& out) {
  std::vector<std::string> targets;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    rapidjson::Document job;
    job.Parse(line.c_str());
    if (job.HasParseError() || !job.IsObject() || !job.HasMember("target")) {
      ADD_FAILURE() << "not a job: " << line;
      continue;
    }
    targets.emplace_back(job["target"].GetString());
  }
  std::sort(targets.begin(), targets.end());
  return targets;
}

class MgitctlDiscoverTest : public ::testing::Test {
 protected:
  MgitctlDiscoverTest()
      : origin_(required_env("MGITD_TEST_DISCOVERY_URL")),
        ca_file_(required_env("MGITD_TEST_DISCOVERY_CA_FILE")),
        fixture_(load_fixture()) {
    credentials_ = dir_.path() / "credentials";
    std::filesystem::create_directories(credentials_);
    std::ofstream(credentials_ / "api")
        << "username=x-access-token\npassword=" << fixture_.token << "\nhosts=127.0.0.1\n";
    std::ofstream(credentials_ / "wrong")
        << "username=x-access-token\npassword=" << kWrongToken << "\nhosts=127.0.0.1\n";
    std::ofstream(credentials_ / "elsewhere")
        << "username=x-access-token\npassword=" << fixture_.token << "\nhosts=api.github.com\n";
  }

  CommandResult discover(const std::string& provider, const std::string& org,
                         std::vector<std::string> extra, const std::string& credential = "api") {
    std::vector<std::string> args = {
        "discover",  "--provider", provider, "--org", org, "--api-url", origin_ + "/" + provider,
        "--ca-file", ca_file_};
    if (!credential.empty()) {
      args.insert(args.end(),
                  {"--api-credential", credential, "--credentials-dir", credentials_.string()});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    auto result = Mgitctl(args, dir_.path()).finish();
    // Neither token, in any output of any run.
    for (const auto& secret : {fixture_.token, std::string(kWrongToken)}) {
      EXPECT_THAT(result.out, Not(HasSubstr(secret)));
      EXPECT_THAT(result.err, Not(HasSubstr(secret)));
    }
    return result;
  }

  /// "{provider}/{org}/{name}" of the fixture repositories `keep` selects, sorted.
  std::vector<std::string> expected(const std::string& provider, const std::string& org,
                                    const std::function<bool(const FixtureRepo&)>& keep) {
    std::vector<std::string> targets;
    for (const auto& repo : fixture_.orgs.at(org)) {
      if (keep(repo)) targets.push_back(provider + "/" + org + "/" + repo.name);
    }
    std::sort(targets.begin(), targets.end());
    return targets;
  }

  static constexpr const char* kWrongToken = "wrong-token-5a0c2e7f19";
  std::string origin_;
  std::string ca_file_;
  Fixture fixture_;
  TempDir dir_;
  std::filesystem::path credentials_;
};

bool default_keep(const FixtureRepo& repo) { return !repo.archived && !repo.fork; }

TEST_F(MgitctlDiscoverTest, GithubPagesThroughEveryPage) {
  const auto& repos = fixture_.orgs.at("acme");
  const auto pages = (repos.size() + fixture_.page_size - 1) / fixture_.page_size;
  ASSERT_GE(pages, 3U) << "the fixture must span at least three pages";
  const auto result = discover("github", "acme", {});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(targets_of(result.out), expected("github", "acme", default_keep));
  EXPECT_THAT(result.err, HasSubstr(std::to_string(repos.size()) + " repositories listed"));
  EXPECT_THAT(result.err, HasSubstr(std::to_string(pages) + " page(s)"));
  EXPECT_THAT(result.err, HasSubstr("1 archived, 1 fork"));
}

TEST_F(MgitctlDiscoverTest, GiteaPagesThroughEveryPage) {
  const auto result = discover("gitea", "acme", {"--include-archived", "--include-forks"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(targets_of(result.out), expected("gitea", "acme", [](const auto&) { return true; }));
}

TEST_F(MgitctlDiscoverTest, Filters) {
  auto result = discover("github", "acme", {"--visibility", "private", "--visibility", "internal"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(targets_of(result.out), expected("github", "acme", [](const FixtureRepo& r) {
              return default_keep(r) && r.visibility != "public";
            }));
  result = discover("github", "acme", {"--name", "api*", "--topic", "backend"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(targets_of(result.out), expected("github", "acme", [](const FixtureRepo& r) {
              return default_keep(r) && r.name.rfind("api", 0) == 0 &&
                     std::count(r.topics.begin(), r.topics.end(), "backend") == 1;
            }));
  // RFC 3339 strings of one format compare as times.
  const std::string since = "2026-11-01T00:00:00Z";
  result = discover("github", "acme", {"--pushed-since", since, "--include-archived"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(targets_of(result.out), expected("github", "acme", [&](const FixtureRepo& r) {
              return !r.fork && !r.pushed_at.empty() && r.pushed_at >= since;
            }));
}

TEST_F(MgitctlDiscoverTest, WaitsOutARateLimitAndSaysSo) {
  const auto started = std::chrono::steady_clock::now();
  auto result = discover("github", "limited-org", {"--max-wait", "30"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // The stand-in's reset is 2 s ahead: the wait is real, and short.
  EXPECT_GE(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(targets_of(result.out), expected("github", "limited-org", default_keep));
  EXPECT_THAT(result.err, HasSubstr("rate limited by the github API"));
  EXPECT_THAT(result.err, HasSubstr("1 rate-limit wait(s)"));

  result = discover("gitea", "retry-after-org", {});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.err, HasSubstr("Retry-After"));

  // A wait longer than allowed ends the command.
  result = discover("github", "limited-org", {"--max-wait", "0"});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_THAT(result.err, HasSubstr("--max-wait"));
  EXPECT_EQ(result.out, "");
}

TEST_F(MgitctlDiscoverTest, TwoRepositoriesRenderedToOneTargetAreRefused) {
  // Two GitLab subgroups hold a project of the same name: `{name}` makes one target of them,
  // which mgitd would answer `conflict` for, every run, for whichever came second.
  auto result = discover("gitlab", "clash-org", {"--target", "{provider}/{name}"});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_THAT(result.err, HasSubstr("repository 2 of the listing skipped: its target is "
                                    "repository 1's too; add {full_name} to --target"));
  EXPECT_EQ(targets_of(result.out), std::vector<std::string>{"gitlab/svc"});
  // The default template keeps the subgroup: both are synced.
  result = discover("gitlab", "clash-org", {});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(targets_of(result.out), (std::vector<std::string>{"gitlab/clash-org/team-a/svc",
                                                              "gitlab/clash-org/team-b/svc"}));
}

TEST_F(MgitctlDiscoverTest, RetriesAServerError) {
  const auto result = discover("github", "flaky-org", {});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.err, HasSubstr("HTTP 502: retry 1 of 3"));
  EXPECT_EQ(targets_of(result.out), expected("github", "flaky-org", default_keep));
}

TEST_F(MgitctlDiscoverTest, AWrongTokenNamesTheCredentialToFix) {
  for (const std::string provider : {"github", "gitea"}) {
    const auto result = discover(provider, "acme", {}, "wrong");
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_THAT(result.err, HasSubstr("answered 401"));
    EXPECT_THAT(result.err, HasSubstr("credential 'wrong' in " + credentials_.string()));
    EXPECT_EQ(result.out, "");
  }
  const auto anonymous = discover("github", "acme", {}, "");
  EXPECT_EQ(anonymous.exit_code, 2);
  EXPECT_THAT(anonymous.err, HasSubstr("no --api-credential was given"));
}

TEST_F(MgitctlDiscoverTest, AnEmptyOrganisationIsNotAnError) {
  const auto result = discover("github", "empty-org", {});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_THAT(result.err, HasSubstr("0 repositories listed"));
  EXPECT_THAT(result.err, HasSubstr("no jobs written"));
}

TEST_F(MgitctlDiscoverTest, RefusalsBeforeAndDuringTheListing) {
  // A next-page link to another origin: not followed.
  auto result = discover("github", "offorigin-org", {});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_THAT(result.err, HasSubstr("off the API's origin"));
  EXPECT_THAT(result.err, HasSubstr("the token was not sent"));
  EXPECT_EQ(result.out, "");
  // Unknown organisation.
  result = discover("github", "no-such-org", {});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_THAT(result.err, HasSubstr("check --org 'no-such-org'"));
  // A credential bound to another host is not sent to this one.
  result = discover("github", "acme", {}, "elsewhere");
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_THAT(result.err, HasSubstr("'elsewhere'"));
  // The stand-in's CA is not trusted without --ca-file.
  result = Mgitctl({"discover", "--provider", "github", "--org", "acme", "--api-url",
                    origin_ + "/github"},
                   dir_.path())
               .finish();
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_THAT(result.err, HasSubstr("certificate verification failed"));
  // Plain http needs --allow-http.
  result = Mgitctl({"discover", "--provider", "github", "--org", "acme", "--api-url",
                    "http://127.0.0.1:1/github"},
                   dir_.path())
               .finish();
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_THAT(result.err, HasSubstr("--allow-http"));
  // A target template that cannot make a safe target.
  result = discover("github", "acme", {"--target", "../{name}"});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_THAT(result.err, HasSubstr("--target"));
}

/// Discovered jobs enqueued to the real broker and synced by a real daemon.
class MgitctlDiscoverEnqueueTest : public PipelineFixture {};

TEST_F(MgitctlDiscoverEnqueueTest, DiscoveredRepositoriesAreSyncedByTheDaemon) {
  const Fixture fixture = load_fixture();
  // The stand-in's generated organisation "sync-<id>": repositories sync-<id>-one|two|three,
  // cloned from the git server's https listener (tests/discovery/README.md).
  const std::string org = "sync-" + suffix_;  // suffix_: lower-case hex
  std::map<std::string, std::string> heads;
  for (const char* n : {"one", "two", "three"}) {
    const auto name = org + "-" + n;
    heads["github/" + org + "/" + name] = create_repo(name, 2);
  }
  const auto api_credentials = dir_->path() / "api-credentials";
  std::filesystem::create_directories(api_credentials);
  std::ofstream(api_credentials / "api")
      << "username=x-access-token\npassword=" << fixture.token << "\nhosts=127.0.0.1\n";
  secrets_.push_back(fixture.token);
  auto daemon = start_daemon();

  const auto result = Mgitctl({"--brokers",
                               required_env("MGITD_TEST_BROKERS"),
                               "--jobs-topic",
                               jobs_topic_,
                               "--results-topic",
                               results_topic_,
                               "discover",
                               "--provider",
                               "github",
                               "--org",
                               org,
                               "--api-url",
                               required_env("MGITD_TEST_DISCOVERY_URL") + "/github",
                               "--ca-file",
                               required_env("MGITD_TEST_DISCOVERY_CA_FILE"),
                               "--api-credential",
                               "api",
                               "--credentials-dir",
                               api_credentials.string(),
                               "--credential",
                               "gitserver",
                               "--enqueue",
                               "--wait",
                               "--timeout",
                               "180"},
                              dir_->path())
                          .finish();
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err << daemon->log_text();
  EXPECT_THAT(result.err, HasSubstr("3 job(s)"));
  EXPECT_THAT(result.out, Not(HasSubstr(fixture.token)));
  EXPECT_THAT(result.err, Not(HasSubstr(fixture.token)));
  const auto results = wait_for_results(3, 60s);
  ASSERT_EQ(results.size(), 3U);
  for (const auto& r : results) {
    EXPECT_EQ(r.status, "succeeded") << r.raw;
    ASSERT_EQ(heads.count(r.target), 1U) << r.raw;
    EXPECT_EQ(target_head(r.target), heads.at(r.target)) << r.target;
  }
}

}  // namespace
}  // namespace mgit::test_support
