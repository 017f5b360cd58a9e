#include <fmt/format.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <variant>

#include "commands.hpp"
#include "mgit/jobs/parse.hpp"

namespace mgit::mgitctl {

std::vector<InputDocument> read_documents(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      throw CtlError(fmt::format("{}: cannot be read: {} (check the path; '-' reads stdin)", path,
                                 std::strerror(errno)));
    }
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  // A pretty-printed single job spans lines; JSON lines never parse as one document.
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    rapidjson::Document whole;
    whole.Parse(text.data(), text.size());
    if (!whole.HasParseError() && whole.IsObject()) {
      const int line =
          1 + static_cast<int>(std::count(text.begin(),
                                          text.begin() + static_cast<std::ptrdiff_t>(first), '\n'));
      const auto last = text.find_last_not_of(" \t\r\n");
      return {InputDocument{line, text.substr(first, last - first + 1)}};
    }
  }

  std::vector<InputDocument> documents;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    documents.push_back(InputDocument{number, line});
  }
  return documents;
}

int run_validate(const ValidateOptions& options) {
  const auto documents = read_documents(options.file);
  const jobs::ParseLimits limits{options.max_message_bytes};
  int invalid = 0;
  for (const auto& document : documents) {
    const auto outcome = jobs::parse_job(document.text, "", limits);
    if (const auto* job = std::get_if<jobs::Job>(&outcome)) {
      fmt::print("ok {}\n", job->job_id);
    } else if (const auto* rejected = std::get_if<jobs::Rejected>(&outcome)) {
      ++invalid;
      fmt::print("line {}: rejected {}: {}\n", document.line, jobs::to_string(rejected->error.code),
                 rejected->error.message);
    } else {
      const auto& unparseable = std::get<jobs::Unparseable>(outcome);
      ++invalid;
      fmt::print("line {}: unparseable {}: {}\n", document.line, unparseable.reason,
                 unparseable.message);
    }
  }
  std::fflush(stdout);
  if (documents.empty()) {
    fmt::print(stderr, "{}: no jobs found\n", options.file);
    return kExitFailed;
  }
  return invalid == 0 ? kExitOk : kExitFailed;
}

}  // namespace mgit::mgitctl
