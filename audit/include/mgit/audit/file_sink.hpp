#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <tl/expected.hpp>

#include "mgit/audit/audit_log.hpp"
#include "mgit/basics/file_descriptor.hpp"

namespace mgit::audit {

/// Appends each event as one line to a file (mode 0600, created if missing). A line counts as
/// delivered once write(2) took all of it: it survives the process, not the node (for that,
/// use the Kafka sink). A failed write (disk full, file system gone) refuses the event, so the
/// log retries it and intake closes meanwhile. Rotate with copytruncate (the file is opened
/// once, O_APPEND).
class FileSink final : public AuditSink {
 public:
  static tl::expected<std::unique_ptr<FileSink>, std::string> open(
      const std::filesystem::path& path);

  void deliver(std::string line, std::function<void(bool delivered)> done) override;

 private:
  explicit FileSink(basics::FileDescriptor fd) : fd_(std::move(fd)) {}
  basics::FileDescriptor fd_;
};

}  // namespace mgit::audit
