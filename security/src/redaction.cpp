#include "mgit/security/redaction.hpp"

#include <algorithm>
#include <array>

#include "mgit/basics/ascii.hpp"

namespace mgit::security {
namespace {

constexpr std::string_view kMask = "***";
constexpr std::size_t kShortSecret = 4;
constexpr std::string_view kSchemeSeparator = "://";

/// Length of the userinfo, its '@' included, at the start of `authority`: the text after a
/// URL's `://`, or a whole scp-like URL. See the header for why only '/' ends it.
std::size_t userinfo_length(std::string_view authority) {
  const std::size_t at = authority.substr(0, authority.find('/')).rfind('@');
  return at == std::string_view::npos ? 0 : at + 1;
}

/// Whether a word (or the part of it before a `://`) reads `[userinfo@]host:path`: git's scp-like
/// form, where a
/// ':' follows the host before any '/'.
bool is_scp_like(std::string_view word, std::size_t userinfo) {
  const std::string_view rest = word.substr(userinfo);
  const std::size_t colon = rest.find(':');
  return userinfo > 0 && colon != std::string_view::npos && colon > 0 && colon < rest.find('/');
}

/// Appends `word` without the userinfo of any URL in it. Several URLs may be glued into one
/// word (`https://a/?next=https://u:p@b/`), so every `://` starts an authority. `whole_url`:
/// the word is known to be a URL, so without `://` it is scp-like whatever follows its '@'.
void append_redacted(std::string& out, std::string_view word, bool whole_url) {
  std::size_t copied = 0;
  std::size_t separator = word.find(kSchemeSeparator);
  // What stands before the first `://` (the whole word when there is none) may itself be an
  // scp-like URL: `git:secret@host:org/app?next=https://x` must lose `git:secret@` too.
  const std::string_view head = word.substr(0, separator);
  const std::size_t userinfo = userinfo_length(head);
  if (whole_url || is_scp_like(head, userinfo)) copied = userinfo;
  while (separator != std::string_view::npos) {
    const std::size_t authority = separator + kSchemeSeparator.size();
    out.append(word.substr(copied, authority - copied));
    // The dropped userinfo holds no '/', hence no `://`: the next search starts after it.
    copied = authority + userinfo_length(word.substr(authority));
    separator = word.find(kSchemeSeparator, copied);
  }
  out.append(word.substr(copied));
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

std::string redact_unparsed_url(std::string_view url) {
  const std::size_t at = url.rfind('@');
  return std::string(at == std::string_view::npos ? url : url.substr(at + 1));
}

std::string redact_url(std::string_view url) {
  std::string out;
  out.reserve(url.size());
  append_redacted(out, url, true);
  return out;
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
    append_redacted(out, text.substr(pos, end - pos), false);
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
