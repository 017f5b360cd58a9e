#include "messages.hpp"

#include <limits>
#include <utility>

#include "wire.hpp"

namespace mgit::isolation {
namespace {

using jobs::ErrorCode;

// Smallest encoding of one list item, so a count cannot promise more than the bytes hold.
constexpr std::size_t kMinStringBytes = 8;

std::optional<ErrorCode> error_code_from(std::uint64_t raw) {
  if (raw > static_cast<std::uint64_t>(ErrorCode::kInternal)) return std::nullopt;
  return static_cast<ErrorCode>(raw);
}

void put_job(WireWriter& w, const jobs::Job& job) {
  w.str(job.job_id);
  w.str(job.correlation_id);
  w.u64(static_cast<std::uint64_t>(job.operation));
  w.str(job.repository_url);
  w.str(job.credential);
  w.str(job.repository_key);
  w.str(job.ref);
  w.str(job.target);
  w.boolean(job.options.prune);
  w.boolean(job.options.bare);
  w.i64(job.options.depth);
  w.boolean(job.options.submodules);
  w.str(job.requested_by);
}

bool get_job(WireReader& r, jobs::Job& job) {
  job.job_id = r.str();
  job.correlation_id = r.str();
  const auto operation = r.u64();
  if (operation > static_cast<std::uint64_t>(jobs::Operation::kMirror)) return false;
  job.operation = static_cast<jobs::Operation>(operation);
  job.repository_url = r.str();
  job.credential = r.str();
  job.repository_key = r.str();
  job.ref = r.str();
  job.target = r.str();
  job.options.prune = r.boolean();
  job.options.bare = r.boolean();
  job.options.depth = static_cast<int>(r.i64());
  job.options.submodules = r.boolean();
  job.requested_by = r.str();
  return true;
}

void put_context(WireWriter& w, const observability::JobContext& ctx) {
  w.str(ctx.job_id);
  w.str(ctx.correlation_id);
  w.str(ctx.trace_id);
  w.str(ctx.span_id);
  w.str(ctx.parent_span_id);
  w.str(ctx.tracestate);
  w.boolean(ctx.sampled);
}

void get_context(WireReader& r, observability::JobContext& ctx) {
  ctx.job_id = r.str();
  ctx.correlation_id = r.str();
  ctx.trace_id = r.str();
  ctx.span_id = r.str();
  ctx.parent_span_id = r.str();
  ctx.tracestate = r.str();
  ctx.sampled = r.boolean();
}

void put_credential(WireWriter& w, const security::Credential& c) {
  w.str(c.name);
  w.str(c.username);
  w.str(c.password.reveal());
  w.str(c.ssh_private_key.string());
  w.str(c.ssh_public_key.string());
  w.str(c.ssh_passphrase.reveal());
  w.str(c.known_hosts.string());
  w.str(c.ssh_private_key_pem.reveal());
  w.str(c.ssh_public_key_text);
  w.str(c.known_hosts_text);
  w.u64(c.hosts.size());
  for (const auto& host : c.hosts) w.str(host);
}

security::Credential get_credential(WireReader& r) {
  security::Credential c;
  c.name = r.str();
  c.username = r.str();
  c.password = security::Secret(r.str());
  c.ssh_private_key = r.str();
  c.ssh_public_key = r.str();
  c.ssh_passphrase = security::Secret(r.str());
  c.known_hosts = r.str();
  c.ssh_private_key_pem = security::Secret(r.str());
  c.ssh_public_key_text = r.str();
  c.known_hosts_text = r.str();
  const auto hosts = r.count(kMinStringBytes);
  for (std::size_t i = 0; i < hosts; ++i) c.hosts.push_back(r.str());
  return c;
}

}  // namespace

std::string encode_setup(const WorkerSetup& setup) {
  WireWriter w(MessageType::kSetup);
  w.str(setup.workspace);
  w.i64(setup.min_free_disk_percent);
  w.u64(setup.memory_limit_bytes);
  w.u64(setup.file_size_limit_bytes);
  w.u64(setup.max_received_bytes);
  w.u64(setup.max_checkout_bytes);
  w.u64(setup.max_pack_objects);
  w.boolean(setup.landlock);
  w.str(setup.log_level);
  w.i64(setup.supervisor_pid);
  return std::move(w).finish();
}

std::optional<WorkerSetup> decode_setup(std::string_view payload) {
  WireReader r(payload);
  WorkerSetup setup;
  setup.workspace = r.str();
  setup.min_free_disk_percent = static_cast<int>(r.i64());
  setup.memory_limit_bytes = r.u64();
  setup.file_size_limit_bytes = r.u64();
  setup.max_received_bytes = r.u64();
  setup.max_checkout_bytes = r.u64();
  setup.max_pack_objects = r.u64();
  setup.landlock = r.boolean();
  setup.log_level = r.str();
  setup.supervisor_pid = r.i64();
  if (!r.ok()) return std::nullopt;
  return setup;
}

std::string encode_ready(std::string_view sandbox) {
  WireWriter w(MessageType::kReady);
  w.str(sandbox);
  return std::move(w).finish();
}

std::optional<std::string> decode_ready(std::string_view payload) {
  WireReader r(payload);
  auto sandbox = r.str();
  if (!r.ok()) return std::nullopt;
  return sandbox;
}

std::string encode_run(const RunRequest& request) {
  WireWriter w(MessageType::kRun);
  put_job(w, request.job);
  put_context(w, request.ctx);
  w.i64(request.deadline.time_since_epoch().count());
  w.boolean(request.credential.has_value());
  if (request.credential) put_credential(w, *request.credential);
  w.boolean(request.credential_error.has_value());
  if (request.credential_error) {
    w.u64(static_cast<std::uint64_t>(request.credential_error->code));
    w.str(request.credential_error->message);
  }
  return std::move(w).finish();
}

std::optional<RunRequest> decode_run(std::string_view payload) {
  WireReader r(payload);
  RunRequest request;
  if (!get_job(r, request.job)) return std::nullopt;
  get_context(r, request.ctx);
  request.deadline =
      std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(r.i64()));
  if (r.boolean()) request.credential = get_credential(r);
  if (r.boolean()) {
    const auto code = r.u64();
    if (code > static_cast<std::uint64_t>(security::CredentialErrorCode::kMalformed)) {
      return std::nullopt;
    }
    request.credential_error =
        security::CredentialError{static_cast<security::CredentialErrorCode>(code), r.str()};
  }
  if (!r.ok()) return std::nullopt;
  return request;
}

