// WebhookIntake decides every request: proof first, then event, delivery id, payload, route.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "mgit/basics/ascii.hpp"
#include "mgit/webhooks/intake.hpp"
#include "mgit/webhooks/signature.hpp"
#include "support/test_environment.hpp"

namespace mgit::webhooks {
namespace {

using test_support::TempDir;

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

class WebhookIntakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(secret_path_, secret_ + "\n");
    write_file(other_secret_path_, other_secret_ + "\n");
    write_file(routes_path_, routes_text());
    WebhookIntake::Settings settings;
    settings.routes_file = routes_path_.string();
    settings.reload_check = std::chrono::milliseconds(0);
    settings.on_problem = [this](const std::string& message) { problems_.push_back(message); };
    auto intake = WebhookIntake::create(settings);
    ASSERT_TRUE(intake) << intake.error();
    intake_ = std::move(*intake);
  }

  std::string routes_text(const std::string& acme_globs = R"(["acme/*"])") const {
    return R"([[route]]
name = "acme"
provider = "github"
secret_file = ")" +
           secret_path_.string() + R"("
repositories = )" +
           acme_globs + R"(
url = "https://git.example.com/{repository}.git"

[[route]]
name = "other"
provider = "github"
secret_file = ")" +
           other_secret_path_.string() + R"("
repositories = ["other/*"]
url = "https://git.example.com/{repository}.git"

[[route]]
name = "lab"
provider = "gitlab"
secret_file = ")" +
           secret_path_.string() + R"("
repositories = ["group/**"]
url = "ssh://git@gitlab.example.com/{repository}.git"
)";
  }

  std::string push(const std::string& repository, const std::string& clone_url = "") const {
    return R"({"ref":"refs/heads/main","after":"1111111111111111111111111111111111111111",)"
           R"("repository":{"full_name":")" +
           repository + R"(","clone_url":")" + clone_url + R"("}})";
  }

  Verdict github(const std::string& body, const std::string& secret,
                 std::map<std::string, std::string> headers = {}) {
    headers.try_emplace("content-type", "application/json");
    headers.try_emplace("x-github-event", "push");
    headers.try_emplace("x-github-delivery", "d-1");
    headers.try_emplace("x-hub-signature-256", "sha256=" + hmac_sha256_hex(secret, body));
    return judge(Provider::kGitHub, body, headers);
  }

  Verdict judge(Provider provider, const std::string& body,
                const std::map<std::string, std::string>& headers) {
    return intake_->judge(WebhookCall{provider,
                                      [&headers](std::string_view name) -> std::string_view {
                                        const auto found = headers.find(basics::to_lower(name));
                                        return found == headers.end() ? std::string_view()
                                                                      : found->second;
                                      },
                                      body});
  }

  TempDir dir_;
  std::filesystem::path secret_path_ = dir_.path() / "acme.secret";
  std::filesystem::path other_secret_path_ = dir_.path() / "other.secret";
  std::filesystem::path routes_path_ = dir_.path() / "routes.toml";
  std::string secret_ = "acme-secret-" + test_support::random_suffix(16);
  std::string other_secret_ = "other-secret-" + test_support::random_suffix(16);
  std::unique_ptr<WebhookIntake> intake_;
  std::vector<std::string> problems_;
};

TEST_F(WebhookIntakeTest, ASignedPushForARoutedRepositoryMakesTheRoutesJob) {
  const auto verdict = github(push("acme/app", "https://evil.example/x.git"), secret_);
  ASSERT_EQ(verdict.outcome, Outcome::kEnqueued) << verdict.message;
  EXPECT_EQ(verdict.status, 202U);
  EXPECT_EQ(verdict.route, "acme");
  ASSERT_TRUE(verdict.job);
  EXPECT_EQ(verdict.job->job_id, "github:d-1");
  EXPECT_EQ(verdict.job->repository_key, "https://git.example.com/acme/app");
  EXPECT_EQ(verdict.job->payload.find("evil"), std::string::npos)
      << "the payload's clone URL is never used";
}

TEST_F(WebhookIntakeTest, AProofThatFailsIsOneAnswerWhateverWentWrong) {
  const auto body = push("acme/app");
  std::vector<Verdict> verdicts = {
      github(body, "wrong-secret-0123456789"),
      github(body, secret_, {{"x-hub-signature-256", ""}}),
      github(body, secret_, {{"x-hub-signature-256", "sha256=00"}}),
      github(body + " ", secret_,
             {{"x-hub-signature-256", "sha256=" + hmac_sha256_hex(secret_, body)}}),
      // GitLab's token is a secret of a GitLab route: it proves nothing for GitHub.
      github(body, secret_, {{"x-hub-signature-256", secret_}}),
  };
  for (const auto& verdict : verdicts) {
    EXPECT_EQ(verdict.outcome, Outcome::kUnauthorized);
    EXPECT_EQ(verdict.status, 401U);
    EXPECT_EQ(verdict.message, "unauthorized");
    EXPECT_FALSE(verdict.job);
  }
}

TEST_F(WebhookIntakeTest, AProofOfTheWrongShapeIsRefusedWithoutReadingAnySecret) {
  // Unreadable secret files are reported when a proof is checked against them: a malformed
  // proof must be refused before that, so nothing is reported.
  std::filesystem::remove(secret_path_);
  std::filesystem::remove(other_secret_path_);
  problems_.clear();
  const auto body = push("acme/app");
  EXPECT_EQ(github(body, secret_, {{"x-hub-signature-256", "sha256=zz"}}).status, 401U);
  EXPECT_EQ(github(body, secret_, {{"x-hub-signature-256", "md5=" + std::string(64, 'a')}}).status,
            401U);
  EXPECT_TRUE(problems_.empty()) << problems_.front();
  // A well-formed one is checked against the files, which are reported missing.
  EXPECT_EQ(github(body, secret_).status, 401U);
  EXPECT_FALSE(problems_.empty());
}

TEST_F(WebhookIntakeTest, ARoutesSecretOpensOnlyItsOwnRepositories) {
  // Signed with the other route's secret: a valid proof, but not for acme's repositories.
  const auto verdict = github(push("acme/app"), other_secret_);
  EXPECT_EQ(verdict.outcome, Outcome::kUnrouted);
  EXPECT_EQ(verdict.status, 202U);
  EXPECT_EQ(verdict.repository, "acme/app");
  EXPECT_FALSE(verdict.job);
  EXPECT_EQ(github(push("other/app"), other_secret_).outcome, Outcome::kEnqueued);
  EXPECT_EQ(github(push("nobody/app"), secret_).outcome, Outcome::kUnrouted);
}

TEST_F(WebhookIntakeTest, HeadersAndBodiesThatAreNotASignedPush) {
  const auto body = push("acme/app");
  EXPECT_EQ(github(body, secret_, {{"content-type", "application/x-www-form-urlencoded"}}).status,
            415U);
  EXPECT_EQ(github(body, secret_, {{"content-type", "Application/JSON; charset=utf-8"}}).outcome,
            Outcome::kEnqueued);
  EXPECT_EQ(github(body, secret_, {{"x-github-event", ""}}).status, 400U);
  EXPECT_EQ(github(body, secret_, {{"x-github-delivery", ""}}).status, 400U);
  EXPECT_EQ(github(body, secret_, {{"x-github-delivery", std::string(129, 'd')}}).status, 400U)
      << "the delivery id is the job's correlation id: at most 128 characters";
  EXPECT_EQ(github(body, secret_, {{"x-github-delivery", std::string(128, 'd')}}).status, 202U);
  const auto ping =
      github(R"({"zen":"Keep it logically awesome."})", secret_, {{"x-github-event", "ping"}});
  EXPECT_EQ(ping.status, 200U);
  EXPECT_EQ(ping.outcome, Outcome::kIgnored);
  const auto issues = github(R"({"action":"opened"})", secret_, {{"x-github-event", "issues"}});
  EXPECT_EQ(issues.status, 202U);
  EXPECT_EQ(issues.outcome, Outcome::kIgnored);
  const auto garbage = github("{not json", secret_);
  EXPECT_EQ(garbage.status, 400U);
  const auto bad_name = github(push("acme/../../etc"), secret_);
  EXPECT_EQ(bad_name.status, 400U);
  EXPECT_FALSE(bad_name.job);
}

TEST_F(WebhookIntakeTest, GitLabUsesItsTokenAndItsIdempotencyKey) {
  const std::string body =
      R"({"object_kind":"push","ref":"refs/heads/main","after":"1111111111111111111111111111111111111111",)"
      R"("project":{"path_with_namespace":"group/sub/app","web_url":"https://gitlab.example.com/group/sub/app"}})";
  std::map<std::string, std::string> headers = {{"content-type", "application/json"},
                                                {"x-gitlab-event", "Push Hook"},
                                                {"x-gitlab-token", secret_},
                                                {"x-gitlab-event-uuid", "uuid-1"},
                                                {"idempotency-key", "key-1"}};
  const auto verdict = judge(Provider::kGitLab, body, headers);
  ASSERT_EQ(verdict.outcome, Outcome::kEnqueued) << verdict.message;
  EXPECT_EQ(verdict.job->job_id, "gitlab:key-1");
  EXPECT_EQ(verdict.job->repository_key, "ssh://gitlab.example.com/group/sub/app");
  headers.erase("idempotency-key");
  EXPECT_EQ(judge(Provider::kGitLab, body, headers).job->job_id, "gitlab:uuid-1");
  headers["x-gitlab-event"] = "Tag Push Hook";
  EXPECT_EQ(judge(Provider::kGitLab, body, headers).outcome, Outcome::kEnqueued);
  headers["x-gitlab-event"] = "Merge Request Hook";
  EXPECT_EQ(judge(Provider::kGitLab, body, headers).outcome, Outcome::kIgnored);
  headers["x-gitlab-event"] = "Push Hook";
  headers["x-gitlab-token"] = other_secret_;
  EXPECT_EQ(judge(Provider::kGitLab, body, headers).status, 401U);
}

TEST_F(WebhookIntakeTest, ASecretIsRotatedByRewritingItsFile) {
  const auto body = push("acme/app");
  const auto next = "next-secret-" + test_support::random_suffix(16);
  write_file(secret_path_, secret_ + "\n" + next + "\n");
  EXPECT_EQ(github(body, secret_).outcome, Outcome::kEnqueued) << "both while rotating";
  EXPECT_EQ(github(body, next).outcome, Outcome::kEnqueued);
  write_file(secret_path_, next + "\n");
  EXPECT_EQ(github(body, secret_).outcome, Outcome::kUnauthorized) << "the old one is gone";
  EXPECT_EQ(github(body, next).outcome, Outcome::kEnqueued);
  // A file that holds no usable secret authenticates nothing, and says so (without it).
  write_file(secret_path_, "short\n");
  EXPECT_EQ(github(body, "short").outcome, Outcome::kUnauthorized);
  ASSERT_FALSE(problems_.empty());
  EXPECT_NE(problems_.back().find("shorter than 16"), std::string::npos) << problems_.back();
  for (const auto& problem : problems_) {
    EXPECT_EQ(problem.find(secret_), std::string::npos);
    EXPECT_EQ(problem.find(next), std::string::npos);
  }
}

TEST_F(WebhookIntakeTest, TheRoutesFileIsReloadedWhenItChangesAndABadOneKeepsTheLastGood) {
  EXPECT_EQ(github(push("acme/sub/app"), secret_).outcome, Outcome::kUnrouted);
  write_file(routes_path_, routes_text(R"(["acme/**"])"));
  EXPECT_EQ(github(push("acme/sub/app"), secret_).outcome, Outcome::kEnqueued);
  write_file(routes_path_, "[[route]]\nname = \"broken\"\n");
  EXPECT_EQ(github(push("acme/sub/app"), secret_).outcome, Outcome::kEnqueued);
  ASSERT_FALSE(problems_.empty());
  EXPECT_NE(problems_.back().find("not reloaded"), std::string::npos) << problems_.back();
}

TEST_F(WebhookIntakeTest, StartupRefusesAMissingOrBadRoutesFile) {
  WebhookIntake::Settings settings;
  settings.routes_file = (dir_.path() / "missing.toml").string();
  EXPECT_FALSE(WebhookIntake::create(settings));
  write_file(dir_.path() / "bad.toml", "[[route]]\n");
  settings.routes_file = (dir_.path() / "bad.toml").string();
  EXPECT_FALSE(WebhookIntake::create(settings));
}

}  // namespace
}  // namespace mgit::webhooks
