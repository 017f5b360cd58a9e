// The expected codes and retryability below are written from the contract (spec "error
// codes", docs/git-executor.md "Error classification", docs/delivery.md: only `network`,
// `timeout` and `rate_limited` are retried), not from the implementation. Messages are the
// texts libgit2 1.5 produces for each case.

#include <git2.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <ostream>
#include <string>
#include <vector>

#include "error_classification.hpp"

namespace mgit::git {
namespace {

using jobs::ErrorCode;

struct Row {
  const char* name;
  GitFailure failure;
  CallbackFindings findings;
  ErrorCode code;
  bool retryable;
  std::string message_contains;
  bool lock_held = false;
};

std::ostream& operator<<(std::ostream& out, const Row& row) { return out << row.name; }

GitFailure http(std::string message) {
  return GitFailure{GitReturnCode::kOther, GitErrorClass::kHttp, std::move(message), 0};
}
GitFailure net(std::string message) {
  return GitFailure{GitReturnCode::kOther, GitErrorClass::kNet, std::move(message), 0};
}
GitFailure failure(GitReturnCode code, GitErrorClass klass, std::string message, int os = 0) {
  return GitFailure{code, klass, std::move(message), os};
}
CallbackFindings none() { return {}; }

std::vector<Row> rows() {
  CallbackFindings no_credential;
  no_credential.auth_without_credential = true;
  CallbackFindings wrong_host;
  wrong_host.host_not_allowed = "evil.example.com";
  CallbackFindings rejected;
  rejected.auth_exhausted = true;
  CallbackFindings unknown_host_key;
  unknown_host_key.host_key_problem =
      "ssh host key of 'git.example.com' is not in the credential's known_hosts";
  CallbackFindings received_too_much;
  received_too_much.limit_exceeded =
      "fetch exceeded the limit of 1048576 received bytes per job (max_fetch_size_mb)";
  const GitFailure user_error = failure(GitReturnCode::kOther, GitErrorClass::kOther,
                                        "credential callback returned an error");
  return {
      // What the callbacks saw explains an authentication failure before libgit2's text.
      {"job_without_credential", user_error, no_credential, ErrorCode::kAuthFailed, false,
       "job names no credential"},
      {"credential_not_for_host", user_error, wrong_host, ErrorCode::kAuthFailed, false,
       "credential 'deploy' is not allowed for host 'evil.example.com'"},
      {"credential_rejected", http("too many redirects or authentication replays"), rejected,
       ErrorCode::kAuthFailed, false, "the remote rejected credential 'deploy'"},
      // libgit2 reports a refused host key as a certificate error; it is still auth, not network.
      {"ssh_host_key_unknown",
       failure(GitReturnCode::kCertificate, GitErrorClass::kSsh, "user rejected certificate"),
       unknown_host_key, ErrorCode::kAuthFailed, false, "not in the credential's known_hosts"},
      // libgit2's own report.
      {"git_eauth", failure(GitReturnCode::kAuth, GitErrorClass::kHttp, "authentication required"),
       none(), ErrorCode::kAuthFailed, false, "fetch failed: authentication required"},
      {"http_401", http("unexpected http status code: 401"), none(), ErrorCode::kAuthFailed, false,
       "fetch failed: unexpected http status code: 401"},
      {"http_403", http("unexpected http status code: 403"), none(), ErrorCode::kAuthFailed, false,
       "status code: 403"},
      {"ssh_authentication_text",
       failure(GitReturnCode::kOther, GitErrorClass::kSsh, "Authentication failed for user git"),
       none(), ErrorCode::kAuthFailed, false, "Authentication failed"},
      {"http_429", http("unexpected http status code: 429"), none(), ErrorCode::kRateLimited, true,
       "status code: 429"},
      {"http_404", http("unexpected http status code: 404"), none(), ErrorCode::kNotFound, false,
       "status code: 404"},
      {"repository_not_found_text",
       failure(GitReturnCode::kOther, GitErrorClass::kOther, "Repository not found."), none(),
       ErrorCode::kNotFound, false, "Repository not found"},
      {"not_a_git_repository",
       failure(GitReturnCode::kOther, GitErrorClass::kSsh,
               "'/srv/x' does not appear to be a git repository"),
       none(), ErrorCode::kNotFound, false, "does not appear to be a git repository"},
      {"disk_full_text",
       failure(GitReturnCode::kOther, GitErrorClass::kOs,
               "failed to write to '/w/t/.git/objects/pack/x.pack': No space left on device"),
       none(), ErrorCode::kDiskFull, false, "No space left"},
      {"disk_full_errno",
       failure(GitReturnCode::kOther, GitErrorClass::kOs, "could not write packfile", ENOSPC),
       none(), ErrorCode::kDiskFull, false, "could not write packfile"},
      {"disk_quota_errno",
       failure(GitReturnCode::kOther, GitErrorClass::kOs, "could not write packfile", EDQUOT),
       none(), ErrorCode::kDiskFull, false, "could not write packfile"},
      {"disk_quota_text",
       failure(GitReturnCode::kOther, GitErrorClass::kOs,
               "failed to write to '/w/t/.git/objects/pack/x.pack': Disk quota exceeded"),
       none(), ErrorCode::kDiskFull, false, "Disk quota exceeded"},
      // A write past RLIMIT_FSIZE with SIGXFSZ ignored fails with EFBIG.
      {"file_size_limit_errno",
       failure(GitReturnCode::kOther, GitErrorClass::kOs, "could not write packfile", EFBIG),
       none(), ErrorCode::kDiskFull, false, "could not write packfile"},
      {"file_size_limit_text",
       failure(GitReturnCode::kOther, GitErrorClass::kOs,
               "failed to write to '/w/t/.git/objects/pack/pack_git2_1f': File too large"),
       none(), ErrorCode::kDiskFull, false, "File too large"},
      // The indexer's refusal of a pack over GIT_OPT_SET_PACK_MAX_OBJECTS.
      {"pack_max_objects",
       failure(GitReturnCode::kOther, GitErrorClass::kOther, "too many objects"), none(),
       ErrorCode::kDiskFull, false, "more objects than max_pack_objects allows"},
      {"received_bytes_limit",
       failure(GitReturnCode::kOther, GitErrorClass::kOther,
               "indexer progress callback returned -7"),
       received_too_much, ErrorCode::kDiskFull, false,
       "fetch exceeded the limit of 1048576 received bytes"},
      {"other_os_error_is_internal",
       failure(GitReturnCode::kOther, GitErrorClass::kOs, "could not open file", EACCES), none(),
       ErrorCode::kInternal, false, "could not open file"},
      {"git_lock_file_held",
       failure(GitReturnCode::kLocked, GitErrorClass::kOs,
               "failed to lock file '/w/t/.git/index.lock' for writing", EEXIST),
       none(), ErrorCode::kConflict, false, "a git lock file is held", true},
      {"git_econflict",
       failure(GitReturnCode::kConflict, GitErrorClass::kOther, "1 conflict prevents checkout"),
       none(), ErrorCode::kConflict, false, "conflict prevents checkout"},
      {"git_eexists", failure(GitReturnCode::kExists, GitErrorClass::kOther, "reference exists"),
       none(), ErrorCode::kConflict, false, "reference exists"},
      {"git_eunmerged",
       failure(GitReturnCode::kUnmerged, GitErrorClass::kOther, "unmerged entries exist"), none(),
       ErrorCode::kConflict, false, "unmerged"},
      {"http_500", http("unexpected http status code: 500"), none(), ErrorCode::kNetwork, true,
       "status code: 500"},
      // A 5xx is a server fault whatever class libgit2 files it under; 503 (like 429) is how
      // git hosts throttle, so it is rate_limited and cools the host down (docs/rate-limits.md).
      {"http_502_other_class",
       failure(GitReturnCode::kOther, GitErrorClass::kOther, "unexpected http status code: 502"),
       none(), ErrorCode::kNetwork, true, "status code: 502"},
      {"http_503", http("unexpected http status code: 503"), none(), ErrorCode::kRateLimited, true,
       "status code: 503"},
      {"http_503_other_class",
       failure(GitReturnCode::kOther, GitErrorClass::kOther, "unexpected http status code: 503"),
       none(), ErrorCode::kRateLimited, true, "status code: 503"},
      {"tls_certificate_invalid",
       failure(GitReturnCode::kCertificate, GitErrorClass::kOther,
               "the SSL certificate is invalid"),
       none(), ErrorCode::kNetwork, true, "certificate is invalid"},
      {"tls_handshake",
       failure(GitReturnCode::kOther, GitErrorClass::kSsl,
               "SSL error: error:0A000086:SSL routines::certificate verify failed"),
       none(), ErrorCode::kNetwork, true, "certificate verify failed"},
      {"dns_resolution",
       net("failed to resolve address for nosuch.invalid: Name or service not known"), none(),
       ErrorCode::kNetwork, true, "failed to resolve address"},
      {"connection_refused", net("failed to connect to localhost: Connection refused"), none(),
       ErrorCode::kNetwork, true, "Connection refused"},
      // What libgit2 1.5 really reports (tests/integration/rate_limit_test.cpp).
      {"connection_refused_os_class",
       failure(GitReturnCode::kOther, GitErrorClass::kOs,
               "failed to connect to 127.0.0.1: Connection refused", ECONNREFUSED),
       none(), ErrorCode::kNetwork, true, "Connection refused"},
      // A network timeout is not the job's deadline (`timeout`): it is the remote's fault.
      {"connection_timed_out", net("failed to connect to 10.0.0.1: Connection timed out"), none(),
       ErrorCode::kNetwork, true, "timed out"},
      {"early_eof", failure(GitReturnCode::kEof, GitErrorClass::kOther, "early EOF"), none(),
       ErrorCode::kNetwork, true, "early EOF"},
      {"ssh_transport",
       failure(GitReturnCode::kOther, GitErrorClass::kSsh,
               "Failed to start SSH session: Unable to exchange encryption keys"),
       none(), ErrorCode::kNetwork, true, "Failed to start SSH session"},
      {"http_transport", http("failed to send request: Broken pipe"), none(), ErrorCode::kNetwork,
       true, "Broken pipe"},
      {"anything_else", failure(GitReturnCode::kOther, GitErrorClass::kOther, "invalid pack"),
       none(), ErrorCode::kInternal, false, "fetch failed: invalid pack"},
      {"no_message", failure(GitReturnCode::kOther, GitErrorClass::kOther, ""), none(),
       ErrorCode::kInternal, false, "fetch failed: unknown error"},
  };
}

class GitErrorClassification : public ::testing::TestWithParam<Row> {};

TEST_P(GitErrorClassification, MapsToTheDocumentedCode) {
  const Row& row = GetParam();
  const security::Redactor redactor;
  const ClassifiedError classified =
      classify_git_error(row.failure, row.findings, FailureContext{"fetch", "deploy", redactor});
  EXPECT_EQ(jobs::to_string(classified.error.code), jobs::to_string(row.code));
  EXPECT_EQ(classified.error.retryable(), row.retryable);
  EXPECT_NE(classified.error.message.find(row.message_contains), std::string::npos)
      << classified.error.message;
  EXPECT_EQ(classified.lock_held, row.lock_held);
}

INSTANTIATE_TEST_SUITE_P(Rows, GitErrorClassification, ::testing::ValuesIn(rows()),
                         [](const auto& info) { return std::string(info.param.name); });

// Over ssh, a refused connection or one closed before the banner is how sshd sheds load
// (MaxStartups): rate_limited, so the host cools down.
TEST(GitErrorClassificationSsh, RefusedOrDroppedConnectionsAreRateLimited) {
  const security::Redactor redactor;
  const FailureContext ssh{"connect", "deploy", redactor, true};
  for (const auto& refused :
       {net("failed to connect to 127.0.0.1: Connection refused"),
        failure(GitReturnCode::kOther, GitErrorClass::kOs, "failed to connect", ECONNREFUSED),
        failure(GitReturnCode::kOther, GitErrorClass::kSsh,
                "failed to start SSH session: Failed getting banner")}) {
    SCOPED_TRACE(refused.message);
    const auto classified = classify_git_error(refused, {}, ssh);
    EXPECT_EQ(jobs::to_string(classified.error.code), "rate_limited");
    EXPECT_TRUE(classified.error.retryable());
    EXPECT_EQ(classified.error.message.rfind("connect failed: ", 0), 0u)
        << classified.error.message;
  }
  // Over http a refused connection stays a network failure (the row connection_refused).
  EXPECT_EQ(classify_git_error(net("failed to connect to localhost: Connection refused"), {},
                               FailureContext{"connect", "deploy", redactor, false})
                .error.code,
            ErrorCode::kNetwork);
  // Other ssh failures keep their codes.
  EXPECT_EQ(classify_git_error(failure(GitReturnCode::kOther, GitErrorClass::kSsh,
                                       "failed to start SSH session: Timeout"),
                               {}, ssh)
                .error.code,
            ErrorCode::kNetwork);
  EXPECT_EQ(classify_git_error(failure(GitReturnCode::kAuth, GitErrorClass::kSsh,
                                       "Username/PublicKey combination invalid"),
                               {}, ssh)
                .error.code,
            ErrorCode::kAuthFailed);
}

TEST(GitErrorClassificationSsh, ARefusalThePolicyStreamSawIsRateLimitedOverSshOnly) {
  // The policy stream words every failed connect alike ("cannot connect to H:P") and tells
  // the classifier through its findings that every address refused.
  const security::Redactor redactor;
  CallbackFindings refused;
  refused.connection_refused = true;
  const auto uniform = net("cannot connect to 127.0.0.1:2222");
  const auto over_ssh =
      classify_git_error(uniform, refused, FailureContext{"connect", "deploy", redactor, true});
  EXPECT_EQ(over_ssh.error.code, ErrorCode::kRateLimited);
  EXPECT_EQ(over_ssh.error.message, "connect failed: cannot connect to 127.0.0.1:2222");
  EXPECT_EQ(
      classify_git_error(uniform, refused, FailureContext{"connect", "deploy", redactor, false})
          .error.code,
      ErrorCode::kNetwork);
  EXPECT_EQ(classify_git_error(uniform, {}, FailureContext{"connect", "deploy", redactor, true})
                .error.code,
            ErrorCode::kNetwork);
}

TEST(GitErrorClassificationMessages, RedactsSecretsFromLibgit2Text) {
  security::Redactor redactor;
  redactor.add("s3cr3t-token-value");
  const ClassifiedError classified = classify_git_error(
      http("unexpected http status code: 500 for https://x:s3cr3t-token-value@git.example.com/a"),
      {}, FailureContext{"fetch", "deploy", redactor});
  EXPECT_EQ(classified.error.message.find("s3cr3t-token-value"), std::string::npos)
      << classified.error.message;
}

TEST(GitErrorClassificationMessages, RedactsSecretsFromHostKeyFindings) {
  security::Redactor redactor;
  redactor.add("s3cr3t-token-value");
  CallbackFindings findings;
  findings.host_key_problem = "host key of 's3cr3t-token-value.example.com' unknown";
  const ClassifiedError classified = classify_git_error(
      http("user rejected certificate"), findings, FailureContext{"connect", "deploy", redactor});
  EXPECT_EQ(classified.error.message.find("s3cr3t-token-value"), std::string::npos)
      << classified.error.message;
}

// libgit2's numbers reach the classification as the right values.
class LastGitFailure : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(git_libgit2_init(), 0); }
  void TearDown() override { git_libgit2_shutdown(); }
};

