#include "mgit/basics/ascii.hpp"

#include <algorithm>

namespace mgit::basics {

std::string to_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

std::string_view trim(std::string_view text, std::string_view strip) {
  const auto first = text.find_first_not_of(strip);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(strip);
  return text.substr(first, last - first + 1);
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool contains(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

std::string lower_hex(const unsigned char* bytes, std::size_t size) {
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    hex += kHex[bytes[i] >> 4U];
    hex += kHex[bytes[i] & 0x0fU];
  }
  return hex;
}

}  // namespace mgit::basics
