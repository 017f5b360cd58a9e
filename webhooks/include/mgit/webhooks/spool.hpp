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

/// Webhook jobs the broker did not acknowledge in time, one file each in a directory on the
/// workspace volume, so that a 202 is never given for a job only memory holds. A file is
/// written to a temporary name, fsync'd, renamed and the directory fsync'd: after `write`
/// returns, a crash or a power cut keeps the record. Not thread-safe: one owner.
class Spool {
 public:
  /// Creates the directory (0700) when missing.
  static tl::expected<Spool, std::string> open(std::filesystem::path directory);

  tl::expected<void, std::string> write(const SpooledRecord& record);
  /// Job ids of the records in the spool, oldest file first.
  [[nodiscard]] std::vector<std::string> job_ids() const;
  /// A record that cannot be read back is renamed `<name>.corrupt` (kept for an operator,
  /// never replayed again) and reported as the error.
  tl::expected<SpooledRecord, std::string> read(const std::string& job_id) const;
  void remove(const std::string& job_id);
  [[nodiscard]] bool contains(const std::string& job_id) const;
  [[nodiscard]] const std::filesystem::path& directory() const { return directory_; }

 private:
  explicit Spool(std::filesystem::path directory) : directory_(std::move(directory)) {}
  [[nodiscard]] std::filesystem::path file_of(const std::string& job_id) const;
  std::filesystem::path directory_;
};

}  // namespace mgit::webhooks
