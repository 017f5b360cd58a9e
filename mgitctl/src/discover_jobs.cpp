#include "discover_jobs.hpp"

#include <fmt/format.h>
#include <fnmatch.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <variant>

#include "mgit/jobs/parse.hpp"

namespace mgit::mgitctl {

namespace {

constexpr std::array<std::string_view, 4> kPlaceholders = {"{provider}", "{org}", "{full_name}",
                                                           "{name}"};

bool glob_matches(const std::string& glob, const std::string& text) {
  // No FNM_PATHNAME: "acme/*" matches a GitLab subgroup's "acme/sub/app" as users expect.
  return fnmatch(glob.c_str(), text.c_str(), 0) == 0;
}

std::string_view placeholder_value(std::string_view placeholder, const JobShape& shape,
                                   const discovery::Repository& repository) {
  if (placeholder == "{provider}") return shape.provider;
  if (placeholder == "{org}") return shape.org;
  if (placeholder == "{full_name}") return repository.full_name;
  return repository.name;
}

}  // namespace

std::optional<std::string_view> filtered_out(const RepositoryFilter& filter,
                                             const discovery::Repository& repository) {
  if (repository.archived && !filter.include_archived) return "archived";
  if (repository.fork && !filter.include_forks) return "fork";
  if (!filter.visibilities.empty() &&
      std::find(filter.visibilities.begin(), filter.visibilities.end(), repository.visibility) ==
          filter.visibilities.end()) {
    return "visibility";
  }
  if (!filter.name_globs.empty() &&
      std::none_of(filter.name_globs.begin(), filter.name_globs.end(), [&](const auto& glob) {
        return glob_matches(glob, repository.name) || glob_matches(glob, repository.full_name);
      })) {
    return "name";
  }
  for (const auto& topic : filter.topics) {
    if (std::find(repository.topics.begin(), repository.topics.end(), topic) ==
        repository.topics.end()) {
      return "topic";
    }
  }
  if (filter.pushed_since &&
      (!repository.pushed_at || *repository.pushed_at < *filter.pushed_since)) {
    return "pushed";
  }
  return std::nullopt;
}

std::string render_target(const JobShape& shape, const discovery::Repository& repository) {
  std::string out;
  std::string_view rest = shape.target_template;
  while (!rest.empty()) {
    bool replaced = false;
    if (rest.front() == '{') {
      for (const auto placeholder : kPlaceholders) {
        if (rest.substr(0, placeholder.size()) == placeholder) {
          out += placeholder_value(placeholder, shape, repository);
          rest.remove_prefix(placeholder.size());
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) {
      out += rest.front();
      rest.remove_prefix(1);
    }
  }
  return out;
}

tl::expected<void, std::string> check_shape(const JobShape& shape) {
  // Braces left after the known placeholders are removed are a typo ({fullname}).
  std::string stripped = shape.target_template;
  for (const auto placeholder : kPlaceholders) {
    for (auto at = stripped.find(placeholder); at != std::string::npos;
         at = stripped.find(placeholder)) {
      stripped.erase(at, placeholder.size());
    }
  }
  if (stripped.find_first_of("{}") != std::string::npos) {
    return tl::make_unexpected(fmt::format(
        "--target: unknown placeholder in '{}'; known: {{provider}}, {{org}}, {{full_name}}, "
        "{{name}}",
        shape.target_template));
  }
  if (shape.target_template.find("{name}") == std::string::npos &&
      shape.target_template.find("{full_name}") == std::string::npos) {
    return tl::make_unexpected(
        "--target: the template must contain {name} or {full_name}, or every repository "
        "would get the same target");
  }
  discovery::Repository sample;
  sample.full_name = shape.org + "/example";
  sample.name = "example";
  sample.https_url = "https://git.example.com/" + sample.full_name + ".git";
  sample.ssh_url = "git@git.example.com:" + sample.full_name + ".git";
  auto job = make_job(shape, sample, "discover-check");
  if (!job)
    return tl::make_unexpected(fmt::format("--target/--operation/--credential: {}", job.error()));
  return {};
}

tl::expected<std::string, std::string> make_job(const JobShape& shape,
                                                const discovery::Repository& repository,
                                                const std::string& job_id) {
  const std::string& url = shape.ssh ? repository.ssh_url : repository.https_url;
  if (url.empty()) {
    return tl::make_unexpected(
        fmt::format("the API gave no {} clone URL", shape.ssh ? "ssh" : "https"));
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  const auto str = [&w](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("schema");
  w.String("mgit.sync-job/v1");
  w.Key("job_id");
  str(job_id);
  w.Key("operation");
  str(shape.operation);
  w.Key("repository");
  w.StartObject();
  w.Key("url");
  str(url);
  if (!shape.credential.empty()) {
    w.Key("credential");
    str(shape.credential);
  }
  w.EndObject();
  // A sync checks out a branch: the repository's own default one.
  if (shape.operation == "sync" && !repository.default_branch.empty()) {
    w.Key("ref");
    str(repository.default_branch);
  }
  w.Key("target");
  str(render_target(shape, repository));
  if (!shape.requested_by.empty()) {
    w.Key("requested_by");
    str(shape.requested_by);
  }
  w.EndObject();
  std::string text(buffer.GetString(), buffer.GetSize());
  const auto outcome = jobs::parse_job(text, "", jobs::ParseLimits{shape.max_message_bytes});
  if (const auto* rejected = std::get_if<jobs::Rejected>(&outcome)) {
    // mgitd's messages name the field, never its value.
    return tl::make_unexpected(fmt::format("not a valid job: {}", rejected->error.message));
  }
  if (const auto* unparseable = std::get_if<jobs::Unparseable>(&outcome)) {
    return tl::make_unexpected(fmt::format("not a valid job: {}", unparseable->message));
  }
  return text;
}

}  // namespace mgit::mgitctl
