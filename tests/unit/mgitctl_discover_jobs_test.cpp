// mgitctl discover's filters and job building (mgitctl/src/discover_jobs.hpp).

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "discover_jobs.hpp"
#include "fleet_model.hpp"

namespace mgit::mgitctl {
namespace {

discovery::Repository repo(const std::string& name) {
  discovery::Repository r;
  r.full_name = "acme/" + name;
  r.name = name;
  r.https_url = "https://git.example.com/acme/" + name + ".git";
  r.ssh_url = "git@git.example.com:acme/" + name + ".git";
  r.default_branch = "main";
  r.visibility = "public";
  r.topics = {"backend", "go"};
  r.pushed_at = parse_rfc3339("2026-11-30T10:00:00Z");
  return r;
}

TEST(DiscoverFilter, ArchivedAndForksOutByDefault) {
  RepositoryFilter filter;
  auto archived = repo("a");
  archived.archived = true;
  auto fork = repo("f");
  fork.fork = true;
  EXPECT_EQ(filtered_out(filter, archived), "archived");
  EXPECT_EQ(filtered_out(filter, fork), "fork");
  EXPECT_EQ(filtered_out(filter, repo("k")), std::nullopt);
  filter.include_archived = filter.include_forks = true;
  EXPECT_EQ(filtered_out(filter, archived), std::nullopt);
  EXPECT_EQ(filtered_out(filter, fork), std::nullopt);
}

TEST(DiscoverFilter, VisibilityNameTopicPushed) {
  RepositoryFilter filter;
  filter.visibilities = {"private", "internal"};
  EXPECT_EQ(filtered_out(filter, repo("x")), "visibility");
  filter.visibilities.clear();
  filter.name_globs = {"api*", "acme/web"};
  EXPECT_EQ(filtered_out(filter, repo("api-gateway")), std::nullopt);
  EXPECT_EQ(filtered_out(filter, repo("web")), std::nullopt);
  EXPECT_EQ(filtered_out(filter, repo("docs")), "name");
  filter.name_globs.clear();
  filter.topics = {"backend", "go"};
  EXPECT_EQ(filtered_out(filter, repo("x")), std::nullopt);
  filter.topics = {"backend", "rust"};  // every topic must be present
  EXPECT_EQ(filtered_out(filter, repo("x")), "topic");
  filter.topics.clear();
  filter.pushed_since = parse_rfc3339("2026-12-01T00:00:00Z");
  EXPECT_EQ(filtered_out(filter, repo("x")), "pushed");
  auto never = repo("never");
  never.pushed_at.reset();
  EXPECT_EQ(filtered_out(filter, never), "pushed");
  filter.pushed_since = parse_rfc3339("2026-11-01T00:00:00Z");
  EXPECT_EQ(filtered_out(filter, repo("x")), std::nullopt);
}

TEST(DiscoverJobs, TemplateAndShape) {
  JobShape shape;
  shape.provider = "github";
  shape.org = "acme";
  shape.credential = "github-git";
  shape.requested_by = "test";
  ASSERT_TRUE(check_shape(shape));
  EXPECT_EQ(render_target(shape, repo("api")), "github/acme/api");
  const auto job = make_job(shape, repo("api"), "job-1");
  ASSERT_TRUE(job) << job.error();
  rapidjson::Document doc;
  doc.Parse(job->c_str());
  EXPECT_STREQ(doc["schema"].GetString(), "mgit.sync-job/v1");
  EXPECT_STREQ(doc["job_id"].GetString(), "job-1");
  EXPECT_STREQ(doc["operation"].GetString(), "mirror");
  EXPECT_STREQ(doc["repository"]["url"].GetString(), "https://git.example.com/acme/api.git");
  EXPECT_STREQ(doc["repository"]["credential"].GetString(), "github-git");
  EXPECT_STREQ(doc["target"].GetString(), "github/acme/api");
  EXPECT_FALSE(doc.HasMember("ref"));

  shape.operation = "sync";
  shape.ssh = true;
  shape.target_template = "mirrors/{org}/{name}";
  doc.Parse(make_job(shape, repo("web"), "job-2")->c_str());
  EXPECT_STREQ(doc["repository"]["url"].GetString(), "git@git.example.com:acme/web.git");
  EXPECT_STREQ(doc["ref"].GetString(), "main");
  EXPECT_STREQ(doc["target"].GetString(), "mirrors/acme/web");
}

TEST(DiscoverJobs, BadTemplatesAreRefused) {
  JobShape shape;
  shape.provider = "github";
  shape.org = "acme";
  for (const char* bad : {"{fullname}", "fixed/path", "../{name}", "/abs/{name}", "{name}}"}) {
    shape.target_template = bad;
    EXPECT_FALSE(check_shape(shape)) << bad;
  }
  shape.target_template = "{name}";
  shape.credential = ".hidden";
  EXPECT_FALSE(check_shape(shape));
}

TEST(DiscoverJobs, UnsafeApiNamesAreRejectedNotWritten) {
  JobShape shape;
  shape.provider = "github";
  shape.org = "acme";
  auto evil = repo("x");
  evil.full_name = "acme/../../etc";
  EXPECT_FALSE(make_job(shape, evil, "j"));
  auto token_url = repo("y");
  token_url.https_url = "https://user:secret@git.example.com/acme/y.git";
  const auto job = make_job(shape, token_url, "j");
  ASSERT_FALSE(job);
  EXPECT_EQ(job.error().find("secret"), std::string::npos);
  auto no_ssh = repo("z");
  no_ssh.ssh_url.clear();
  shape.ssh = true;
  EXPECT_FALSE(make_job(shape, no_ssh, "j"));
}

}  // namespace
}  // namespace mgit::mgitctl
