#include "mgit/webhooks/routes.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <ranges>
#include <set>
#include <sstream>
#include <vector>

#include "mgit/basics/ascii.hpp"
#include "mgit/webhooks/webhook_job.hpp"

namespace mgit::webhooks {
namespace {

constexpr std::string_view kPlaceholder = "{repository}";
constexpr std::size_t kMaxRoutesFileBytes = std::size_t{1} << 20;

/// Every key a route may have: a misspelt key is an error, not a silently ignored setting.
const std::set<std::string, std::less<>> kRouteKeys = {
    "name", "provider",  "secret_file", "repositories", "host",
    "url",  "operation", "target",      "credential",   "ref"};

std::string route_label(std::size_t index, const std::string& name) {
  return name.empty() ? "route #" + std::to_string(index + 1) : "route '" + name + "'";
}

tl::expected<Route, std::string> read_route(const toml::table& table, std::size_t index) {
  Route route;
  route.name = table["name"].value_or(std::string());
  const auto label = route_label(index, route.name);
  const auto fail = [&label](const std::string& why) {
    return tl::make_unexpected(label + ": " + why);
  };
  for (const auto& [key, value] : table) {
    if (!kRouteKeys.contains(key.str()))
      return fail("unknown key '" + std::string(key.str()) + "'");
    const bool list = key.str() == "repositories";
    if (list ? !value.is_array() : !value.is_string()) {
      return fail("'" + std::string(key.str()) + "' must be " +
                  (list ? "a list of strings" : "a string"));
    }
  }
  if (route.name.empty()) return fail("needs a 'name'");
  const auto provider = parse_provider(table["provider"].value_or(std::string()));
  if (!provider) return fail("'provider' must be github, gitlab or gitea");
  route.provider = *provider;
  route.secret_file = table["secret_file"].value_or(std::string());
  if (route.secret_file.empty()) return fail("needs a 'secret_file'");
  if (const auto* globs = table["repositories"].as_array()) {
    for (const auto& glob : *globs) {
      const auto* text = glob.as_string();
      if (text == nullptr || text->get().empty()) {
        return fail("'repositories' must be a list of non-empty strings");
      }
      route.repositories.push_back(text->get());
    }
  }
  if (route.repositories.empty()) return fail("needs 'repositories' (full-name globs)");
  route.host = basics::to_lower(table["host"].value_or(std::string()));
  route.url = table["url"].value_or(std::string());
  if (route.url.find(kPlaceholder) == std::string::npos) {
    return fail("'url' must contain {repository}");
  }
  const auto operation = jobs::parse_operation(table["operation"].value_or(std::string("sync")));
  if (!operation ||
      (*operation != jobs::Operation::kSync && *operation != jobs::Operation::kMirror)) {
    return fail("'operation' must be sync or mirror");
  }
  route.operation = *operation;
  route.target = table["target"].value_or(std::string());
  route.credential = table["credential"].value_or(std::string());
  route.ref = table["ref"].value_or(std::string());
  // The job it would make for a plausible repository must pass job validation.
  if (auto sample = build_webhook_job(route, "example-org/example-repository", "route-check");
      !sample) {
    return fail("makes invalid jobs: " + sample.error());
  }
  return route;
}

/// `*` within a segment and `**` across them, by dynamic programming over (glob token, text
/// position): linear in their product, whatever the glob.
bool glob_matches(std::string_view glob, std::string_view text) {
  enum class Token : char { kLiteral, kStar, kDoubleStar };
  std::vector<std::pair<Token, char>> tokens;
  for (std::size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] != '*') {
      tokens.emplace_back(Token::kLiteral, glob[i]);
    } else if (i + 1 < glob.size() && glob[i + 1] == '*') {
      tokens.emplace_back(Token::kDoubleStar, '*');
      ++i;
    } else {
      tokens.emplace_back(Token::kStar, '*');
    }
  }
  const auto n = text.size();
  // row[t]: the tokens after the current one match text from t.
  std::vector<char> row(n + 1, 0);
  std::vector<char> next(n + 1, 0);
  row[n] = 1;
  // From the last token back: `row` holds what the tokens after this one match. (clang 14
  // cannot compile libstdc++ 12's views::reverse.)
  std::reverse(tokens.begin(), tokens.end());
  for (const auto& token : tokens) {
    for (std::size_t t = n + 1; t-- > 0;) {
      if (token.first == Token::kLiteral) {
        next[t] = static_cast<char>(t < n && text[t] == token.second && row[t + 1] != 0);
      } else {
        // A star matches nothing, or one more character (never a '/' for a single star).
        const bool more =
            t < n && (token.first == Token::kDoubleStar || text[t] != '/') && next[t + 1] != 0;
        next[t] = static_cast<char>(row[t] != 0 || more);
      }
    }
    row.swap(next);
  }
  return row[0] != 0;
}

}  // namespace

bool repository_glob_matches(std::string_view glob, std::string_view repository) {
  return glob_matches(glob, repository);
}

std::string render_template(std::string_view text, std::string_view repository) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    const auto found = text.find(kPlaceholder, start);
    out += text.substr(start, found == std::string_view::npos ? text.npos : found - start);
    if (found == std::string_view::npos) return out;
    out += repository;
    start = found + kPlaceholder.size();
  }
}

tl::expected<RouteTable, std::string> RouteTable::parse(std::string_view toml_text) {
  toml::table document;
  try {
    document = toml::parse(toml_text);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    return tl::make_unexpected("routes file: " + std::string(e.description()) + " at " +
                               where.str());
  }
  for (const auto& [key, value] : document) {
    if (key.str() != "route") {
      return tl::make_unexpected("routes file: unknown key '" + std::string(key.str()) +
                                 "' (routes are [[route]] tables)");
    }
  }
  RouteTable table;
  const auto* routes = document["route"].as_array();
  if (routes == nullptr || routes->empty()) {
    return tl::make_unexpected("routes file: no [[route]] tables (webhooks would match nothing)");
  }
  std::set<std::string, std::less<>> names;
  for (std::size_t i = 0; i < routes->size(); ++i) {
    const auto* entry = (*routes)[i].as_table();
    if (entry == nullptr)
      return tl::make_unexpected("routes file: 'route' must be [[route]] tables");
    auto route = read_route(*entry, i);
    if (!route) return tl::make_unexpected("routes file: " + route.error());
    if (!names.insert(route->name).second) {
      return tl::make_unexpected("routes file: two routes are named '" + route->name + "'");
    }
    table.routes_.push_back(std::move(*route));
  }
  return table;
}

tl::expected<RouteTable, std::string> RouteTable::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::make_unexpected("cannot read the webhook routes file " + path);
  std::string text;
  text.resize(kMaxRoutesFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxRoutesFileBytes) {
    return tl::make_unexpected("the webhook routes file " + path + " is over 1 MiB");
  }
  auto table = parse(text);
  if (!table) return tl::make_unexpected(path + ": " + table.error());
  return table;
}

const Route* RouteTable::match(Provider provider, std::string_view secret_file,
                               std::string_view host, std::string_view repository) const {
  for (const auto& route : routes_) {
    if (route.provider != provider || route.secret_file != secret_file) continue;
    if (!route.host.empty() && route.host != host) continue;
    for (const auto& glob : route.repositories) {
      if (repository_glob_matches(glob, repository)) return &route;
    }
  }
  return nullptr;
}

}  // namespace mgit::webhooks
