// mgitctl discover against the stand-in's GitLab, Azure DevOps and Bitbucket Cloud APIs
// (tests/discovery: NOT the real services; answers shaped like the providers' documented
// examples, paged as they page). Expected repositories come from tests/discovery/fixture.json.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "mgitctl_harness.hpp"
#include "support/test_environment.hpp"

namespace {

namespace fs = std::filesystem;
using mgit::test_support::TempDir;
using mgit::test_support::mgitctl::CommandResult;
using mgit::test_support::mgitctl::Mgitctl;

struct FixtureRepo {
  std::string name;
  std::string visibility;
  bool archived = false;
  bool fork = false;
  std::vector<std::string> topics;
};

struct Fixture {
  std::string token;
  int page_size = 0;
  std::vector<FixtureRepo> acme;
};

Fixture load_fixture() {
  std::ifstream in(fs::path(MGITD_SOURCE_DIR) / "tests/discovery/fixture.json");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  if (doc.HasParseError()) throw std::runtime_error("fixture.json is not JSON");
  Fixture fixture;
  fixture.token = doc["token"].GetString();
  fixture.page_size = doc["page_size"].GetInt();
  for (const auto& repo : doc["orgs"]["acme"]["repos"].GetArray()) {
    FixtureRepo r;
    r.name = repo["name"].GetString();
    r.visibility = repo.HasMember("visibility") ? repo["visibility"].GetString() : "public";
    r.archived = repo.HasMember("archived") && repo["archived"].GetBool();
    r.fork = repo.HasMember("fork") && repo["fork"].GetBool();
    if (repo.HasMember("topics")) {
      for (const auto& t : repo["topics"].GetArray()) r.topics.emplace_back(t.GetString());
    }
    fixture.acme.push_back(r);
  }
  return fixture;
}

/// The repository names of the jobs mgitctl printed (the clone URL's last component).
std::set<std::string> job_names(const std::string& out) {
  std::set<std::string> names;
  std::size_t start = 0;
  while (start < out.size()) {
    auto end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    const std::string line = out.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    rapidjson::Document job;
    job.Parse(line.c_str());
    EXPECT_FALSE(job.HasParseError()) << line;
    if (job.HasParseError()) continue;
    std::string url = job["repository"]["url"].GetString();
    // The API's user name in a clone URL (Bitbucket, Azure DevOps) never reaches a job.
    EXPECT_EQ(url.find('@'), std::string::npos) << url;
    const auto slash = url.rfind('/');
    std::string name = url.substr(slash + 1);
    if (name.size() > 4 && name.substr(name.size() - 4) == ".git") name.resize(name.size() - 4);
    names.insert(name);
  }
  return names;
}

class DiscoverProvidersTest : public ::testing::TestWithParam<std::string> {
 protected:
  DiscoverProvidersTest()
      : origin_(mgit::test_support::required_env("MGITD_TEST_DISCOVERY_URL")),
        ca_file_(mgit::test_support::required_env("MGITD_TEST_DISCOVERY_CA_FILE")),
        fixture_(load_fixture()) {
    write_credential("api", fixture_.token);
    write_credential("wrong", kWrongToken);
  }

  void write_credential(const std::string& name, const std::string& token) {
    const fs::path path = dir_.path() / name;
    std::ofstream(path) << "token=" << token << "\nhosts=127.0.0.1\n";
    ::chmod(path.c_str(), 0600);
  }

  CommandResult discover(const std::string& org, std::vector<std::string> extra,
                         const std::string& credential = "api") {
    std::vector<std::string> args = {"discover",
                                     "--provider",
                                     GetParam(),
                                     "--org",
                                     org,
                                     "--api-url",
                                     origin_ + "/" + GetParam(),
                                     "--ca-file",
                                     ca_file_,
                                     "--api-credential",
                                     credential,
                                     "--credentials-dir",
                                     dir_.path().string(),
                                     "--target",
                                     "{full_name}"};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult result = Mgitctl(args, dir_.path()).finish();
    // No token, right or wrong, in anything mgitctl prints.
    for (const std::string& secret : {fixture_.token, std::string(kWrongToken)}) {
      EXPECT_EQ(result.out.find(secret), std::string::npos) << "stdout carries a token";
      EXPECT_EQ(result.err.find(secret), std::string::npos) << "stderr carries a token";
    }
    return result;
  }

