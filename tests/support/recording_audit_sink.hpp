#pragma once

#include <functional>
#include <string>
#include <vector>

#include "mgit/audit/audit_log.hpp"

namespace mgit::test_support {

/// An audit sink whose acknowledgements the test gives: each line waits in `pending` until
/// `acknowledge` or `refuse`; `delivered` keeps the acknowledged lines in order.
class RecordingAuditSink final : public audit::AuditSink {
 public:
  struct Pending {
    std::string line;
    std::function<void(bool)> done;
  };

  void deliver(std::string line, std::function<void(bool delivered)> done) override {
    pending.push_back({std::move(line), std::move(done)});
  }
  /// Answers the oldest `count` pending lines.
  void acknowledge(std::size_t count = 1) { answer(count, true); }
  void refuse(std::size_t count = 1) { answer(count, false); }

  std::vector<Pending> pending;
  std::vector<std::string> delivered;

 private:
  void answer(std::size_t count, bool ok) {
    for (std::size_t i = 0; i < count && !pending.empty(); ++i) {
      auto next = std::move(pending.front());
      pending.erase(pending.begin());
      if (ok) delivered.push_back(next.line);
      next.done(ok);
    }
  }
};

}  // namespace mgit::test_support