TEST_F(LastGitFailure, ReadsCodeClassMessageAndErrno) {
  struct Case {
    int rc;
    int klass;
    GitReturnCode code;
    GitErrorClass error_class;
  };
  const Case cases[] = {
      {GIT_EAUTH, GIT_ERROR_HTTP, GitReturnCode::kAuth, GitErrorClass::kHttp},
      {GIT_ECERTIFICATE, GIT_ERROR_SSL, GitReturnCode::kCertificate, GitErrorClass::kSsl},
      {GIT_EEOF, GIT_ERROR_NET, GitReturnCode::kEof, GitErrorClass::kNet},
      {GIT_ELOCKED, GIT_ERROR_OS, GitReturnCode::kLocked, GitErrorClass::kOs},
      {GIT_ECONFLICT, GIT_ERROR_CHECKOUT, GitReturnCode::kConflict, GitErrorClass::kOther},
      {GIT_EEXISTS, GIT_ERROR_REFERENCE, GitReturnCode::kExists, GitErrorClass::kOther},
      {GIT_EUNMERGED, GIT_ERROR_INDEX, GitReturnCode::kUnmerged, GitErrorClass::kOther},
      {GIT_ERROR, GIT_ERROR_SSH, GitReturnCode::kOther, GitErrorClass::kSsh},
  };
  for (const Case& c : cases) {
    ASSERT_EQ(git_error_set_str(c.klass, "the message"), 0);
    errno = ENOSPC;
    const GitFailure failure = last_git_failure(c.rc);
    EXPECT_EQ(failure.code, c.code) << c.rc;
    EXPECT_EQ(failure.error_class, c.error_class) << c.klass;
    EXPECT_EQ(failure.message, "the message");
    EXPECT_EQ(failure.os_error, ENOSPC);
  }
}

TEST_F(LastGitFailure, NoErrorSetGivesAnEmptyMessage) {
  git_error_clear();
  const GitFailure failure = last_git_failure(GIT_ERROR);
  EXPECT_EQ(failure.code, GitReturnCode::kOther);
  EXPECT_EQ(failure.error_class, GitErrorClass::kOther);
  EXPECT_TRUE(failure.message.empty());
}

}  // namespace
}  // namespace mgit::git