  static constexpr const char* kWrongToken = "wrong-token-5b1e0c";
  TempDir dir_;
  std::string origin_;
  std::string ca_file_;
  Fixture fixture_;
};

TEST_P(DiscoverProvidersTest, ListsEveryPageOfTheOrganisation) {
  const CommandResult result = discover("acme", {"--include-archived", "--include-forks"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::set<std::string> expected;
  for (const auto& repo : fixture_.acme) expected.insert(repo.name);
  EXPECT_EQ(job_names(result.out), expected) << result.err;
  // At least three pages at the fixture's page size (Azure DevOps pages its projects, one
  // per fixture repository, then lists each project's repositories).
  const int pages =
      static_cast<int>((fixture_.acme.size() + fixture_.page_size - 1) / fixture_.page_size);
  ASSERT_GE(pages, 3);
  const int requests =
      GetParam() == "azure-devops" ? pages + static_cast<int>(fixture_.acme.size()) : pages;
  EXPECT_NE(result.err.find(std::to_string(requests) + " request(s)"), std::string::npos)
      << result.err;
}

TEST_P(DiscoverProvidersTest, AWrongTokenIsA401NamingTheCredential) {
  const CommandResult result = discover("acme", {}, "wrong");
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("401"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("'wrong'"), std::string::npos) << result.err;
  EXPECT_TRUE(result.out.empty()) << result.out;
}

TEST_P(DiscoverProvidersTest, AnEmptyOrganisationGivesNoJobs) {
  const CommandResult result = discover("empty-org", {});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(result.out.empty()) << result.out;
  EXPECT_NE(result.err.find("0 repositories listed"), std::string::npos) << result.err;
}

TEST_P(DiscoverProvidersTest, VisibilityAndDefaultFilters) {
  // Default: archived repositories and forks left out. Bitbucket has no archived flag, so
  // an archived fixture repository is listed there; Azure DevOps's isDisabled is archived.
  CommandResult result = discover("acme", {});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::set<std::string> expected;
  for (const auto& repo : fixture_.acme) {
    if (repo.fork || (repo.archived && GetParam() != "bitbucket")) continue;
    expected.insert(repo.name);
  }
  EXPECT_EQ(job_names(result.out), expected);

  // GitLab has public, internal and private; Bitbucket's is_private and Azure DevOps's
  // project visibility have only public and private.
  result = discover("acme", {"--include-archived", "--include-forks", "--visibility", "private"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  expected.clear();
  for (const auto& repo : fixture_.acme) {
    const bool private_there =
        GetParam() == "gitlab" ? repo.visibility == "private" : repo.visibility != "public";
    if (private_there) expected.insert(repo.name);
  }
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(job_names(result.out), expected);
}

TEST_P(DiscoverProvidersTest, TopicFilterOrItsRefusal) {
  const CommandResult result =
      discover("acme", {"--include-archived", "--include-forks", "--topic", "backend"});
  if (GetParam() == "gitlab") {
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::set<std::string> expected;
    for (const auto& repo : fixture_.acme) {
      if (std::find(repo.topics.begin(), repo.topics.end(), "backend") != repo.topics.end()) {
        expected.insert(repo.name);
      }
    }
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(job_names(result.out), expected);
    return;
  }
  // Azure DevOps and Bitbucket have no topics: refused by name, not an empty listing.
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--topic"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(GetParam()), std::string::npos) << result.err;
  EXPECT_TRUE(result.out.empty());
}

TEST_P(DiscoverProvidersTest, ANextPageOffTheApiOriginIsRefused) {
  const CommandResult result = discover("offorigin-org", {"--include-archived"});
  if (GetParam() == "bitbucket") {
    // Bitbucket's next is a URL: one on another origin ends the listing, token unsent.
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_NE(result.err.find("not on the API's origin"), std::string::npos) << result.err;
    EXPECT_TRUE(result.out.empty());
    return;
  }
  // GitLab and Azure DevOps build their next URL from their own request: the off-origin
  // links in the answer are never followed, and the listing completes.
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(job_names(result.out), (std::set<std::string>{"a", "b", "c"}));
}

INSTANTIATE_TEST_SUITE_P(Providers, DiscoverProvidersTest,
                         ::testing::Values("gitlab", "azure-devops", "bitbucket"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
