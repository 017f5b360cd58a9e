#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

namespace mgit::security {

/// A secret value. There is no stream operator, no formatter and no implicit conversion, so
/// a secret cannot reach a log line or a message by accident: reading it takes `reveal()`.
/// The bytes are overwritten when the value is destroyed.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = default;
  Secret(Secret&&) noexcept = default;
  Secret& operator=(const Secret&) = default;
  Secret& operator=(Secret&&) noexcept = default;
  ~Secret();

  [[nodiscard]] const std::string& reveal() const { return value_; }
  [[nodiscard]] bool empty() const { return value_.empty(); }

 private:
  std::string value_;
};

/// One named credential of the store (see docs/credentials.md for the file format).
/// `username` and the key/known_hosts paths are not secret; `password` and `ssh_passphrase`
/// are. A token is stored as the password, with the user name defaulting to
/// `x-access-token`.
struct Credential {
  std::string name;
  std::string username;
  Secret password;
  std::filesystem::path ssh_private_key;  ///< absolute, empty when none
  std::filesystem::path ssh_public_key;   ///< absolute, empty when none
  Secret ssh_passphrase;
  std::filesystem::path known_hosts;  ///< absolute, empty when none
  /// The files' contents, read when the credential is loaded: a sandboxed worker that may
  /// not open the credentials directory gets them in memory.
  Secret ssh_private_key_pem;
  std::string ssh_public_key_text;
  std::string known_hosts_text;
  /// Hosts this credential may be sent to, lower-case, each `host` or `host:port` (an IPv6
  /// literal in brackets: `[::1]:8443`). Empty when the file has no `hosts=` line: such a
  /// credential still loads (so it can be reported) but is never used.
  std::vector<std::string> hosts;

  [[nodiscard]] bool has_userpass() const { return !password.empty(); }
  [[nodiscard]] bool has_ssh_key() const { return !ssh_private_key.empty(); }

  /// Whether this credential may be sent to `host` (compared case-insensitively; brackets
  /// around an IPv6 literal are optional) on `port` (nullopt when the URL names none). An
  /// entry without a port matches any port; an entry with a port matches only that port, so
  /// it never matches a URL without an explicit port. False for every host when `hosts` is
  /// empty.
  [[nodiscard]] bool allows_host(std::string_view host, std::optional<int> port) const;

  /// Why a credential without `hosts=` is not used and how to fix its file, naming `host`
  /// (the job's) in the suggested line when given. Holds no value from the file.
  [[nodiscard]] std::string missing_hosts_message(std::string_view host = {}) const;

  /// Every secret string this credential holds (non-empty ones), for a `Redactor`.
  [[nodiscard]] std::vector<std::string> secrets() const;
};

/// Host (lower-cased; an IPv6 literal keeps its brackets) and explicit port of a git URL:
/// `scheme://[user@]host[:port]/…` or scp-like `[user@]host:path`. No port when the URL
/// names none.
std::pair<std::string, std::optional<int>> url_host(std::string_view url);

/// Why `credential` must not be given to a job fetching `url`, fit for the job's
/// `policy_denied` message (names the credential and the host, never a secret): the file has
/// no `hosts=` line, or the URL's host and port are not among them. Nullopt when it may.
std::optional<std::string> credential_refusal(const Credential& credential, std::string_view url);

enum class CredentialErrorCode {
  kInvalidName,  ///< not 1–128 of `[A-Za-z0-9._-]`, or a leading dot
  kNotFound,     ///< no such file, or it resolves outside the store
  kUnreadable,   ///< I/O error
  kMalformed,    ///< syntax error or inconsistent keys
};

/// `message` names the credential and the problem, never a value from the file.
struct CredentialError {
  CredentialErrorCode code = CredentialErrorCode::kMalformed;
  std::string message;
};

/// Whether `name` is a valid credential name: 1–128 of `[A-Za-z0-9._-]`, no leading dot.
bool is_valid_credential_name(std::string_view name);

/// Where an executor gets the credential a job names.
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  [[nodiscard]] virtual tl::expected<Credential, CredentialError> load(
      std::string_view name) const = 0;
};

/// Reads credentials from a directory holding one file per credential (typically a mounted
/// Kubernetes Secret). Files are read on every `load`, so a rotated secret takes effect on
/// the next job without a restart. Thread-safe: `load` only reads the filesystem.
class CredentialStore final : public CredentialSource {
 public:
  explicit CredentialStore(std::filesystem::path directory);

  /// The credential with its key and known_hosts files read into memory.
  [[nodiscard]] tl::expected<Credential, CredentialError> load(
      std::string_view name) const override;

  [[nodiscard]] const std::filesystem::path& directory() const { return directory_; }

 private:
  std::filesystem::path directory_;
};

}  // namespace mgit::security
