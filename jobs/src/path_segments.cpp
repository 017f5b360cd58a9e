#include "path_segments.hpp"

#include <cstddef>

namespace mgit::jobs {

std::vector<std::string_view> split_segments(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = path.find('/', start);
    segments.push_back(path.substr(start, end - start));
    if (end == std::string_view::npos) return segments;
    start = end + 1;
  }
}

std::optional<std::string_view> refused_segment(std::string_view segment) {
  if (segment.empty()) return "empty segments";
  if (segment == "." || segment == "..") return "'.' or '..' segments";
  return std::nullopt;
}

}  // namespace mgit::jobs
