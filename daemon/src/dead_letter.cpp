#include "dead_letter.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <optional>
#include <utility>

#include "mgit/basics/ascii.hpp"

namespace mgit::daemon {

namespace {

// The error message is ours (parse errors, librdkafka's error strings) and short, but the
// reduced record must stay small whatever it says.
constexpr std::size_t kReducedMessageBytes = 1024;
constexpr std::size_t kHeaderOverheadBytes = 8;

void append_length(std::string& out, std::size_t length) {
  const auto n = static_cast<std::uint32_t>(length);
  out += static_cast<char>(n >> 24);
  out += static_cast<char>(n >> 16);
  out += static_cast<char>(n >> 8);
  out += static_cast<char>(n);
}

void add_error_headers(transport::Headers& headers, const transport::ConsumedRecord& record,
                       const std::string& code, std::string message) {
  headers.emplace_back("mgit-error-code", code);
  headers.emplace_back("mgit-error-message", std::move(message));
  headers.emplace_back("mgit-source-topic", record.source.topic);
  headers.emplace_back("mgit-source-partition", std::to_string(record.source.partition));
  headers.emplace_back("mgit-source-offset", std::to_string(record.offset));
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // Cannot fail short of running out of memory; the hex of whatever was written then.
  EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return basics::lower_hex(digest.data(), length);
}

std::string headers_sha256_hex(const transport::Headers& headers) {
  // One buffer rather than a streaming digest: this runs only for a refused DLQ copy.
  std::string encoded;
  for (const auto& [name, value] : headers) {
    append_length(encoded, name.size());
    encoded += name;
    append_length(encoded, value.size());
    encoded += value;
  }
  return sha256_hex(encoded);
}

transport::OutgoingRecord dead_letter_record(const std::string& topic,
                                             const transport::ConsumedRecord& record,
                                             const std::string& code, const std::string& message) {
  auto headers = record.headers;
  add_error_headers(headers, record, code, message);
  // The original key and bytes, untouched.
  return transport::OutgoingRecord{topic, record.key, record.payload, std::move(headers)};
}

transport::OutgoingRecord reduced_dead_letter_record(const std::string& topic,
                                                     const transport::ConsumedRecord& record,
                                                     const std::string& code,
                                                     const std::string& message,
                                                     std::size_t keep_bytes) {
  transport::OutgoingRecord reduced{topic, std::nullopt, std::string(), {}};
  std::size_t left = keep_bytes;
  // The key first: it names the repository and places the record in the DLQ's partitions.
  if (record.key && record.key->size() <= left) {
    reduced.key = record.key;
    left -= record.key->size();
  }
  // Then each header that still fits, so a huge one does not take the small correlation and
  // trace headers with it; their order is kept.
  bool headers_complete = true;
  // Each header is charged its wire overhead too (two varint lengths and attributes, under
  // 8 bytes): a flood of empty headers must not fill the reduced record for free.
  for (const auto& header : record.headers) {
    const auto size = header.first.size() + header.second.size() + kHeaderOverheadBytes;
    if (size <= left) {
      reduced.headers.push_back(header);
      left -= size;
    } else {
      headers_complete = false;
    }
  }
  add_error_headers(reduced.headers, record, code, message.substr(0, kReducedMessageBytes));
  if (record.key && !reduced.key) {
    reduced.headers.emplace_back("mgit-original-key-sha256", sha256_hex(*record.key));
  }
  if (!headers_complete) {
    reduced.headers.emplace_back("mgit-original-headers-sha256",
                                 headers_sha256_hex(record.headers));
  }
  reduced.headers.emplace_back("mgit-original-size", std::to_string(record.payload.size()));
  reduced.headers.emplace_back("mgit-original-sha256", sha256_hex(record.payload));
  return reduced;
}

}  // namespace mgit::daemon
