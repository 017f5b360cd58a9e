// The hostile-job suite (issue 12): jobs a producer on the jobs topic may write to make mgitd
// reach an address the operator did not allow, run an option through ssh, write outside its
// target or leak a secret. Each goes through a real mgitd, a real broker and the real https
// git server, and must be answered `rejected` with its code and message, with no connection
// made: a listener on 127.0.0.2 (denied by default; the test servers on 127.0.0.1 are what
// `network_allow` opens) and on [::1] accept nothing, and the git server's access log gets no
// line. The daemon survives the table and a good job after it succeeds.
//
// Rows name the part of issue 12 that rejects them; the test prints how many each part has.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "support/counting_listener.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/test_git_server.hpp"

namespace mgit::test_support {
namespace {

using namespace std::chrono_literals;

/// What rejects a row.
enum class Needs {
  kParser,           // the job parser: schemes, userinfo, hosts, targets
  kNetworkPolicy,    // security/ network policy: addresses, plain http, redirects
  kUrlGrammar,       // jobs/ URL grammar: query/fragment, '-' options, metacharacters
  kStrictJson,       // jobs/ parser: duplicate keys
  kCredentialHosts,  // security/ credentials: hosts= mandatory and checked
};

const char* part_name(Needs needs) {
  switch (needs) {
    case Needs::kParser:
      return "parser";
    case Needs::kNetworkPolicy:
      return "netpolicy";
    case Needs::kUrlGrammar:
      return "grammar";
    case Needs::kStrictJson:
      return "strict-json";
    case Needs::kCredentialHosts:
      return "credential-hosts";
  }
  return "?";
}

/// One hostile job. `url` may hold {trap} (the 127.0.0.2 listener's port), {trap6} (the
/// [::1] listener's), {closed} (a closed port on 127.0.0.2), {git} (the https git server's
/// port), {githttp} (its plain http port), {broker} (the Kafka broker's port). `payload`, when set,
/// replaces the generated job document ({id} is the job id, {url} the substituted URL).
struct Row {
  std::string name;
  Needs needs;
  std::string url;
  std::string code;
  std::string message;  ///< a substring of error.message
  std::string credential{};
  std::string payload{};
};

constexpr const char* kDenied = "policy_denied";
constexpr const char* kInvalid = "invalid_job";

// Secrets planted in hostile URLs: none may come back in any output.
constexpr const char* kUrlToken = "glpat-HOSTILEsecret4711";
constexpr const char* kUrlPassword = "hunter2-HOSTILEpass";
constexpr const char* kNoHostsToken = "ghp-NOHOSTSsecret0815";

Row net(std::string name, std::string host, std::string message, std::string scheme = "https://") {
  return {std::move(name), Needs::kNetworkPolicy, scheme + host + "/x.git", kDenied,
          std::move(message)};
}

/// Every loopback spelling of 127.0.0.2 (where the listener waits) and the other denied
/// ranges, with the rule a denial must name.
std::vector<Row> address_rows() {
  std::vector<Row> rows;
  for (const char* host :
       {"127.0.0.2:{trap}", "2130706434:{trap}", "0x7f000002:{trap}", "0x7f.2:{trap}",
        "0177.2:{trap}", "127.2:{trap}", "0x7f.0.0.2:{trap}", "0177.0.0.02:{trap}",
        "127.0.2:{trap}", "017700000002:{trap}", "127.000.000.002:{trap}",
        "[::ffff:127.0.0.2]:{trap}", "[::ffff:7f00:2]:{trap}", "[0:0:0:0:0:ffff:127.0.0.2]:{trap}",
        "[::127.0.0.2]:{trap}", "[::1]:{trap6}", "[0:0:0:0:0:0:0:1]:{trap6}",
        "127.255.255.254:{trap}"}) {
    rows.push_back(net(std::string("loopback ") + host, host, "loopback"));
  }
  rows.push_back(net("ssh loopback", "git@127.0.0.2:{trap}", "loopback", "ssh://"));
  rows.push_back(net("ssh loopback ipv6", "git@[::1]:{trap6}", "loopback", "ssh://"));
  for (const char* host : {"0:{trap}", "0.0.0.0:{trap}", "[::]:{trap6}", "0x0:{trap}"}) {
    rows.push_back(net(std::string("unspecified ") + host, host, "unspecified"));
  }
  for (const char* host : {"10.0.0.1", "10.255.255.254", "012.1", "0xa.0.0.1", "167772161",
                           "172.16.0.1", "172.31.255.254", "192.168.0.1", "0xc0a80101",
                           "[::ffff:10.0.0.1]", "[::ffff:192.168.0.1]"}) {
    rows.push_back(net(std::string("private ") + host, host, "private"));
  }
  for (const char* host : {"100.64.0.1", "100.127.255.254"}) {
    rows.push_back(net(std::string("cgnat ") + host, host, "shared address space"));
  }
  for (const char* host : {"169.254.0.1", "[fe80::1]"}) {
    rows.push_back(net(std::string("link-local ") + host, host, "link-local"));
  }
  // Metadata addresses are denied even where their range is opened, so they name themselves.
  for (const char* host : {"169.254.169.254", "2852039166", "0xa9fea9fe",
                           "[::ffff:169.254.169.254]", "100.100.100.200", "[fd00:ec2::254]"}) {
    rows.push_back(net(std::string("metadata ") + host, host, "metadata"));
  }
  for (const char* host : {"metadata.google.internal", "METADATA.GOOGLE.INTERNAL"}) {
    rows.push_back(net(std::string("metadata ") + host, host, "metadata"));
  }
  // A trailing dot names the same host; the URL grammar refuses it before any lookup (one
  // key per host, docs/job-schema.md).
  rows.push_back({"metadata with a trailing dot", Needs::kUrlGrammar,
                  "https://metadata.google.internal./x.git", kInvalid,
                  "repository.url: host name must not end with '.'"});
  for (const char* host : {"[fd00::1]", "[fc00::1]"}) {
    rows.push_back(net(std::string("unique-local ") + host, host, "unique-local"));
  }
  for (const char* host : {"224.0.0.1", "239.255.255.250", "[ff02::1]"}) {
    rows.push_back(net(std::string("multicast ") + host, host, "multicast"));
  }
  // Plain http is refused before any name is resolved (.invalid never resolves anyway).
  rows.push_back(net("plain http", "git.mgitd.invalid", "allow_plain_http", "http://"));
  rows.push_back(net("plain http loopback", "127.0.0.2:{trap}", "http", "http://"));
  // A credential never goes over plain http, whatever the address.
  // A credential never goes over plain http, even to its own host (hosts=127.0.0.1, which
  // network_allow opens): the worker's admission refuses it before the credential is read.
  Row plain_with_credential =
      net("plain http credential", "127.0.0.1:{githttp}",
          "credential 'gitserver' is never sent over plain http", "http://");
  plain_with_credential.credential = "gitserver";
  rows.push_back(plain_with_credential);
  // To another host the supervisor refuses it first, on hosts=, before any worker sees the
  // job (isolation/src/worker_pool.cpp), so the answer names the binding, not plain http.
  Row foreign_with_credential =
      net("plain http credential for another host", "127.0.0.2:{trap}",
          "credential 'gitserver' is not allowed for host '127.0.0.2:", "http://");
  foreign_with_credential.credential = "gitserver";
  rows.push_back(foreign_with_credential);
  // A credential file without hosts= is never used, not even for the allowed test server:
  // the answer says which line to add (security::Credential::missing_hosts_message).
  Row without_hosts{"credential without hosts", Needs::kCredentialHosts,
                    "https://127.0.0.1:{git}/x.git", kDenied,
                    "credential \"nohosts\" has no hosts= line; add hosts=127.0.0.1"};
  without_hosts.credential = "nohosts";
  rows.push_back(without_hosts);
  // The port-scanner oracle: an open and a closed port answer alike (compared below).
  rows.push_back(net("oracle open port", "127.0.0.2:{trap}", "loopback"));
  rows.push_back(net("oracle closed port", "127.0.0.2:{closed}", "loopback"));
  return rows;
}

// The URL grammar's answers (jobs/src/repository_key.cpp), each checked in this order: a
// '?' or '#' anywhere, before the URL is split (so a token before one is refused too); then
// per form the user, the host, ssh metacharacters, the path.
constexpr const char* kQueryOrFragment = "must not contain a query or fragment ('?' or '#')";
constexpr const char* kUserOption = "user name must not start with '-'";
constexpr const char* kPathOption = "path must not start with '-'";
constexpr const char* kMetacharacters = "ssh path must not contain shell metacharacters";
constexpr const char* kOneAt = "an scp-like URL has one '@', before the host";
constexpr const char* kNotGitUrl =
    "not a supported git URL; use https, http, ssh or user@host:path";

Row grammar(std::string name, std::string url, std::string message) {
  return {std::move(name), Needs::kUrlGrammar, std::move(url), kInvalid, std::move(message)};
}

Row parser(std::string name, std::string url, std::string code, std::string message) {
  return {std::move(name), Needs::kParser, std::move(url), std::move(code), std::move(message)};
}

std::vector<Row> url_rows() {
  const std::string token = kUrlToken;
  const std::string password = kUrlPassword;
  return {
      grammar("query", "https://git.mgitd.invalid/x.git?ref=main", kQueryOrFragment),
      grammar("empty query", "https://git.mgitd.invalid/x.git?", kQueryOrFragment),
      grammar("fragment", "https://git.mgitd.invalid/x.git#frag", kQueryOrFragment),
      grammar("fragment hides a token", "https://oauth2:" + token + "#x@gitlab.mgitd.invalid/x.git",
              kQueryOrFragment),
      grammar("query hides a token", "https://oauth2:" + token + "?x@gitlab.mgitd.invalid/x.git",
              kQueryOrFragment),
      grammar("ssh user is an option", "ssh://-u@git.mgitd.invalid/r.git", kUserOption),
      grammar("ssh user is ProxyCommand", "ssh://-oProxyCommand=touch%20x@git.mgitd.invalid/r.git",
              kUserOption),
      grammar("ssh path is an option", "ssh://git@git.mgitd.invalid/-oProxyCommand=x", kPathOption),
      // The scp-like path is made absolute before it is checked: "-o..." is "/-o...".
      grammar("scp path is an option", "git@git.mgitd.invalid:-oProxyCommand=x/app.git",
              kPathOption),
      grammar("scp user is an option", "-oProxyCommand=x@git.mgitd.invalid:app.git", kUserOption),
      // No '@': a scheme-less word is not taken for a host named "javascript".
      grammar("javascript", "javascript:alert(1)", kNotGitUrl),
      grammar("at after colon", "user@evil.mgitd.invalid:path@good.mgitd.invalid", kOneAt),
      grammar("scp dollar paren", "git@git.mgitd.invalid:org/$(id).git", kMetacharacters),
      grammar("scp backtick", "git@git.mgitd.invalid:org/`id`.git", kMetacharacters),
      grammar("scp semicolon", "git@git.mgitd.invalid:org/a;id.git", kMetacharacters),
      grammar("scp pipe", "git@git.mgitd.invalid:org/a|id.git", kMetacharacters),
      grammar("scp ampersand", "git@git.mgitd.invalid:org/a&id.git", kMetacharacters),
      grammar("scp redirect", "git@git.mgitd.invalid:org/a>x.git", kMetacharacters),
      grammar("ssh dollar", "ssh://git@git.mgitd.invalid/org/a$(id).git", kMetacharacters),
      grammar("ssh quote", "ssh://git@git.mgitd.invalid/org/a'b.git", kMetacharacters),
      grammar("ssh backslash", "ssh://git@git.mgitd.invalid/org/a\\b.git", kMetacharacters),
      // "ext::" has no "://" and no '@': neither form.
      grammar("ext transport", "ext::sh", kNotGitUrl),
      // Refused by the parser before the grammar work: kept so a regression shows here too.
      parser("ssh host is an option", "ssh://git@-oProxyCommand=x/r.git", kInvalid,
             "invalid host name"),
      parser("scp host is an option", "git@-oProxyCommand=x:r.git", kInvalid, "invalid host name"),
      parser("scp whitespace", "git@git.mgitd.invalid:org/a b.git", kInvalid, "whitespace"),
      parser("scp tab", "git@git.mgitd.invalid:org/a\tb.git", kInvalid, "whitespace"),
      parser("newline", "https://git.mgitd.invalid/x.git\nHost: evil", kInvalid, "whitespace"),
      parser("file scheme", "file:///etc/passwd", kInvalid, "unsupported scheme"),
      parser("git scheme", "git://git.mgitd.invalid/x.git", kInvalid, "unsupported scheme"),
      parser("ftp scheme", "ftp://git.mgitd.invalid/x.git", kInvalid, "unsupported scheme"),
      parser("ext with command", "ext::sh -c touch% /tmp/pwned", kInvalid, "whitespace"),
      parser("local path", "/etc/passwd", kInvalid, "not a supported git URL"),
      parser("relative path", "../other/repo.git", kInvalid, "not a supported git URL"),
      parser("scp dot-dot path", "git@git.mgitd.invalid:../../etc/x.git", kInvalid, "'..'"),
      parser("https dot-dot path", "https://git.mgitd.invalid/a/../../x.git", kInvalid, "'..'"),
      parser("password in url", "https://mgit:" + password + "@127.0.0.2:{trap}/x.git", kDenied,
             "credentials in the URL"),
      parser("token in url", "https://x-access-token:" + token + "@127.0.0.2:{trap}/x.git", kDenied,
             "credentials in the URL"),
      parser("scp password", "git:" + password + "@git.mgitd.invalid:x.git", kDenied,
             "credentials in the URL"),
      parser("ssh password", "ssh://git:" + password + "@127.0.0.2:{trap}/x.git", kDenied,
             "credentials in the URL"),
  };
}

Row target_row(std::string name, std::string target, std::string message) {
  Row row{std::move(name), Needs::kParser, "https://127.0.0.2:{trap}/x.git", kInvalid,
          std::move(message)};
  std::string escaped;
  for (char c : target)
    escaped += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
  row.payload = R"({"schema":"mgit.sync-job/v1","job_id":"{id}","operation":"sync",)"
                R"("repository":{"url":"{url}"},"target":")" +
                escaped + "\"}";
  return row;
}

/// `key` is the path jobs/src/parse.cpp names: `repository.url` for a key inside an object.
Row duplicate_row(std::string name, const std::string& key, std::string payload) {
  Row row{std::move(name), Needs::kStrictJson, "https://127.0.0.2:{trap}/x.git", kInvalid,
          "duplicate key " + key + ": each key may appear only once"};
  row.payload = std::move(payload);
  return row;
}

/// Targets that would write outside their directory, and documents with duplicate keys (the
/// first copy is harmless, a lenient parser might take the second).
std::vector<Row> document_rows() {
  return {
      target_row("target parent", "../escape", "'..'"),
      target_row("target deep parent", "a/../../escape", "'..'"),
      target_row("target absolute", "/etc/cron.d", "relative to the workspace"),
      target_row("target git dir", "a/.git/hooks", "'.git'"),
      target_row("target dot", "./a", "'.'"),
      target_row("target empty segment", "a//b", "empty segments"),
      duplicate_row("duplicate repository", "repository",
                    R"({"schema":"mgit.sync-job/v1","job_id":"{id}","operation":"sync",)"
                    R"("repository":{"url":"https://127.0.0.1:{git}/ok.git"},)"
                    R"("repository":{"url":"{url}"},"target":"hostile/{id}"})"),
      duplicate_row("duplicate url", "repository.url",
                    R"({"schema":"mgit.sync-job/v1","job_id":"{id}",)"
                    R"("operation":"sync","repository":{"url":)"
                    R"("https://127.0.0.1:{git}/ok.git","url":"{url}"},)"
                    R"("target":"hostile/{id}"})"),
      duplicate_row("duplicate target", "target",
                    R"({"schema":"mgit.sync-job/v1","job_id":"{id}",)"
                    R"("operation":"sync","repository":{"url":"{url}"},)"
                    R"("target":"hostile/{id}","target":"../escape"})"),
      duplicate_row("duplicate operation", "operation",
                    R"({"schema":"mgit.sync-job/v1","job_id":"{id}",)"
                    R"("operation":"fetch","operation":"mirror",)"
                    R"("repository":{"url":"{url}"},)"
                    R"("target":"hostile/{id}"})"),
  };
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string json_escaped(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[(c >> 4) & 0xf];
      out += kHex[c & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

std::string slug(const std::string& name) {
  std::string out;
  for (const char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  return out;
}

std::size_t line_count(const std::string& path) {
  std::ifstream in(path);
  return static_cast<std::size_t>(
      std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
}

std::vector<std::string> lines_after(const std::string& path, std::size_t skip) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  for (std::size_t i = 0; std::getline(in, line); ++i) {
    if (i >= skip) out.push_back(line);
  }
  return out;
}

class HostileJobsTest : public PipelineFixture {
 protected:
  void SetUp() override {
    PipelineFixture::SetUp();
    const auto https = TestGitServer(git_dir_).https_url();
    git_https_port_ = https.substr(https.rfind(':') + 1);
    git_http_port_ = git_url_.substr(git_url_.rfind(':') + 1);
    const auto& brokers = kafka_->brokers();
    const auto first = brokers.substr(0, brokers.find(','));
    broker_port_ = first.substr(first.rfind(':') + 1);
    std::ofstream(credentials_ / "nohosts") << "username=mgit\npassword=" << kNoHostsToken << "\n";
    secrets_.insert(secrets_.end(), {kUrlToken, kUrlPassword, kNoHostsToken});
  }

  std::string substitute(const std::string& text) const {
    std::string out = replace_all(text, "{trap}", std::to_string(trap_.port()));
    out = replace_all(out, "{trap6}", std::to_string(trap6_.port()));
    out = replace_all(out, "{closed}", std::to_string(closed_));
    out = replace_all(out, "{closed1}", std::to_string(closed1_));
    out = replace_all(out, "{githttp}", git_http_port_);
    out = replace_all(out, "{git}", git_https_port_);
    return replace_all(out, "{broker}", broker_port_);
  }

  std::string document(const Row& row, const std::string& id) const {
    const auto url = json_escaped(substitute(row.url));
    if (!row.payload.empty()) {
      return replace_all(replace_all(substitute(row.payload), "{id}", id), "{url}", url);
    }
    std::string repository = R"({"url":")" + url + "\"";
    if (!row.credential.empty()) repository += R"(,"credential":")" + row.credential + "\"";
    return R"({"schema":"mgit.sync-job/v1","job_id":")" + id +
           R"(","operation":"sync","repository":)" + repository + R"(},"target":"hostile/)" + id +
           "\"}";
  }

  /// Sends every row, waits for their results and checks each one's status, code and message.
  /// Returns every result read.
  std::vector<ParsedResult> send_table(const std::vector<Row>& table) {
    std::map<std::string, const Row*> sent;  // job id -> row
    std::map<std::string, int> per_part;
    std::vector<std::pair<std::string, std::string>> records;
    for (const auto& row : table) {
      ++per_part[part_name(row.needs)];
      const auto id = "hostile-" + slug(row.name);
      EXPECT_TRUE(sent.emplace(id, &row).second) << "duplicate row name " << row.name;
      records.emplace_back(id, document(row, id));
    }
    std::string parts;
    for (const auto& [part, count] : per_part) parts += " " + part + "=" + std::to_string(count);
    std::printf("[ figures ] %zu hostile rows:%s\n", table.size(), parts.c_str());
    sent_ = sent.size();
    enqueue(records);
    auto results = wait_for_results(sent.size(), 120s);
    for (const auto& result : results) by_id_.emplace(result.job_id, result);
    for (const auto& [id, row] : sent) {
      const auto found = by_id_.find(id);
      if (found == by_id_.end()) {
        ADD_FAILURE() << row->name << ": no result";
        continue;
      }
      const auto& result = found->second;
      EXPECT_EQ(result.status, "rejected") << row->name << ": " << result.raw;
      EXPECT_EQ(result.error_code, row->code) << row->name << ": " << result.raw;
      EXPECT_NE(result.error_message.find(row->message), std::string::npos)
          << row->name << ": message should name '" << row->message << "': " << result.raw;
    }
    return results;
  }

  /// The port-scanner oracle: a denied job to an open port and one to a closed port get the
  /// same message but for the port.
  void expect_same_answer(const std::string& open_id, int open_port, const std::string& closed_id,
                          int closed_port) {
    const auto open = by_id_.find(open_id);
    const auto closed = by_id_.find(closed_id);
    ASSERT_NE(open, by_id_.end()) << open_id;
    ASSERT_NE(closed, by_id_.end()) << closed_id;
    EXPECT_EQ(replace_all(open->second.error_message, std::to_string(open_port), "PORT"),
              replace_all(closed->second.error_message, std::to_string(closed_port), "PORT"));
  }

  std::map<std::string, ParsedResult> by_id_;
  std::size_t sent_ = 0;
  std::uint16_t closed1_ = closed_port("127.0.0.1");
  CountingListener trap_{"127.0.0.2"};
  CountingListener trap6_{"::1"};
  std::uint16_t closed_ = closed_port("127.0.0.2");
  std::string git_https_port_;
  std::string git_http_port_;
  std::string broker_port_;
  std::vector<std::string> secrets_;
};

/// The test servers' own address, in every spelling, and the broker's port: denied when
/// nothing opens 127.0.0.1 (the fixture's daemons open it, this one does not).
std::vector<Row> own_address_rows() {
  std::vector<Row> rows;
  for (const char* host :
       {"127.0.0.1:{git}", "2130706433:{git}", "0x7f.1:{git}", "0177.1:{git}", "127.1:{git}",
        "[::ffff:127.0.0.1]:{git}", "localhost:{git}", "LOCALHOST:{git}", "127.0.0.1:{broker}"}) {
    rows.push_back(net(std::string("own ") + host, host, "loopback"));
  }
  rows.push_back({"own localhost.", Needs::kUrlGrammar, "https://localhost.:{git}/x.git", kInvalid,
                  "repository.url: host name must not end with '.'"});
  rows.push_back(net("own unspecified", "0:{git}", "unspecified"));
  rows.push_back(net("own ssh", "git@127.0.0.1:{git}", "loopback", "ssh://"));
  rows.push_back(net("own ssh broker", "git@127.0.0.1:{broker}", "loopback", "ssh://"));
  rows.push_back(net("oracle broker port", "127.0.0.1:{broker}", "loopback"));
  rows.push_back(net("oracle closed port", "127.0.0.1:{closed1}", "loopback"));
  return rows;
}

TEST_F(HostileJobsTest, EveryHostileJobIsRejectedWithoutAConnection) {
  std::vector<Row> table = address_rows();
  for (auto& rows : {url_rows(), document_rows()}) {
    table.insert(table.end(), rows.begin(), rows.end());
  }
  ASSERT_GE(table.size(), 80u) << "issue 12 asks for at least 80 hostile jobs";

  const auto good = "good-" + suffix_;
  create_repo(good, 1);
  const TestGitServer server(git_dir_);
  const auto access_lines = line_count(server.access_log());
  // The fixture's network_allow is 127.0.0.1/32, the test servers' address, nothing else:
  // every other loopback address stays denied.
  auto daemon = start_daemon({"--otlp-endpoint", required_env("MGITD_TEST_OTLP_URL")});
  auto results = send_table(table);
  expect_same_answer("hostile-oracle-open-port", trap_.port(), "hostile-oracle-closed-port",
                     closed_);

  // A job id given twice has no id to answer under (a result would let one of them take
  // over the other's replay): the record goes to the DLQ as no_job_id, nothing is run.
  enqueue({{"dup-id", R"({"schema":"mgit.sync-job/v1","job_id":"hostile-dup-a",)"
                      R"("job_id":"hostile-dup-b","operation":"sync","repository":{"url":)"
                      R"("https://127.0.0.2:)" +
                          std::to_string(trap_.port()) + R"(/x.git"},"target":"hostile/dup"})"}});
  const auto dlq = wait_for_dlq(1, 60s);
  ASSERT_EQ(dlq.size(), 1u) << daemon->log_text().substr(0, 4000);
  EXPECT_EQ(dlq.front().header("mgit-error-code"), "no_job_id");
  EXPECT_NE(
      dlq.front().header("mgit-error-message").value_or("").find("job_id appears more than once"),
      std::string::npos);

  // The daemon is alive and takes the next job; its requests are the first the git server
  // logs after the table, so any hostile request would be logged before them.
  ASSERT_TRUE(daemon->running());
  enqueue({{repo_url(good), job_json("after-table", "sync", good, "\"target\":\"good\"")}});
  results = wait_for_results(sent_ + 1, 120s);
  const auto after = std::find_if(results.begin(), results.end(),
                                  [](const ParsedResult& r) { return r.job_id == "after-table"; });
  ASSERT_NE(after, results.end());
  EXPECT_EQ(after->status, "succeeded") << after->raw;
  EXPECT_TRUE(wait_for_committed_to_reach_end(30s)) << "the offset moves past the table";
  EXPECT_TRUE(eventually([&] { return line_count(server.access_log()) > access_lines; }, 10s));
  for (const auto& line : lines_after(server.access_log(), access_lines)) {
    EXPECT_NE(line.find("/" + good + ".git/"), std::string::npos)
        << "a request the good job did not make: " << line;
  }
  EXPECT_EQ(trap_.accepted(), 0) << "a hostile job connected to 127.0.0.2";
  EXPECT_EQ(trap6_.accepted(), 0) << "a hostile job connected to [::1]";
  EXPECT_TRUE(daemon->running());
  EXPECT_EQ(outputs_holding_secrets(), std::vector<std::string>{});
}

TEST_F(HostileJobsTest, TheTestServersOwnAddressIsDeniedByDefault) {
  const TestGitServer server(git_dir_);
  const auto access_lines = line_count(server.access_log());
  auto args = daemon_args();
  const auto allow = std::find(args.begin(), args.end(), "--network-allow");
  ASSERT_NE(allow, args.end());
  args.erase(allow, allow + 2);
  args.insert(args.end(), {"--otlp-endpoint", required_env("MGITD_TEST_OTLP_URL")});
  DaemonProcess daemon(MGITD_BINARY, args, dir_->path() / "default-deny.log");
  send_table(own_address_rows());
  expect_same_answer("hostile-oracle-broker-port", std::stoi(broker_port_),
                     "hostile-oracle-closed-port", closed1_);
  EXPECT_TRUE(wait_for_committed_to_reach_end(30s)) << "the offset moves past the table";
  EXPECT_TRUE(daemon.running());

  // A request of the test's own is the barrier: once it is logged, a request a hostile job
  // made before it would be logged too.
  const auto barrier = "/barrier-" + suffix_;
  run_command("curl -s --http1.1 -o /dev/null --cacert " + shell_quote(server.ca_file()) + " " +
              shell_quote(server.https_url() + barrier));
  ASSERT_TRUE(eventually(
      [&] {
        const auto lines = lines_after(server.access_log(), access_lines);
        return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
          return line.find(barrier) != std::string::npos;
        });
      },
      10s));
  for (const auto& line : lines_after(server.access_log(), access_lines)) {
    EXPECT_NE(line.find(barrier), std::string::npos)
        << "a hostile job reached the server: " << line;
  }
  EXPECT_EQ(outputs_holding_secrets(), std::vector<std::string>{});
}

}  // namespace
}  // namespace mgit::test_support
