#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "mgit/transport/types.hpp"

namespace mgit::transport {

struct TopicDescription {
  std::string name;
  int partitions = 0;
  int replication_factor = 0;
};

/// Startup-time cluster checks. Blocking; call before the io_context runs.
class ClusterProbe {
 public:
  static tl::expected<ClusterProbe, TransportError> create(const KafkaSettings& settings);
  ClusterProbe(ClusterProbe&&) noexcept;
  ClusterProbe& operator=(ClusterProbe&&) noexcept;
  ~ClusterProbe();

  /// Retries a metadata request until a broker answers or `timeout` passes.
  tl::expected<void, TransportError> wait_for_broker(std::chrono::milliseconds timeout);

  /// Describes the named topics; missing ones are absent from the map.
  tl::expected<std::map<std::string, TopicDescription>, TransportError> describe(
      const std::vector<std::string>& topics, std::chrono::milliseconds timeout);

 private:
  struct State;
  explicit ClusterProbe(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace mgit::transport
