#include "wire.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace mgit::isolation {
namespace {

constexpr std::size_t kHeaderBytes = 5;  // length + type

void put_u32(std::string& out, std::size_t offset, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out[offset + i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

std::uint64_t get_le(std::string_view bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    value |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  }
  return value;
}

bool known_type(std::uint8_t type) {
  return type >= static_cast<std::uint8_t>(MessageType::kSetup) &&
         type <= static_cast<std::uint8_t>(MessageType::kDone);
}

}  // namespace

WireWriter::WireWriter(MessageType type) : frame_(kHeaderBytes, '\0') {
  frame_[4] = static_cast<char>(type);
}

void WireWriter::u64(std::uint64_t value) {
  for (int i = 0; i < 8; ++i) frame_.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

void WireWriter::str(std::string_view value) {
  u64(value.size());
  frame_.append(value);
}

std::string WireWriter::finish() && {
  put_u32(frame_, 0, static_cast<std::uint32_t>(frame_.size() - 4));
  return std::move(frame_);
}

std::uint64_t WireReader::u64() {
  if (failed_ || rest_.size() < 8) {
    failed_ = true;
    return 0;
  }
  const auto value = get_le(rest_.substr(0, 8));
  rest_.remove_prefix(8);
  return value;
}

std::string WireReader::str() {
  const auto size = u64();
  if (failed_ || size > rest_.size()) {
    failed_ = true;
    return {};
  }
  std::string value(rest_.substr(0, size));
  rest_.remove_prefix(size);
  return value;
}

std::size_t WireReader::count(std::size_t min_item_bytes) {
  const auto items = u64();
  if (failed_ || (min_item_bytes > 0 && items > rest_.size() / min_item_bytes)) {
    failed_ = true;
    return 0;
  }
  return static_cast<std::size_t>(items);
}

std::optional<Frame> FrameBuffer::next() {
  if (corrupt_ || buffer_.size() < kHeaderBytes) return std::nullopt;
  const auto length = get_le(std::string_view(buffer_).substr(0, 4));
  const auto type = static_cast<std::uint8_t>(buffer_[4]);
  if (length < 1 || length > kMaxFrameBytes || !known_type(type)) {
    corrupt_ = true;
    return std::nullopt;
  }
  if (buffer_.size() < 4 + length) return std::nullopt;
  Frame frame{static_cast<MessageType>(type), buffer_.substr(kHeaderBytes, length - 1)};
  buffer_.erase(0, 4 + length);
  return frame;
}

bool write_frame(int fd, std::string_view frame) {
  while (!frame.empty()) {
    const ssize_t written = ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    frame.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

std::optional<Frame> read_frame(int fd, FrameBuffer& buffer) {
  char chunk[65536];
  while (true) {
    if (auto frame = buffer.next()) return frame;
    if (buffer.corrupt()) return std::nullopt;
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return std::nullopt;
    buffer.append(chunk, static_cast<std::size_t>(got));
  }
}

}  // namespace mgit::isolation
