// The supervisor ↔ worker protocol: every message survives a round trip, and whatever a
// (possibly compromised) worker sends is bounds-checked rather than trusted.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "messages.hpp"
#include "wire.hpp"

namespace mgit::isolation {
namespace {

/// The payload of a complete frame, as the supervisor's buffer would cut it.
Frame frame_of(const std::string& bytes) {
  FrameBuffer buffer;
  buffer.append(bytes.data(), bytes.size());
  auto frame = buffer.next();
  EXPECT_TRUE(frame.has_value());
  return frame.value_or(Frame{});
}

TEST(IsolationMessages, SetupRoundTripsWithTheCaFile) {
  WorkerSetup setup;
  setup.workspace = "/var/lib/mgitd";
  setup.max_pack_objects = 7;
  setup.ca_file = "/etc/mgitd/ca/internal-ca.pem";
  const auto frame = frame_of(encode_setup(setup));
  const auto decoded = decode_setup(frame.payload);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->workspace, setup.workspace);
  EXPECT_EQ(decoded->max_pack_objects, 7u);
  EXPECT_EQ(decoded->ca_file, setup.ca_file);
}

TEST(IsolationMessages, SetupRoundTripsWithTheRefBackupSettings) {
  WorkerSetup setup;
  setup.ref_backup = false;
  setup.ref_backup_namespaces = {"refs/heads/", "refs/pull/"};
  setup.ref_backup_keep = 3;
  setup.ref_backup_max_age_days = 7;
  const auto decoded = decode_setup(frame_of(encode_setup(setup)).payload);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_FALSE(decoded->ref_backup);
  EXPECT_EQ(decoded->ref_backup_namespaces, setup.ref_backup_namespaces);
  EXPECT_EQ(decoded->ref_backup_keep, 3);
  EXPECT_EQ(decoded->ref_backup_max_age_days, 7);
}

TEST(IsolationMessages, RunRequestRoundTripsWithItsCredential) {
  RunRequest request;
  request.job.job_id = "j-1";
  request.job.operation = jobs::Operation::kMirror;
  request.job.repository_url = "ssh://git@example.com/org/app.git";
  request.job.credential = "deploy";
  request.job.target = "org/app";
  request.job.options.prune = false;
  request.job.options.ref_backup = false;
  request.job.options.depth = 3;
  request.job.coalesced_job_ids = {"j-2", "j-3"};
  request.ctx.trace_id = "trace";
  request.deadline = std::chrono::steady_clock::time_point(std::chrono::seconds(12345));
  security::Credential credential;
  credential.name = "deploy";
  credential.username = "git";
  credential.ssh_private_key_pem = security::Secret("PEM");
  credential.known_hosts_text = "host ssh-ed25519 AAAA";
  credential.hosts = {"example.com", "example.org:22"};
  request.credential = credential;

  const auto frame = frame_of(encode_run(request));
  ASSERT_EQ(frame.type, MessageType::kRun);
  const auto decoded = decode_run(frame.payload);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->job.job_id, "j-1");
  EXPECT_EQ(decoded->job.operation, jobs::Operation::kMirror);
  EXPECT_EQ(decoded->job.repository_url, request.job.repository_url);
  EXPECT_FALSE(decoded->job.options.prune);
  EXPECT_FALSE(decoded->job.options.ref_backup);
  EXPECT_EQ(decoded->job.options.depth, 3);
  EXPECT_EQ(decoded->job.coalesced_job_ids, (std::vector<std::string>{"j-2", "j-3"}));
  EXPECT_EQ(decoded->ctx.trace_id, "trace");
  EXPECT_EQ(decoded->deadline, request.deadline);
  ASSERT_TRUE(decoded->credential);
  EXPECT_EQ(decoded->credential->ssh_private_key_pem.reveal(), "PEM");
  EXPECT_EQ(decoded->credential->known_hosts_text, "host ssh-ed25519 AAAA");
  EXPECT_EQ(decoded->credential->hosts, credential.hosts);
  EXPECT_FALSE(decoded->credential_error);
}

