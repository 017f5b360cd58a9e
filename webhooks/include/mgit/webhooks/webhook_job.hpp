#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/webhooks/provider.hpp"
#include "mgit/webhooks/routes.hpp"

namespace mgit::webhooks {

/// A job a webhook makes, ready for the jobs topic: validated by `jobs::parse_job` like any
/// producer's job.
struct WebhookJob {
  std::string job_id;
  std::string correlation_id;  ///< the delivery id
  std::string repository_key;  ///< the record key
  std::string payload;         ///< `mgit.sync-job/v1` JSON
};

/// `<provider>:<delivery id>` when the id fits the job-id alphabet and length; otherwise
/// `<provider>:sha256-<40 hex of its digest>`. A redelivery (same id) gives the same job id,
/// so the daemon's replay answers it without a second execution.
std::string webhook_job_id(Provider provider, std::string_view delivery_id);

/// The job `route` makes for a push to `repository`: URL, target, credential, operation and
/// ref from the route, `requested_by` = `webhook:<provider>`. Nothing from the payload but
/// the repository's full name, which the caller has checked with `valid_repository_name`.
/// The error is the job validation's message.
tl::expected<WebhookJob, std::string> build_webhook_job(const Route& route,
                                                        std::string_view repository,
                                                        std::string_view delivery_id);

}  // namespace mgit::webhooks
