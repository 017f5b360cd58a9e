#include "provider_support.hpp"

#include <cstdint>
#include <ctime>

#include "mgit/basics/ascii.hpp"

namespace mgit::discovery {

namespace {

struct Origin {
  std::string scheme;
  std::string host;
  std::string port;
};

/// scheme://[userinfo@]host[:port][/...]; nullopt when there is no "://" or no host.
std::optional<Origin> origin_of(std::string_view url) {
  const auto separator = url.find("://");
  if (separator == std::string_view::npos || separator == 0) return std::nullopt;
  Origin origin;
  for (const char c : url.substr(0, separator)) origin.scheme += basics::ascii_lower(c);
  std::string_view rest = url.substr(separator + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = rest.substr(0, close + 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return std::nullopt;
      port = rest.substr(close + 2);
    }
  } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  for (const char c : host) origin.host += basics::ascii_lower(c);
  if (port.empty()) {
    if (origin.scheme == "https") port = "443";
    if (origin.scheme == "http") port = "80";
  }
  for (const char c : port) {
    if (!basics::is_ascii_digit(c)) return std::nullopt;
  }
  origin.port = std::string(port);
  return origin;
}

constexpr int kMinYear = 1900;
constexpr int kMaxYear = 2200;

std::string_view trim(std::string_view text) {
  while (!text.empty() && basics::is_ascii_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && basics::is_ascii_space(text.back())) text.remove_suffix(1);
  return text;
}

bool parse_digits(std::string_view text, int& value) {
  if (text.empty()) return false;
  value = 0;
  for (const char c : text) {
    if (!basics::is_ascii_digit(c)) return false;
    value = value * 10 + (c - '0');
  }
  return true;
}

}  // namespace

bool same_origin(std::string_view base, std::string_view url) {
  const auto a = origin_of(base);
  const auto b = origin_of(url);
  return a && b && a->scheme == b->scheme && a->host == b->host && a->port == b->port;
}

std::optional<std::string> link_next(std::string_view link_header) {
  // `<url>; rel="next", <url>; rel="last"`: a URL cannot hold '>' unescaped, and a comma
  // inside <…> is skipped by looking for the parameters only after the closing bracket.
  std::size_t position = 0;
  while (position < link_header.size()) {
    const auto open = link_header.find('<', position);
    if (open == std::string_view::npos) return std::nullopt;
    const auto close = link_header.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view target = link_header.substr(open + 1, close - open - 1);
    auto end = link_header.find('<', close);
    if (end == std::string_view::npos) end = link_header.size();
    std::string_view parameters = link_header.substr(close + 1, end - close - 1);
    std::size_t cursor = 0;
    while (cursor < parameters.size()) {
      auto semicolon = parameters.find(';', cursor);
      if (semicolon == std::string_view::npos) semicolon = parameters.size();
      std::string_view parameter = trim(parameters.substr(cursor, semicolon - cursor));
      while (!parameter.empty() && parameter.back() == ',') parameter.remove_suffix(1);
      parameter = trim(parameter);
      if (parameter.size() > 4 && basics::ascii_lower(parameter[0]) == 'r' &&
          basics::ascii_lower(parameter[1]) == 'e' && basics::ascii_lower(parameter[2]) == 'l') {
        std::string_view value = trim(parameter.substr(3));
        if (!value.empty() && value.front() == '=') {
          value = trim(value.substr(1));
          if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
            value = value.substr(1, value.size() - 2);
          }
          // rel may hold several space-separated relation types.
          std::size_t word = 0;
          while (word < value.size()) {
            auto space = value.find(' ', word);
            if (space == std::string_view::npos) space = value.size();
            std::string lowered;
            for (const char c : value.substr(word, space - word)) lowered += basics::ascii_lower(c);
            if (lowered == "next") return std::string(target);
            word = space + 1;
          }
        }
      }
      cursor = semicolon + 1;
    }
    position = end;
  }
  return std::nullopt;
}

std::optional<std::chrono::system_clock::time_point> parse_timestamp(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' ||
      text[16] != ':') {
    return std::nullopt;
  }
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!parse_digits(text.substr(0, 4), year) || !parse_digits(text.substr(5, 2), month) ||
      !parse_digits(text.substr(8, 2), day) || !parse_digits(text.substr(11, 2), hour) ||
      !parse_digits(text.substr(14, 2), minute) || !parse_digits(text.substr(17, 2), second)) {
    return std::nullopt;
  }
  // system_clock counts nanoseconds on this platform: about 1678..2262. A forge's timestamps
  // lie well inside; anything outside would overflow the conversion below.
  if (year < kMinYear || year > kMaxYear) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::string_view zone = text.substr(19);
  if (!zone.empty() && zone.front() == '.') {
    std::size_t digits = 1;
    while (digits < zone.size() && basics::is_ascii_digit(zone[digits])) ++digits;
    if (digits == 1) return std::nullopt;
    zone.remove_prefix(digits);  // sub-second precision is not needed for "pushed since"
  }
  int offset_minutes = 0;
  if (zone == "Z" || zone == "z") {
    offset_minutes = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int offset_hours = 0;
    int offset_rest = 0;
    if (!parse_digits(zone.substr(1, 2), offset_hours) ||
        !parse_digits(zone.substr(4, 2), offset_rest) || offset_hours > 23 || offset_rest > 59) {
      return std::nullopt;
    }
    offset_minutes = (offset_hours * 60 + offset_rest) * (zone[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year{year},
                                         std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;
  const auto days = std::chrono::sys_days{date};
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(
      days + std::chrono::hours{hour} + std::chrono::minutes{minute - offset_minutes} +
      std::chrono::seconds{second});
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  encoded.reserve(text.size());
  for (const char c : text) {
    if (basics::is_ascii_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      encoded += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      encoded += '%';
      encoded += kHex[byte >> 4U];
      encoded += kHex[byte & 0x0FU];
    }
  }
  return encoded;
}

std::optional<std::string_view> ApiResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

std::unique_ptr<Provider> make_provider(std::string_view name) {
  if (name == "github") return make_github_provider();
  if (name == "gitea") return make_gitea_provider();
  if (name == "gitlab") return make_gitlab_provider();
  if (name == "azure-devops") return make_azure_devops_provider();
  if (name == "bitbucket") return make_bitbucket_provider();
  return nullptr;
}

}  // namespace mgit::discovery