std::string encode_progress(const execution::Progress& p) {
  WireWriter w(MessageType::kProgress);
  for (const auto value :
       {p.received_bytes, p.received_objects, p.indexed_objects, p.indexed_deltas,
        p.sideband_messages, p.checkout_steps, p.waiting_polls}) {
    w.u64(value);
  }
  return std::move(w).finish();
}

std::optional<execution::Progress> decode_progress(std::string_view payload) {
  WireReader r(payload);
  execution::Progress p;
  for (auto* field : {&p.received_bytes, &p.received_objects, &p.indexed_objects, &p.indexed_deltas,
                      &p.sideband_messages, &p.checkout_steps, &p.waiting_polls}) {
    *field = r.u64();
  }
  if (!r.ok()) return std::nullopt;
  return p;
}

std::string encode_done(const Outcome& outcome) {
  WireWriter w(MessageType::kDone);
  w.boolean(outcome.has_value());
  if (!outcome) {
    w.u64(static_cast<std::uint64_t>(outcome.error().code));
    w.str(outcome.error().message);
    return std::move(w).finish();
  }
  const auto& report = *outcome;
  w.str(report.head_ref);
  w.str(report.head_oid);
  w.u64(report.refs_updated.size());
  for (const auto& update : report.refs_updated) {
    w.str(update.ref);
    w.str(update.old_oid);
    w.str(update.new_oid);
  }
  w.u64(report.received_objects);
  w.u64(report.received_bytes);
  w.boolean(report.replayed);
  w.boolean(report.recloned);
  return std::move(w).finish();
}

std::optional<Outcome> decode_done(std::string_view payload) {
  WireReader r(payload);
  if (!r.boolean()) {
    const auto code = error_code_from(r.u64());
    auto message = r.str();
    if (!code || !r.ok()) return std::nullopt;
    return Outcome(tl::make_unexpected(jobs::JobError{*code, std::move(message)}));
  }
  jobs::ExecutionReport report;
  report.head_ref = r.str();
  report.head_oid = r.str();
  const auto updates = r.count(3 * kMinStringBytes);
  report.refs_updated.reserve(updates);
  for (std::size_t i = 0; i < updates; ++i) {
    jobs::RefUpdate update;
    update.ref = r.str();
    update.old_oid = r.str();
    update.new_oid = r.str();
    report.refs_updated.push_back(std::move(update));
  }
  report.received_objects = r.u64();
  report.received_bytes = r.u64();
  report.replayed = r.boolean();
  report.recloned = r.boolean();
  if (!r.ok()) return std::nullopt;
  return Outcome(std::move(report));
}

}  // namespace mgit::isolation
