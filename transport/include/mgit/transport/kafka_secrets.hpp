#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mgit::transport {

// librdkafka settings that hold secrets, shared by mgitd and mgitctl: they come from a secrets
// file or `MGITD_KAFKA_SECRET_<KEY>` variables, never from flags.

/// Whether a librdkafka key holds a secret (password, secret, key.pem, sasl.oauthbearer.config,
/// ...): refused through `kafka_property`, accepted from the secrets file and the environment.
bool is_secret_kafka_key(std::string_view key);

/// `sasl.password` -> `MGITD_KAFKA_SECRET_SASL_PASSWORD`.
std::string kafka_secret_env_name(std::string_view key);

/// The librdkafka keys looked up as `MGITD_KAFKA_SECRET_<KEY>`.
const std::vector<std::string>& env_secret_kafka_keys();

/// Reads a `kafka_secrets_file` (`key=value` lines). Throws std::runtime_error (startup only);
/// a message never echoes a line of the file.
std::vector<std::pair<std::string, std::string>> read_kafka_secrets(const std::string& path);

}  // namespace mgit::transport
