#include "mgit/daemon/embedded_broker.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <array>
#include <stdexcept>
#include <type_traits>

#include "mgit/basics/handle.hpp"

namespace mgit::daemon {
namespace {
using basics::Handle;
using KafkaPtr = Handle<rd_kafka_t, &rd_kafka_destroy>;
using KafkaConfPtr = Handle<rd_kafka_conf_t, &rd_kafka_conf_destroy>;
using MockClusterPtr = Handle<rd_kafka_mock_cluster_t, &rd_kafka_mock_cluster_destroy>;
}  // namespace

struct EmbeddedBroker::State {
  // Declared first so it is destroyed last: the cluster runs on this handle's threads.
  KafkaPtr owner;
  MockClusterPtr cluster;
};

EmbeddedBroker::EmbeddedBroker(const std::vector<std::string>& topics, int partitions)
    : state_(std::make_unique<State>()) {
  KafkaConfPtr conf(rd_kafka_conf_new());
  std::array<char, 512> errstr{};
  rd_kafka_conf_set(conf.get(), "log_level", "3", errstr.data(), errstr.size());
  state_->owner.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr.data(), errstr.size()));
  if (!state_->owner) throw std::runtime_error(std::string("embedded broker: ") + errstr.data());
  (void)conf.release();
  state_->cluster.reset(rd_kafka_mock_cluster_new(state_->owner.get(), 1));
  if (!state_->cluster) throw std::runtime_error("embedded broker: mock cluster did not start");
  for (const auto& topic : topics) {
    if (rd_kafka_mock_topic_create(state_->cluster.get(), topic.c_str(), partitions, 1) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("embedded broker: cannot create topic " + topic);
    }
  }
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(state_->cluster.get());
}

EmbeddedBroker::~EmbeddedBroker() {
  if (state_) state_->cluster.reset();
}

}  // namespace mgit::daemon
