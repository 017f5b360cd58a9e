#include "support/prometheus_text.hpp"

namespace mgit::test_support {

std::optional<double> metric_sample(const std::string& exposition, const std::string& series) {
  // Series lines follow a newline (the exposition starts with a # HELP comment).
  const auto at = exposition.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(exposition.substr(at + series.size() + 2));
}

}  // namespace mgit::test_support
