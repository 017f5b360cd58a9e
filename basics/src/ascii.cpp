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

}  // namespace mgit::basics