TEST(IsolationMessages, SetupRoundTripsWithTheNetworkPolicy) {
  WorkerSetup setup;
  setup.workspace = "/var/lib/mgitd";
  setup.network_allow = {"git.internal.example", "10.20.0.0/16"};
  setup.allow_plain_http = true;
  setup.follow_redirects = "same_host";
  setup.git_proxy = "http://proxy.internal:3128";
  setup.connect_timeout_seconds = 7;
  setup.socket_timeout_seconds = 70;
  const auto decoded = decode_setup(frame_of(encode_setup(setup)).payload);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->workspace, "/var/lib/mgitd");
  EXPECT_EQ(decoded->network_allow, setup.network_allow);
  EXPECT_TRUE(decoded->allow_plain_http);
  EXPECT_EQ(decoded->follow_redirects, "same_host");
  EXPECT_EQ(decoded->git_proxy, setup.git_proxy);
  EXPECT_EQ(decoded->connect_timeout_seconds, 7);
  EXPECT_EQ(decoded->socket_timeout_seconds, 70);
}

TEST(IsolationMessages, OutcomesRoundTrip) {
  jobs::ExecutionReport report;
  report.head_ref = "refs/heads/main";
  report.head_oid = "abc";
  report.refs_updated = {{"refs/heads/main", "", "abc"}, {"refs/tags/v1", "def", ""}};
  report.refs_updated[1].forced = true;
  report.refs_updated[1].backup_ref = "refs/mgitd/backup/refs/tags/v1/20261206T114501Z";
  report.received_bytes = 1u << 30;
  report.replayed = true;
  report.recloned = true;
  const auto done = decode_done(frame_of(encode_done(Outcome(report))).payload);
  ASSERT_TRUE(done && *done);
  EXPECT_EQ((*done)->refs_updated.size(), 2u);
  EXPECT_EQ((*done)->refs_updated[1].old_oid, "def");
  EXPECT_FALSE((*done)->refs_updated[0].forced);
  EXPECT_TRUE((*done)->refs_updated[1].forced);
  EXPECT_EQ((*done)->refs_updated[1].backup_ref, "refs/mgitd/backup/refs/tags/v1/20261206T114501Z");
  EXPECT_EQ((*done)->received_bytes, 1u << 30);
  EXPECT_TRUE((*done)->replayed);
  EXPECT_TRUE((*done)->recloned);

  const auto failed = decode_done(frame_of(encode_done(Outcome(tl::make_unexpected(jobs::JobError{
                                               jobs::ErrorCode::kDiskFull, "no space"}))))
                                      .payload);
  ASSERT_TRUE(failed && !*failed);
  EXPECT_EQ(failed->error().code, jobs::ErrorCode::kDiskFull);
  EXPECT_EQ(failed->error().message, "no space");
}

TEST(IsolationMessages, AnUnknownErrorCodeIsRefused) {
  WireWriter w(MessageType::kDone);
  w.boolean(false);
  w.u64(999);
  w.str("?");
  EXPECT_FALSE(decode_done(frame_of(std::move(w).finish()).payload));
}

TEST(IsolationMessages, ACountLargerThanThePayloadIsRefusedWithoutAllocating) {
  WireWriter w(MessageType::kDone);
  w.boolean(true);
  w.str("refs/heads/main");
  w.str("abc");
  w.u64(std::uint64_t{1} << 60);  // refs_updated "count"
  EXPECT_FALSE(decode_done(frame_of(std::move(w).finish()).payload));
}

TEST(IsolationMessages, TruncatedAndTrailingPayloadsAreRefused) {
  const auto progress = frame_of(encode_progress(execution::Progress{1, 2, 3, 4, 5, 6, 7}));
  const auto decoded = decode_progress(progress.payload);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->waiting_polls, 7u);
  EXPECT_FALSE(decode_progress(progress.payload.substr(0, progress.payload.size() - 1)));
  EXPECT_FALSE(decode_progress(progress.payload + "x"));
}

TEST(IsolationMessages, FrameBufferWaitsForWholeFramesAndRejectsHugeOrUnknownOnes) {
  const auto bytes = encode_ready("landlock abi 7 enforced");
  FrameBuffer buffer;
  buffer.append(bytes.data(), 3);
  EXPECT_FALSE(buffer.next());
  buffer.append(bytes.data() + 3, bytes.size() - 3);
  const auto frame = buffer.next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(decode_ready(frame->payload), "landlock abi 7 enforced");
  EXPECT_FALSE(buffer.corrupt());

  FrameBuffer huge;
  const std::string too_long = "\xff\xff\xff\x7f\x04";
  huge.append(too_long.data(), too_long.size());
  EXPECT_FALSE(huge.next());
  EXPECT_TRUE(huge.corrupt());

  FrameBuffer unknown;
  const std::string bad_type("\x01\x00\x00\x00\x63", 5);
  unknown.append(bad_type.data(), bad_type.size());
  EXPECT_FALSE(unknown.next());
  EXPECT_TRUE(unknown.corrupt());
}

}  // namespace
}  // namespace mgit::isolation
