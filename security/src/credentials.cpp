#include "mgit/security/credentials.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>
#include <tuple>

#include "mgit/basics/ascii.hpp"

namespace mgit::security {
namespace {

constexpr std::size_t kMaxNameLength = 128;
constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{64} * 1024;
constexpr std::string_view kTokenUser = "x-access-token";

bool is_name_char(char c) { return basics::is_ascii_alnum(c) || c == '.' || c == '_' || c == '-'; }

CredentialError error(CredentialErrorCode code, std::string message) {
  return CredentialError{code, std::move(message)};
}

bool is_within(const std::filesystem::path& root, const std::filesystem::path& candidate) {
  auto r = root.begin();
  auto c = candidate.begin();
  for (; r != root.end(); ++r, ++c) {
    if (c == candidate.end() || *r != *c) return false;
  }
  return true;
}

// Credential files allow blanks around keys and list entries, nothing else.
std::string trim(std::string_view text) { return std::string(basics::trim(text, " \t")); }

/// A `hosts` entry split into its parts; `host` carries no IPv6 brackets.
struct HostEntry {
  std::string_view host;
  std::optional<int> port;
};

std::optional<int> parse_port(std::string_view text) {
  int port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535) {
    return std::nullopt;
  }
  return port;
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`; nullopt when the entry is none of them.
std::optional<HostEntry> split_host_entry(std::string_view entry) {
  HostEntry out;
  std::string_view rest;
  if (!entry.empty() && entry.front() == '[') {
    const auto close = entry.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    out.host = entry.substr(1, close - 1);
    rest = entry.substr(close + 1);
    const bool v6_chars = std::all_of(out.host.begin(), out.host.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.';
    });
    if (!v6_chars) return std::nullopt;
  } else {
    const auto colon = entry.find(':');
    out.host = entry.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : entry.substr(colon);
    const bool name_chars = std::all_of(out.host.begin(), out.host.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    });
    if (out.host.empty() || !name_chars) return std::nullopt;
  }
  if (!rest.empty()) {
    if (rest.front() != ':') return std::nullopt;
    out.port = parse_port(rest.substr(1));
    if (!out.port) return std::nullopt;
  }
  return out;
}

}  // namespace

Secret::~Secret() {
  // Overwrite before the allocator gets the memory back; volatile keeps the stores.
  volatile char* p = value_.data();
  for (std::size_t i = 0; i < value_.size(); ++i) p[i] = 0;
}

std::vector<std::string> Credential::secrets() const {
  std::vector<std::string> out;
  if (!password.empty()) out.push_back(password.reveal());
  if (!ssh_passphrase.empty()) out.push_back(ssh_passphrase.reveal());
  if (!ssh_private_key_pem.empty()) out.push_back(ssh_private_key_pem.reveal());
  return out;
}

bool Credential::allows_host(std::string_view host, std::optional<int> port) const {
  if (hosts.empty()) return false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string wanted = basics::to_lower(host);
  if (wanted.empty()) return false;
  return std::any_of(hosts.begin(), hosts.end(), [&](const std::string& entry) {
    const auto parsed = split_host_entry(entry);
    return parsed && parsed->host == wanted && (!parsed->port || parsed->port == port);
  });
}

std::string Credential::missing_hosts_message(std::string_view host) const {
  return fmt::format("credential \"{}\" has no hosts= line; add hosts={} (docs/credentials.md)",
                     name, host.empty() ? std::string_view("<git host>") : host);
}

bool is_valid_credential_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength || name.front() == '.') return false;
  for (const char c : name) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

namespace {

/// A key or known_hosts file: small, read whole. The message never quotes the content.
tl::expected<std::string, std::string> read_small_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxFileBytes) return tl::make_unexpected("is unreadable or larger than 64 KiB");
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  if (!in) return tl::make_unexpected("could not be read");
  return content.str();
}

}  // namespace

CredentialStore::CredentialStore(std::filesystem::path directory)
    : directory_(std::move(directory)) {}

tl::expected<Credential, CredentialError> CredentialStore::load(std::string_view name) const {
  namespace fs = std::filesystem;
  if (!is_valid_credential_name(name)) {
    return tl::make_unexpected(
        error(CredentialErrorCode::kInvalidName, "credential name is not valid"));
  }
  const std::string quoted = fmt::format("credential '{}'", name);

  std::error_code ec;
  const fs::path root = fs::canonical(directory_, ec);
  if (ec) {
    return tl::make_unexpected(
        error(CredentialErrorCode::kUnreadable,
              fmt::format("{}: credentials directory unavailable: {}", quoted, ec.message())));
  }
  // Symlinks inside the directory are normal (Kubernetes mounts `name -> ..data/name`);
  // one that leads out of it is treated as absent.
  const fs::path file = fs::canonical(root / std::string(name), ec);
  if (ec || !is_within(root, file)) {
    return tl::make_unexpected(error(CredentialErrorCode::kNotFound, quoted + " not found"));
  }
  if (!fs::is_regular_file(file, ec)) {
    return tl::make_unexpected(error(CredentialErrorCode::kNotFound, quoted + " not found"));
  }
  const auto size = fs::file_size(file, ec);
  if (ec || size > kMaxFileBytes) {
    return tl::make_unexpected(
        error(CredentialErrorCode::kUnreadable, quoted + " is unreadable or larger than 64 KiB"));
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  if (!in) {
    return tl::make_unexpected(
        error(CredentialErrorCode::kUnreadable, quoted + " could not be read"));
  }

  std::map<std::string, std::string, std::less<>> values;
  std::string line;
  int line_number = 0;
  std::istringstream lines(content.str());
  while (std::getline(lines, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string trimmed = trim(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) {
      return tl::make_unexpected(
          error(CredentialErrorCode::kMalformed,
                fmt::format("{}: line {} is not key=value", quoted, line_number)));
    }
    std::string key = trim(std::string_view(line).substr(0, eq));
    static constexpr std::string_view kKeys[] = {
        "username",       "password",       "token",       "ssh_private_key",
        "ssh_public_key", "ssh_passphrase", "known_hosts", "hosts"};
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
      // Neither the key nor the value is echoed: a bare secret containing '=' (padded base64)
      // would otherwise put a fragment of itself in results and logs.
      return tl::make_unexpected(
          error(CredentialErrorCode::kMalformed,
                fmt::format("{}: line {}: unknown key", quoted, line_number)));
    }
    if (values.count(key) != 0) {
      return tl::make_unexpected(
          error(CredentialErrorCode::kMalformed,
                fmt::format("{}: key '{}' appears more than once", quoted, key)));
    }
    values.emplace(std::move(key), line.substr(eq + 1));
  }

  const auto get = [&](std::string_view key) -> std::string {
    const auto it = values.find(key);
    return it == values.end() ? std::string() : it->second;
  };
  const auto malformed = [&](std::string_view what) {
    return tl::make_unexpected(
        error(CredentialErrorCode::kMalformed, fmt::format("{}: {}", quoted, what)));
  };
  const auto resolve = [&](std::string_view key,
                           fs::path& out) -> tl::expected<void, CredentialError> {
    const std::string value = get(key);
    if (value.empty()) return {};
    fs::path path(value);
    for (const auto& part : path) {
      if (part == "..") return malformed(fmt::format("{} must not contain '..'", key));
    }
    if (path.is_relative()) path = root / path;
    if (!fs::is_regular_file(path, ec)) {
      return malformed(fmt::format("{} names a file that does not exist", key));
    }
    out = path;
    return {};
  };

  Credential credential;
  credential.name = std::string(name);
  credential.username = get("username");
  const std::string password = get("password");
  const std::string token = get("token");
  if (!password.empty() && !token.empty()) {
    return malformed("set either password or token, not both");
  }
  if (!token.empty()) {
    credential.password = Secret(token);
    if (credential.username.empty()) credential.username = std::string(kTokenUser);
  } else if (!password.empty()) {
    if (credential.username.empty()) return malformed("password needs a username");
    credential.password = Secret(password);
  }
  for (const auto& [key, out] :
       {std::pair<std::string_view, fs::path*>{"ssh_private_key", &credential.ssh_private_key},
        {"ssh_public_key", &credential.ssh_public_key},
        {"known_hosts", &credential.known_hosts}}) {
    if (auto resolved = resolve(key, *out); !resolved) {
      return tl::make_unexpected(std::move(resolved.error()));
    }
  }
  credential.ssh_passphrase = Secret(get("ssh_passphrase"));
  if (!credential.has_ssh_key() &&
      (!credential.ssh_public_key.empty() || !credential.ssh_passphrase.empty())) {
    return malformed("ssh_public_key and ssh_passphrase need ssh_private_key");
  }
  if (!credential.has_userpass() && !credential.has_ssh_key()) {
    return malformed("needs password, token or ssh_private_key");
  }
  if (values.count("hosts") != 0) {
    std::string_view list = values.find("hosts")->second;
    while (true) {
      const auto comma = list.find(',');
      const std::string entry = basics::to_lower(trim(list.substr(0, comma)));
      // An entry is only host names and ports, never a secret, but it is still not echoed:
      // a mistyped line could hold anything.
      if (entry.empty() || !split_host_entry(entry)) {
        return malformed("hosts has an entry that is not host or host:port");
      }
      credential.hosts.push_back(entry);
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  // Read now, while the store is reachable: the worker running the job may not open it.
  for (const auto& [key, path, out] :
       {std::tuple<std::string_view, const fs::path*, std::string*>{
            "ssh_public_key", &credential.ssh_public_key, &credential.ssh_public_key_text},
        {"known_hosts", &credential.known_hosts, &credential.known_hosts_text}}) {
    if (path->empty()) continue;
    auto text = read_small_file(*path);
    if (!text)
      return tl::make_unexpected(error(CredentialErrorCode::kUnreadable,
                                       fmt::format("{}: {} {}", quoted, key, text.error())));
    *out = std::move(*text);
  }
  if (credential.has_ssh_key()) {
    auto pem = read_small_file(credential.ssh_private_key);
    if (!pem)
      return tl::make_unexpected(error(CredentialErrorCode::kUnreadable,
                                       fmt::format("{}: ssh_private_key {}", quoted, pem.error())));
    credential.ssh_private_key_pem = Secret(std::move(*pem));
  }
  return credential;
}

}  // namespace mgit::security
