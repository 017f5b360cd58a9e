#pragma once

#include <optional>
#include <string>

namespace mgit::test_support {

/// The value of one series in a Prometheus text exposition, e.g.
/// `mgitd_dlq_records_total{reason="not_json"}`; nothing when the series is absent.
std::optional<double> metric_sample(const std::string& exposition, const std::string& series);

}  // namespace mgit::test_support
