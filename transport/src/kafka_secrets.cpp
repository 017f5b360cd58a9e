#include "mgit/transport/kafka_secrets.hpp"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

#include "mgit/basics/ascii.hpp"

namespace mgit::transport {
namespace {

constexpr std::string_view kKafkaSecretEnvPrefix = "MGITD_KAFKA_SECRET_";

}  // namespace

bool is_secret_kafka_key(std::string_view key) {
  const std::string k = basics::to_lower(basics::trim(key));
  return k.find("password") != std::string::npos || k.find("secret") != std::string::npos ||
         k.find("key.pem") != std::string::npos || k == "ssl_key" || k == "ssl.key" ||
         k == "sasl.oauthbearer.config" || k == "sasl.jaas.config";
}

std::string kafka_secret_env_name(std::string_view key) {
  std::string out(kKafkaSecretEnvPrefix);
  for (char c : key) {
    out += c == '.' ? '_' : basics::ascii_upper(c);
  }
  return out;
}

const std::vector<std::string>& env_secret_kafka_keys() {
  static const std::vector<std::string> keys{
      "sasl.username",
      "sasl.password",
      "ssl.key.password",
      "ssl.keystore.password",
      "ssl.key.pem",
      "ssl.certificate.pem",
      "sasl.oauthbearer.client.id",
      "sasl.oauthbearer.client.secret",
      "sasl.oauthbearer.config",
  };
  return keys;
}

std::vector<std::pair<std::string, std::string>> read_kafka_secrets(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("kafka_secrets_file {}: cannot be read", path));
  std::vector<std::pair<std::string, std::string>> out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string_view trimmed = basics::trim(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos || basics::trim(std::string_view(line).substr(0, eq)).empty()) {
      // Never echo the line: it may be a secret.
      throw std::runtime_error(
          fmt::format("kafka_secrets_file {} line {}: expected key=value", path, number));
    }
    // The value is kept verbatim after '=' (a password may end in spaces); only the key and the
    // spaces right after '=' are trimmed.
    std::string value = line.substr(eq + 1);
    value.erase(0, value.find_first_not_of(" \t") == std::string::npos
                       ? value.size()
                       : value.find_first_not_of(" \t"));
    out.emplace_back(std::string(basics::trim(std::string_view(line).substr(0, eq))),
                     std::move(value));
  }
  return out;
}

}  // namespace mgit::transport
