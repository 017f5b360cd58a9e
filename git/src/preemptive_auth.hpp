#pragma once

#include <optional>
#include <string_view>

#include "mgit/security/credentials.hpp"
#include "policy_stream.hpp"

namespace mgit::git {

/// The `Authorization: Basic …` header line for `credential`'s user name and password, sent
/// on a job's first request so a server behind basic auth answers it instead of a 401
/// challenge: one request per nothing-new sync instead of two (docs/git-executor.md,
/// "Credentials on the first request").
///
/// Only when every condition holds; otherwise none, and libgit2 asks for the credential
/// after the server's challenge as before:
/// - the URL is `https://` (never plain http: the header is the password in clear text);
/// - the credential has a user name without `:` and a password, and its `hosts` name the
///   URL's host and port (`security::credential_refusal`);
/// - redirects are off (`follow_redirects = none`): libgit2 replays its custom headers on a
///   redirect, and only `none` makes the stream refuse every endpoint but the job URL's (the
///   proxy, when there is one, gets a CONNECT without them).
/// The value is secret: callers add `basic_auth_token` to the job's redactor.
std::optional<security::Secret> preemptive_auth_header(const security::Credential* credential,
                                                       std::string_view url,
                                                       FollowRedirects follow_redirects);

/// `base64(user:password)`, the part of the header that is as secret as the password.
security::Secret basic_auth_token(const security::Credential& credential);

}  // namespace mgit::git
