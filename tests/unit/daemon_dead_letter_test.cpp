// The DLQ records built from a consumed record: the untouched copy, and the reduced record that
// replaces it when the broker refuses the copy for its size. Expected digests were computed
// independently (Python's hashlib over the documented header encoding).
#include <gtest/gtest.h>

#include <string>

#include "dead_letter.hpp"

namespace mgit::daemon {
namespace {

const std::string kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

transport::ConsumedRecord consumed(std::optional<std::string> key, std::string payload,
                                   transport::Headers headers) {
  transport::ConsumedRecord record;
  record.source = transport::TopicPartition{"mgit.sync.jobs", 3};
  record.offset = 1207;
  record.key = std::move(key);
  record.payload = std::move(payload);
  record.headers = std::move(headers);
  return record;
}

std::string header(const transport::OutgoingRecord& record, std::string_view name) {
  return transport::find_header(record.headers, name).value_or("<none>");
}

std::size_t count(const transport::OutgoingRecord& record, std::string_view name) {
  std::size_t n = 0;
  for (const auto& [key, value] : record.headers) n += key == name ? 1 : 0;
  return n;
}

void expect_error_headers(const transport::OutgoingRecord& record) {
  EXPECT_EQ(header(record, "mgit-error-code"), "oversize");
  EXPECT_EQ(header(record, "mgit-error-message"), "message is too large");
  EXPECT_EQ(header(record, "mgit-source-topic"), "mgit.sync.jobs");
  EXPECT_EQ(header(record, "mgit-source-partition"), "3");
  EXPECT_EQ(header(record, "mgit-source-offset"), "1207");
}

TEST(DeadLetterTest, Sha256IsLowerCaseHex) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // 4-byte big-endian lengths before each name and value.
  EXPECT_EQ(headers_sha256_hex({{"a", "b"}}),
            "16275ef0f5d0eb9dd9e0a53277549fda5c886358a6872df23c797b13e11455bc");
}

TEST(DeadLetterTest, TheFullCopyKeepsKeyValueAndHeadersAndAddsTheErrorHeaders) {
  const auto record =
      consumed("https://git.example.com/org/app", "not json", {{"correlation-id", "req-1"}});
  const auto copy = dead_letter_record("mgit.sync.dlq", record, "oversize", "message is too large");
  EXPECT_EQ(copy.topic, "mgit.sync.dlq");
  EXPECT_EQ(copy.key, record.key);
  EXPECT_EQ(copy.payload, "not json");
  ASSERT_FALSE(copy.headers.empty());
  EXPECT_EQ(copy.headers.front(), (std::pair<std::string, std::string>{"correlation-id", "req-1"}));
  expect_error_headers(copy);
  EXPECT_EQ(count(copy, "mgit-original-size"), 0u);
}

TEST(DeadLetterTest, AReducedRecordHasNoValueButDescribesIt) {
  const auto record = consumed("https://git.example.com/org/app", std::string(100000, 'y'),
                               {{"correlation-id", "req-1"}, {"traceparent", kTraceparent}});
  const auto reduced =
      reduced_dead_letter_record("mgit.sync.dlq", record, "oversize", "message is too large");
  EXPECT_EQ(reduced.topic, "mgit.sync.dlq");
  EXPECT_TRUE(reduced.payload.empty());
  EXPECT_EQ(reduced.key, record.key) << "a small key is kept";
  EXPECT_EQ(header(reduced, "correlation-id"), "req-1");
  EXPECT_EQ(header(reduced, "traceparent"), kTraceparent);
  expect_error_headers(reduced);
  EXPECT_EQ(header(reduced, "mgit-original-size"), "100000");
  EXPECT_EQ(header(reduced, "mgit-original-sha256"),
            "24f3b78cabc6269dc973739ded3f476534d27689bd66157953563d328ce339e8");
  EXPECT_EQ(count(reduced, "mgit-original-key-sha256"), 0u);
  EXPECT_EQ(count(reduced, "mgit-original-headers-sha256"), 0u) << "every header was kept";
}

TEST(DeadLetterTest, AHugeHeaderIsReplacedByTheDigestOfAllHeadersAndTheSmallOnesStay) {
  const transport::Headers headers = {
      {"correlation-id", "req-1"}, {"blob", std::string(5000, 'x')}, {"traceparent", kTraceparent}};
  const auto record = consumed("https://git.example.com/org/app", "abc", headers);
  const auto reduced =
      reduced_dead_letter_record("mgit.sync.dlq", record, "oversize", "message is too large");
  EXPECT_EQ(reduced.key, record.key);
  EXPECT_EQ(count(reduced, "blob"), 0u);
  // The small ones survive, in their order, ahead of mgitd's own headers.
  ASSERT_GE(reduced.headers.size(), 2u);
  EXPECT_EQ(reduced.headers[0].first, "correlation-id");
  EXPECT_EQ(reduced.headers[1].first, "traceparent");
  EXPECT_EQ(header(reduced, "mgit-original-headers-sha256"),
            "33e637e1f7579020c194173bd10fb30ebb7ecca00d82a186f1031bf55efb6516");
  EXPECT_EQ(header(reduced, "mgit-original-size"), "3");
  EXPECT_EQ(header(reduced, "mgit-original-sha256"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  expect_error_headers(reduced);
}

TEST(DeadLetterTest, AHugeKeyIsReplacedByItsDigestAndTheRecordBecomesKeyless) {
  const auto record = consumed(std::string(5000, 'k'), "abc", {{"correlation-id", "req-1"}});
  const auto reduced =
      reduced_dead_letter_record("mgit.sync.dlq", record, "oversize", "message is too large");
  EXPECT_FALSE(reduced.key.has_value());
  EXPECT_EQ(header(reduced, "mgit-original-key-sha256"),
            "622b8b1d5094d382aa519349554c0ea84a43c90b4aad7ddfae8f338690c7f7ea");
  EXPECT_EQ(header(reduced, "correlation-id"), "req-1") << "headers still fit without the key";
  EXPECT_EQ(count(reduced, "mgit-original-headers-sha256"), 0u);
}

TEST(DeadLetterTest, AKeylessRecordStaysKeylessWithoutAKeyDigest) {
  const auto record = consumed(std::nullopt, "abc", {});
  const auto reduced =
      reduced_dead_letter_record("mgit.sync.dlq", record, "oversize", "message is too large");
  EXPECT_FALSE(reduced.key.has_value());
  EXPECT_EQ(count(reduced, "mgit-original-key-sha256"), 0u);
  EXPECT_EQ(count(reduced, "mgit-original-headers-sha256"), 0u);
}

TEST(DeadLetterTest, KeyAndHeadersShareTheBudgetUpToItsLastByte) {
  // Key 10 bytes + header name 4 + value 78 + 8 bytes of wire overhead = exactly 100.
  const auto record = consumed(std::string(10, 'k'), "abc", {{"name", std::string(78, 'v')}});
  const auto fits = reduced_dead_letter_record("t", record, "oversize", "m", 100);
  EXPECT_EQ(fits.key, record.key);
  EXPECT_EQ(count(fits, "name"), 1u);
  EXPECT_EQ(count(fits, "mgit-original-headers-sha256"), 0u);

  const auto one_short = reduced_dead_letter_record("t", record, "oversize", "m", 99);
  EXPECT_EQ(one_short.key, record.key) << "the key comes first";
  EXPECT_EQ(count(one_short, "name"), 0u);
  EXPECT_EQ(count(one_short, "mgit-original-headers-sha256"), 1u);
}

TEST(DeadLetterTest, AFloodOfEmptyHeadersDoesNotFillTheReducedRecord) {
  // 300,000 empty headers: nearly free in bytes, but each costs its wire overhead.
  std::vector<std::pair<std::string, std::string>> flood(300000, {"", ""});
  const auto record = consumed(std::nullopt, "abc", flood);
  const auto reduced = reduced_dead_letter_record("t", record, "oversize", "m", 4096);
  EXPECT_LE(reduced.headers.size(), 4096u / 8 + 16) << "kept headers are bounded by the budget";
  EXPECT_EQ(count(reduced, "mgit-original-headers-sha256"), 1u);
}

TEST(DeadLetterTest, ALongErrorMessageIsCutSoTheReducedRecordStaysSmall) {
  const auto record = consumed(std::nullopt, "abc", {});
  const auto reduced =
      reduced_dead_letter_record("t", record, "result_unpublishable", std::string(5000, 'e'));
  EXPECT_EQ(header(reduced, "mgit-error-message").size(), 1024u);
}

}  // namespace
}  // namespace mgit::daemon
