#include "mgit/security/redaction.hpp"

#include <algorithm>
#include <array>

#include "mgit/basics/ascii.hpp"

namespace mgit::security {
namespace {

constexpr std::string_view kMask = "***";
constexpr std::size_t kShortSecret = 4;
constexpr std::string_view kSchemeSeparator = "://";

/// Whether `word` reads `userinfo@host:…`: git's scp-like form, where a ':' follows the
/// host before any '/'. A mail address (`bob@example.com`) has no such ':'.
bool is_scp_like(std::string_view word) {
  const std::size_t at = word.find('@');
  if (at == 0 || at == std::string_view::npos ||
      word.substr(0, at).find('/') != std::string_view::npos) {
    return false;
  }
  const std::string_view rest = word.substr(at + 1);
  const std::size_t colon = rest.find(':');
  return colon != std::string_view::npos && colon > 0 && colon < rest.find('/');
}

/// Length of a leading `scheme://`, 0 when `url` does not start with one.
std::size_t scheme_prefix_length(std::string_view url) {
  const std::size_t separator = url.find(kSchemeSeparator);
  if (separator == std::string_view::npos || separator == 0 || !basics::is_ascii_alpha(url[0])) {
    return 0;
  }
  for (const char c : url.substr(0, separator)) {
    // '_' is not RFC 3986's, but Kafka's listener names (`SASL_SSL://`) use it.
    if (!basics::is_ascii_alnum(c) && c != '+' && c != '-' && c != '.' && c != '_') return 0;
  }
  return separator + kSchemeSeparator.size();
}

/// `url` up to its first '?' or '#': an accepted job URL has neither (docs/job-schema.md),
/// and in a refused one a query is where tokens travel (`?private_token=…`).
std::string without_query(std::string url) {
  const std::size_t query = url.find_first_of("?#");
  if (query != std::string::npos) url.erase(query);
  return url;
}

/// Where a URL ends inside free text: characters that are never part of a URL we produce
/// and that messages put around one.
bool ends_url_in_text(char c) {
  switch (c) {
    case '"':
    case '\'':
    case '<':
    case '>':
    case '`':
      return true;
    default:
      return basics::is_ascii_space(c) || basics::is_ascii_control(c);
  }
}

std::string percent_encode(std::string_view text, bool upper) {
  static constexpr std::string_view kUpper = "0123456789ABCDEF";
  static constexpr std::string_view kLower = "0123456789abcdef";
  const std::string_view digits = upper ? kUpper : kLower;
  std::string out;
  for (const char c : text) {
    if (basics::is_ascii_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
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
    const bool glued_before =
        hit > 0 && basics::is_ascii_alnum(text[hit - 1]) && basics::is_ascii_alnum(needle.front());
    const bool glued_after = end < text.size() && basics::is_ascii_alnum(text[end]) &&
                             basics::is_ascii_alnum(needle.back());
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

std::string redact_url(std::string_view url) {
  const std::size_t at = url.rfind('@');
  if (at == std::string_view::npos) return without_query(std::string(url));
  const std::size_t scheme = std::min(scheme_prefix_length(url), at);
  std::string out(url.substr(0, scheme));
  out.append(url.substr(at + 1));
  return without_query(std::move(out));
}

std::string redact_urls_in_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (ends_url_in_text(text[pos])) {
      out.push_back(text[pos++]);
      continue;
    }
    std::size_t end = pos;
    while (end < text.size() && !ends_url_in_text(text[end])) ++end;
    const std::string_view word = text.substr(pos, end - pos);
    if (word.find(kSchemeSeparator) != std::string_view::npos || is_scp_like(word)) {
      out.append(redact_url(word));
    } else {
      out.append(word);
    }
    pos = end;
  }
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
  return redact_urls_in_text(out);
}

}  // namespace mgit::security
