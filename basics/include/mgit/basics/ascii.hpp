#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mgit::basics {

// Locale-independent ASCII helpers: protocol text (URLs, header names, config keys, host
// names) is compared byte for byte, whatever the process locale says.

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
constexpr char ascii_upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}
constexpr bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_ascii_alnum(char c) { return is_ascii_alpha(c) || is_ascii_digit(c); }
constexpr bool is_ascii_hex(char c) {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
/// C0 controls and DEL.
constexpr bool is_ascii_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}
/// Space, tab, CR, LF, vertical tab, form feed.
constexpr bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string to_lower(std::string_view text);

/// `text` without leading and trailing characters of `strip` (by default ASCII white space;
/// formats that allow only blanks pass " \t").
std::string_view trim(std::string_view text, std::string_view strip = " \t\r\n\v\f");

bool starts_with(std::string_view text, std::string_view prefix);

/// Lower-case hex of `size` bytes (digests, for file names, headers and comparisons).
std::string lower_hex(const unsigned char* bytes, std::size_t size);
bool contains(std::string_view text, std::string_view needle);

}  // namespace mgit::basics
