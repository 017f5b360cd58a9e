#pragma once

#include <filesystem>
#include <string>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

namespace mgit::webhooks {

/// A job record waiting for the broker.
struct SpooledRecord {
  std::string job_id;
  std::string key;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Why a record could not be read back.
struct SpoolReadError {
  std::string message;
  /// The file is not a record (torn, not a regular file, not JSON): it was renamed
  /// `<name>.corrupt` and is never replayed. False for a failure that may pass (EMFILE, EIO).
  bool corrupt = false;
};

/// Webhook jobs the broker did not acknowledge in time, one file each in a directory on the
/// workspace volume, so that a 202 is never given for a job only memory holds. A file is
/// written to a temporary name, fsync'd, renamed and the directory fsync'd: after `write`
/// returns, a crash or a power cut keeps the record. Not thread-safe: one owner.
class Spool {
 public:
  /// Creates the directory (0700) when missing; removes the temporaries a crash left.
  static tl::expected<Spool, std::string> open(std::filesystem::path directory);

  tl::expected<void, std::string> write(const SpooledRecord& record);
  /// Job ids of the records in the spool, oldest file first.
  [[nodiscard]] std::vector<std::string> job_ids() const;
  /// A file that is not a record is renamed `<name>.corrupt` (kept for an operator, never
  /// replayed again). Never blocks on a FIFO nor follows a symlink planted in the directory.
  tl::expected<SpooledRecord, SpoolReadError> read(const std::string& job_id) const;
  void remove(const std::string& job_id);
  [[nodiscard]] bool contains(const std::string& job_id) const;
  [[nodiscard]] const std::filesystem::path& directory() const { return directory_; }

 private:
  explicit Spool(std::filesystem::path directory) : directory_(std::move(directory)) {}
  [[nodiscard]] std::filesystem::path file_of(const std::string& job_id) const;
  std::filesystem::path directory_;
};

}  // namespace mgit::webhooks
