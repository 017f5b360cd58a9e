#pragma once

#include <memory>
#include <string>
#include <vector>

namespace mgit::daemon {

/// An in-process Kafka broker (librdkafka's mock cluster) for trying mgitd without Kafka.
/// It serves other processes over TCP on loopback (metadata, produce, fetch, consumer
/// groups) but cannot create topics on request, so it creates mgitd's topics itself.
/// Not for production: nothing is persisted.
class EmbeddedBroker {
 public:
  /// Throws std::runtime_error when the mock cluster cannot start (startup error).
  EmbeddedBroker(const std::vector<std::string>& topics, int partitions);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  [[nodiscard]] const std::string& bootstrap_servers() const { return bootstrap_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::string bootstrap_;
};

}  // namespace mgit::daemon
