#include "mgit/webhooks/webhook_job.hpp"

#include <openssl/sha.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <variant>

#include "mgit/basics/ascii.hpp"
#include "mgit/jobs/parse.hpp"

namespace mgit::webhooks {
namespace {

constexpr std::size_t kMaxDeliveryInJobId = 100;  // job ids are at most 128 characters

bool job_id_character(char c) {
  return basics::is_ascii_alnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
}

std::string sha256_hex(std::string_view text, std::size_t hex_chars) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return basics::lower_hex(digest.data(), digest.size()).substr(0, hex_chars);
}

}  // namespace

std::string webhook_job_id(Provider provider, std::string_view delivery_id) {
  std::string id(to_string(provider));
  id += ':';
  const bool fits = !delivery_id.empty() && delivery_id.size() <= kMaxDeliveryInJobId &&
                    std::all_of(delivery_id.begin(), delivery_id.end(), job_id_character);
  if (fits) return id + std::string(delivery_id);
  return id + "sha256-" + sha256_hex(delivery_id, 40);
}

tl::expected<WebhookJob, std::string> build_webhook_job(const Route& route,
                                                        std::string_view repository,
                                                        std::string_view delivery_id) {
  WebhookJob job;
  job.job_id = webhook_job_id(route.provider, delivery_id);
  job.correlation_id = std::string(delivery_id);
  const auto requested_by = "webhook:" + std::string(to_string(route.provider));
  const auto url = render_template(route.url, repository);
  const auto target = render_template(route.target, repository);

  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  const auto string = [&out](std::string_view text) {
    out.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  };
  out.StartObject();
  out.Key("schema");
  string("mgit.sync-job/v1");
  out.Key("job_id");
  string(job.job_id);
  out.Key("correlation_id");
  string(job.correlation_id);
  out.Key("operation");
  string(jobs::to_string(route.operation));
  out.Key("repository");
  out.StartObject();
  out.Key("url");
  string(url);
  if (!route.credential.empty()) {
    out.Key("credential");
    string(route.credential);
  }
  out.EndObject();
  if (!route.ref.empty()) {
    out.Key("ref");
    string(route.ref);
  }
  if (!target.empty()) {
    out.Key("target");
    string(target);
  }
  // A deleted branch or tag is followed by the same job: its fetch prunes the ref.
  out.Key("options");
  out.StartObject();
  out.Key("prune");
  out.Bool(true);
  out.EndObject();
  out.Key("requested_by");
  string(requested_by);
  out.EndObject();
  job.payload.assign(buffer.GetString(), buffer.GetSize());

  const auto parsed = jobs::parse_job(job.payload, job.correlation_id, jobs::ParseLimits{});
  if (const auto* valid = std::get_if<jobs::Job>(&parsed)) {
    job.repository_key = valid->repository_key;
    return job;
  }
  if (const auto* rejected = std::get_if<jobs::Rejected>(&parsed)) {
    return tl::make_unexpected(rejected->error.message);
  }
  return tl::make_unexpected(std::get<jobs::Unparseable>(parsed).message);
}

}  // namespace mgit::webhooks
