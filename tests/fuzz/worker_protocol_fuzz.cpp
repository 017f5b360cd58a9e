// What a git worker sends its supervisor is untrusted: the worker parses packs from any
// remote, so a compromised one may send anything. The supervisor's side of the protocol
// must never crash, hang or allocate by a count it was told.
#include <cstddef>
#include <cstdint>

#include "messages.hpp"
#include "wire.hpp"

namespace {

void decode_every_frame(mgit::isolation::FrameBuffer& buffer) {
  using namespace mgit::isolation;
  while (auto frame = buffer.next()) {
    (void)decode_progress(frame->payload);
    (void)decode_done(frame->payload);
    (void)decode_ready(frame->payload);
    // The worker's side decodes these; a bug there would hide behind the supervisor's checks.
    (void)decode_run(frame->payload);
    (void)decode_setup(frame->payload);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mgit::isolation::FrameBuffer buffer;
  // Fed in two pieces, as a stream socket may deliver it.
  const std::size_t half = size / 2;
  buffer.append(reinterpret_cast<const char*>(data), half);
  decode_every_frame(buffer);
  buffer.append(reinterpret_cast<const char*>(data) + half, size - half);
  decode_every_frame(buffer);
  return 0;
}
