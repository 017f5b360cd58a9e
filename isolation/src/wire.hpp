#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mgit::isolation {

/// What one frame between the supervisor and a worker carries.
enum class MessageType : std::uint8_t {
  kSetup = 1,     ///< supervisor → worker, once: workspace and limits
  kReady = 2,     ///< worker → supervisor, once: the sandbox it applied
  kRun = 3,       ///< supervisor → worker: one job
  kProgress = 4,  ///< worker → supervisor: counters while the job runs
  kDone = 5,      ///< worker → supervisor: the job's outcome
};

/// A frame is a 4-byte little-endian length (of what follows), a type byte and the payload.
/// A worker parses hostile packs, so the supervisor treats everything it sends as untrusted:
/// lengths are bounded and every read is checked.
constexpr std::size_t kMaxFrameBytes = std::size_t{64} << 20;

/// Builds one frame: fields are appended in order; `finish` fills in the length.
class WireWriter {
 public:
  explicit WireWriter(MessageType type);
  void u64(std::uint64_t value);
  void i64(std::int64_t value) { u64(static_cast<std::uint64_t>(value)); }
  void boolean(bool value) { u64(value ? 1 : 0); }
  void str(std::string_view value);
  [[nodiscard]] std::string finish() &&;

 private:
  std::string frame_;
};

/// Reads the fields of one payload in the order they were written. A read past the end
/// yields zero values and marks the reader failed; callers check `ok()` once at the end.
class WireReader {
 public:
  explicit WireReader(std::string_view payload) : rest_(payload) {}
  std::uint64_t u64();
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  bool boolean() { return u64() != 0; }
  std::string str();
  /// Reads a count of following items, failing when it exceeds what the payload can hold.
  std::size_t count(std::size_t min_item_bytes);
  [[nodiscard]] bool ok() const { return !failed_ && rest_.empty(); }

 private:
  std::string_view rest_;
  bool failed_ = false;
};

struct Frame {
  MessageType type = MessageType::kSetup;
  std::string payload;
};

/// Accumulates bytes read from a stream socket and cuts them into frames.
class FrameBuffer {
 public:
  void append(const char* data, std::size_t size) { buffer_.append(data, size); }
  /// The next complete frame; nothing when more bytes are needed. Sets `corrupt()` (and
  /// returns nothing) for a length over `kMaxFrameBytes` or an unknown type.
  std::optional<Frame> next();
  [[nodiscard]] bool corrupt() const { return corrupt_; }
  [[nodiscard]] bool empty() const { return buffer_.empty(); }

 private:
  std::string buffer_;
  bool corrupt_ = false;
};

/// Writes a whole frame to a blocking descriptor, retrying on EINTR and short writes.
/// False when the peer is gone (EPIPE: SIGPIPE must be ignored or MSG_NOSIGNAL used).
bool write_frame(int fd, std::string_view frame);

/// Blocks until one whole frame has arrived; nothing on EOF, error or a corrupt frame.
std::optional<Frame> read_frame(int fd, FrameBuffer& buffer);

}  // namespace mgit::isolation
