#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "mgit/transport/types.hpp"

namespace mgit::daemon {

/// What a reduced DLQ record keeps of the original key and headers, at most, in bytes (key
/// plus header names and values). Small enough that the reduced record fits any sane
/// `max.message.bytes`, large enough for the usual correlation and trace headers.
inline constexpr std::size_t kReducedKeepBytes = 4096;

/// The untouched intake record (key, bytes, headers) plus the `mgit-error-*` and
/// `mgit-source-*` headers. Pure; any thread.
transport::OutgoingRecord dead_letter_record(const std::string& topic,
                                             const transport::ConsumedRecord& record,
                                             const std::string& code, const std::string& message);

/// The stand-in for a DLQ copy the broker refused because of its size: no value; the
/// original key and each original header, in order, while they fit `keep_bytes` (what does
/// not fit is replaced by `mgit-original-key-sha256` / `mgit-original-headers-sha256`); the
/// same `mgit-error-*` and `mgit-source-*` headers as the full copy; `mgit-original-size`
/// and `mgit-original-sha256` describing the value. Pure; any thread.
transport::OutgoingRecord reduced_dead_letter_record(const std::string& topic,
                                                     const transport::ConsumedRecord& record,
                                                     const std::string& code,
                                                     const std::string& message,
                                                     std::size_t keep_bytes = kReducedKeepBytes);

/// Lower-case hex SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);

/// The SHA-256 (hex) that `mgit-original-headers-sha256` carries: each header in order as a
/// 4-byte big-endian name length, the name, a 4-byte big-endian value length, the value.
std::string headers_sha256_hex(const transport::Headers& headers);

}  // namespace mgit::daemon
