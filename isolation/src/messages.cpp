#include "messages.hpp"

#include <cstdint>
#include <filesystem>
#include <limits>
#include <utility>
#include <vector>

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

/// Writes each field it is shown; `Fields` functions list a message's fields once, for
/// both directions, so encoder and decoder cannot drift apart.
struct FieldWriter {
  WireWriter& w;
  void operator()(const std::string& v) { w.str(v); }
  void operator()(const std::filesystem::path& v) { w.str(v.string()); }
  void operator()(const security::Secret& v) { w.str(v.reveal()); }
  void operator()(bool v) { w.boolean(v); }
  void operator()(int v) { w.i64(v); }
  void operator()(std::int64_t v) { w.i64(v); }
  void operator()(std::uint64_t v) { w.u64(v); }
  void operator()(jobs::Operation v) { w.u64(static_cast<std::uint64_t>(v)); }
  void operator()(const std::vector<std::string>& v) {
    w.u64(v.size());
    for (const auto& item : v) w.str(item);
  }
};

/// Reads each field into what it is shown. An enum out of range marks the read invalid.
struct FieldReader {
  WireReader& r;
  bool valid = true;
  void operator()(std::string& v) { v = r.str(); }
  void operator()(std::filesystem::path& v) { v = r.str(); }
  void operator()(security::Secret& v) { v = security::Secret(r.str()); }
  void operator()(bool& v) { v = r.boolean(); }
  void operator()(int& v) { v = static_cast<int>(r.i64()); }
  void operator()(std::int64_t& v) { v = r.i64(); }
  void operator()(std::uint64_t& v) { v = r.u64(); }
  void operator()(jobs::Operation& v) {
    const auto raw = r.u64();
    if (raw > static_cast<std::uint64_t>(jobs::Operation::kMirror)) valid = false;
    v = static_cast<jobs::Operation>(valid ? raw : 0);
  }
  void operator()(std::vector<std::string>& v) {
    v.clear();  // the sent list replaces a default (ref_backup_namespaces has one)
    const auto items = r.count(kMinStringBytes);
    for (std::size_t i = 0; i < items; ++i) v.push_back(r.str());
  }
  [[nodiscard]] bool ok() const { return valid && r.ok(); }
};

template <class Io, class Setup>
void setup_fields(Io& io, Setup& s) {
  io(s.workspace);
  io(s.min_free_disk_percent);
  io(s.memory_limit_bytes);
  io(s.file_size_limit_bytes);
  io(s.max_received_bytes);
  io(s.max_checkout_bytes);
  io(s.max_pack_objects);
  io(s.landlock);
  io(s.log_level);
  io(s.supervisor_pid);
  io(s.network_allow);
  io(s.allow_plain_http);
  io(s.follow_redirects);
  io(s.git_proxy);
  io(s.connect_timeout_seconds);
  io(s.socket_timeout_seconds);
  io(s.ca_file);
  io(s.ref_backup);
  io(s.ref_backup_namespaces);
  io(s.ref_backup_keep);
  io(s.ref_backup_max_age_days);
}

template <class Io, class Job>
void job_fields(Io& io, Job& job) {
  io(job.job_id);
  io(job.correlation_id);
  io(job.operation);
  io(job.repository_url);
  io(job.credential);
  io(job.repository_key);
  io(job.ref);
  io(job.target);
  io(job.options.prune);
  io(job.options.bare);
  io(job.options.depth);
  io(job.options.submodules);
  io(job.options.ref_backup);
  io(job.requested_by);
  io(job.coalesced_job_ids);
}

template <class Io, class Context>
void context_fields(Io& io, Context& ctx) {
  io(ctx.job_id);
  io(ctx.correlation_id);
  io(ctx.trace_id);
  io(ctx.span_id);
  io(ctx.parent_span_id);
  io(ctx.tracestate);
  io(ctx.sampled);
}

template <class Io, class Credential>
void credential_fields(Io& io, Credential& c) {
  io(c.name);
  io(c.username);
  io(c.password);
  io(c.ssh_private_key);
  io(c.ssh_public_key);
  io(c.ssh_passphrase);
  io(c.known_hosts);
  io(c.ssh_private_key_pem);
  io(c.ssh_public_key_text);
  io(c.known_hosts_text);
  io(c.hosts);
}

}  // namespace

std::string encode_setup(const WorkerSetup& setup) {
  WireWriter w(MessageType::kSetup);
  FieldWriter out{w};
  setup_fields(out, setup);
  return std::move(w).finish();
}

std::optional<WorkerSetup> decode_setup(std::string_view payload) {
  WireReader r(payload);
  FieldReader in{r};
  WorkerSetup setup;
  setup_fields(in, setup);
  if (!in.ok()) return std::nullopt;
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
  FieldWriter out{w};
  job_fields(out, request.job);
  context_fields(out, request.ctx);
  w.i64(request.deadline.time_since_epoch().count());
  w.boolean(request.credential.has_value());
  if (request.credential) credential_fields(out, *request.credential);
  w.boolean(request.credential_error.has_value());
  if (request.credential_error) {
    w.u64(static_cast<std::uint64_t>(request.credential_error->code));
    w.str(request.credential_error->message);
  }
  return std::move(w).finish();
}

std::optional<RunRequest> decode_run(std::string_view payload) {
  WireReader r(payload);
  FieldReader in{r};
  RunRequest request;
  job_fields(in, request.job);
  context_fields(in, request.ctx);
  request.deadline =
      std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(r.i64()));
  if (r.boolean()) credential_fields(in, request.credential.emplace());
  if (r.boolean()) {
    const auto code = r.u64();
    if (code > static_cast<std::uint64_t>(security::CredentialErrorCode::kMalformed)) {
      return std::nullopt;
    }
    request.credential_error =
        security::CredentialError{static_cast<security::CredentialErrorCode>(code), r.str()};
  }
  if (!in.ok()) return std::nullopt;
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
    w.boolean(update.forced);
    w.str(update.backup_ref);
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
  const auto updates = r.count(4 * kMinStringBytes + 1);
  report.refs_updated.reserve(updates);
  for (std::size_t i = 0; i < updates; ++i) {
    jobs::RefUpdate update;
    update.ref = r.str();
    update.old_oid = r.str();
    update.new_oid = r.str();
    update.forced = r.boolean();
    update.backup_ref = r.str();
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
