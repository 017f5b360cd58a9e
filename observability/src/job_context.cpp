#include "mgit/observability/job_context.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace mgit::observability {
namespace {

bool is_lower_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool all_zero(std::string_view text) {
  return text.find_first_not_of('0') == std::string_view::npos;
}

std::string random_hex(std::size_t bytes) {
  std::array<unsigned char, 16> buffer{};
  if (RAND_bytes(buffer.data(), static_cast<int>(bytes)) != 1) {
    // The CSPRNG failing is not something a job can recover from.
    throw std::runtime_error("RAND_bytes failed");
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (std::size_t i = 0; i < bytes; ++i) {
    out.push_back(kDigits[buffer[i] >> 4]);
    out.push_back(kDigits[buffer[i] & 0x0f]);
  }
  return out;
}

}  // namespace

std::optional<TraceParent> parse_traceparent(std::string_view header) {
  // version "-" trace-id "-" parent-id "-" flags; later versions may append "-..." fields.
  if (header.size() < 55) return std::nullopt;
  const auto version = header.substr(0, 2);
  if (!is_lower_hex(version) || version == "ff") return std::nullopt;
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  if (version == "00" && header.size() != 55) return std::nullopt;
  if (header.size() > 55 && header[55] != '-') return std::nullopt;
  const auto trace_id = header.substr(3, 32);
  const auto span_id = header.substr(36, 16);
  const auto flags = header.substr(53, 2);
  if (!is_lower_hex(trace_id) || !is_lower_hex(span_id) || !is_lower_hex(flags)) {
    return std::nullopt;
  }
  if (all_zero(trace_id) || all_zero(span_id)) return std::nullopt;
  const int flag_bits = std::stoi(std::string(flags), nullptr, 16);
  return TraceParent{std::string(trace_id), std::string(span_id), (flag_bits & 1) != 0};
}

std::string new_trace_id() { return random_hex(16); }
std::string new_span_id() { return random_hex(8); }

JobContext JobContext::start(std::string job_id, std::string correlation_id,
                             const std::optional<TraceParent>& incoming, std::string tracestate) {
  JobContext ctx;
  ctx.job_id = std::move(job_id);
  ctx.correlation_id = std::move(correlation_id);
  if (incoming) {
    ctx.trace_id = incoming->trace_id;
    ctx.parent_span_id = incoming->span_id;
    ctx.sampled = incoming->sampled;
    // W3C Trace Context: a vendor may drop a tracestate longer than 512 characters, and one
    // of printable ASCII only is all a valid one holds. Anything else is not carried onto
    // every span and result header.
    const bool valid =
        tracestate.size() <= 512 && std::all_of(tracestate.begin(), tracestate.end(),
                                                [](char c) { return c >= 0x20 && c <= 0x7E; });
    if (valid) ctx.tracestate = std::move(tracestate);
  } else {
    ctx.trace_id = new_trace_id();
  }
  ctx.span_id = new_span_id();
  return ctx;
}

std::string JobContext::traceparent() const {
  return "00-" + trace_id + "-" + span_id + (sampled ? "-01" : "-00");
}

}  // namespace mgit::observability
