#include "mgit/security/redaction.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "mgit/basics/ascii.hpp"

namespace mgit::security {
namespace {

constexpr std::string_view kMask = "***";
constexpr std::size_t kShortSecret = 4;

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

bool is_scheme_char(char c) { return is_alnum(c) || c == '+' || c == '-' || c == '.'; }

// Where an authority ends. A password may legally hold sub-delimiters, so only the
// characters that cannot be part of an authority in any message we produce stop it.
bool ends_authority(char c) {
  switch (c) {
    case '/':
    case '?':
    case '#':
    case '"':
    case '\'':
    case '<':
    case '>':
    case '`':
    case '\\':
      return true;
    default:
      return std::isspace(static_cast<unsigned char>(c)) != 0 ||
             std::iscntrl(static_cast<unsigned char>(c)) != 0;
  }
}

bool is_ssh_scheme(std::string_view scheme) {
  const std::string lower = basics::to_lower(scheme);
  return lower == "ssh" || lower == "git+ssh" || lower == "ssh+git";
}

std::string percent_encode(std::string_view text, bool upper) {
  static constexpr std::string_view kUpper = "0123456789ABCDEF";
  static constexpr std::string_view kLower = "0123456789abcdef";
  const std::string_view digits = upper ? kUpper : kLower;
  std::string out;
  for (const char c : text) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(digits[byte >> 4]);
      out.push_back(digits[byte & 0x0f]);
    }
  }
  return out;
}

// Replaces every occurrence of `needle`; with `whole_token`, only those not glued to a
// letter or digit on a side where the needle itself starts/ends with one.
std::string replace_all(std::string_view text, std::string_view needle, bool whole_token) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t hit = text.find(needle, pos);
    if (hit == std::string_view::npos) break;
    const std::size_t end = hit + needle.size();
    const bool glued_before = hit > 0 && is_alnum(text[hit - 1]) && is_alnum(needle.front());
    const bool glued_after = end < text.size() && is_alnum(text[end]) && is_alnum(needle.back());
    if (whole_token && (glued_before || glued_after)) {
      out.append(text.substr(pos, hit + 1 - pos));
      pos = hit + 1;
      continue;
    }
    out.append(text.substr(pos, hit - pos));
    out.append(kMask);
    pos = end;
  }
  if (pos < text.size()) out.append(text.substr(pos));
  return out;
}

}  // namespace

std::string redact_userinfo(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  std::size_t search = 0;
  while (true) {
    const std::size_t sep = text.find("://", search);
    if (sep == std::string_view::npos) break;
    std::size_t scheme_begin = sep;
    while (scheme_begin > 0 && is_scheme_char(text[scheme_begin - 1])) --scheme_begin;
    while (scheme_begin < sep && !std::isalpha(static_cast<unsigned char>(text[scheme_begin]))) {
      ++scheme_begin;
    }
    const std::size_t authority_begin = sep + 3;
    std::size_t authority_end = authority_begin;
    while (authority_end < text.size() && !ends_authority(text[authority_end])) ++authority_end;
    search = authority_end > authority_begin ? authority_end : authority_begin;

    const std::string_view authority =
        text.substr(authority_begin, authority_end - authority_begin);
    const std::size_t at = authority.rfind('@');
    if (at == std::string_view::npos || at == 0) continue;
    const std::string_view userinfo = authority.substr(0, at);
    const std::string_view scheme = text.substr(scheme_begin, sep - scheme_begin);
    if (is_ssh_scheme(scheme) && userinfo.find(':') == std::string_view::npos) continue;

    out.append(text.substr(copied, authority_begin - copied));
    out.append(kMask);
    copied = authority_begin + at;  // keeps the '@'
  }
  out.append(text.substr(copied));
  return out;
}

void Redactor::add(std::string secret) {
  if (secret.empty()) return;
  if (std::find(secrets_.begin(), secrets_.end(), secret) != secrets_.end()) return;
  secrets_.push_back(std::move(secret));
  std::stable_sort(secrets_.begin(), secrets_.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string Redactor::redact(std::string_view text) const {
  std::string out(text);
  for (const std::string& secret : secrets_) {
    const bool whole_token = secret.size() < kShortSecret;
    const std::array<std::string, 3> forms = {secret, percent_encode(secret, true),
                                              percent_encode(secret, false)};
    for (std::size_t i = 0; i < forms.size(); ++i) {
      if (i > 0 && forms[i] == forms[i - 1]) continue;
      out = replace_all(out, forms[i], whole_token);
    }
  }
  return redact_userinfo(out);
}

}  // namespace mgit::security
