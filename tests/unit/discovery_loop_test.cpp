// The discovery loop with a scripted transport and a fake clock: pagination, rate-limit
// waits (no real sleeping), 5xx retries, refusals, and where the token goes.

#include <gtest/gtest.h>

#include <deque>

#include "mgit/discovery/discover.hpp"
#include "rate_limit.hpp"

namespace mgit::discovery {
namespace {

using std::chrono::seconds;

constexpr const char* kToken = "tok-7d1e0c5b";
const std::string kBase = "https://api.github.com";

class FakeClock final : public Clock {
 public:
  [[nodiscard]] std::chrono::system_clock::time_point now() const override { return now_; }
  void sleep_for(std::chrono::milliseconds duration) override {
    slept.push_back(duration);
    now_ += duration;
  }
  std::chrono::system_clock::time_point now_ =
      std::chrono::system_clock::time_point(seconds(1'800'000'000));
  std::vector<std::chrono::milliseconds> slept;
};

/// Answers GETs from a script, in order, and records what was sent.
class ScriptedTransport final : public Transport {
 public:
  tl::expected<ApiResponse, TransportFailure> get(const ApiRequest& request) override {
    sent.push_back(request);
    if (script.empty()) {
      ADD_FAILURE() << "unexpected request " << request.url;
      return tl::make_unexpected(TransportFailure{{DiscoveryErrorCode::kUnreachable, "x"}, false});
    }
    auto next = std::move(script.front());
    script.pop_front();
    return next;
  }
  void answer(int status, std::string body,
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    ApiResponse response;
    response.status = status;
    response.body = std::move(body);
    response.headers = std::move(headers);
    script.emplace_back(std::move(response));
  }
  std::deque<tl::expected<ApiResponse, TransportFailure>> script;
  std::vector<ApiRequest> sent;
};

std::string repos(std::initializer_list<const char*> names) {
  std::string body = "[";
  for (const char* name : names) {
    if (body.size() > 1) body += ",";
    body += std::string(R"({"full_name":"acme/)") + name + R"(","name":")" + name +
            R"(","clone_url":"https://github.com/acme/)" + name +
            R"(.git","private":false,"fork":false})";
  }
  return body + "]";
}

std::pair<std::string, std::string> next_link(int page) {
  return {"link", "<" + kBase + "/organizations/1/repos?per_page=100&page=" + std::to_string(page) +
                      ">; rel=\"next\""};
}

struct Harness {
  Harness() {
    options.query = Query{kBase, "acme"};
    options.token = security::Secret(kToken);
    options.notice = [this](std::string_view text) { notices.emplace_back(text); };
  }
  tl::expected<Discovered, DiscoveryError> run() {
    return discover(*provider, options, transport, clock);
  }
  std::unique_ptr<Provider> provider = make_provider("github");
  DiscoverOptions options;
  ScriptedTransport transport;
  FakeClock clock;
  std::vector<std::string> notices;
};

TEST(DiscoveryLoop, FollowsThreePagesWithTheToken) {
  Harness h;
  h.transport.answer(200, repos({"a", "b"}), {next_link(2)});
  h.transport.answer(200, repos({"c", "d"}), {next_link(3)});
  h.transport.answer(200, repos({"e"}));
  const auto result = h.run();
  ASSERT_TRUE(result) << result.error().message;
  std::vector<std::string> names;
  for (const auto& repo : result->repositories) names.push_back(repo.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(result->stats.pages, 3);
  EXPECT_EQ(result->stats.requests, 3);
  ASSERT_EQ(h.transport.sent.size(), 3U);
  EXPECT_EQ(h.transport.sent[2].url, kBase + "/organizations/1/repos?per_page=100&page=3");
  for (const auto& sent : h.transport.sent) {
    const std::pair<std::string, std::string> auth{"Authorization",
                                                   std::string("Bearer ") + kToken};
    EXPECT_NE(std::find(sent.headers.begin(), sent.headers.end(), auth), sent.headers.end());
  }
  EXPECT_TRUE(h.clock.slept.empty());
}

TEST(DiscoveryLoop, NoTokenNoAuthorizationHeader) {
  Harness h;
  h.options.token = security::Secret();
  h.transport.answer(200, repos({"a"}));
  ASSERT_TRUE(h.run());
  for (const auto& [name, value] : h.transport.sent[0].headers) EXPECT_NE(name, "Authorization");
}

TEST(DiscoveryLoop, WaitsForTheRateLimitResetOnTheFakeClock) {
  Harness h;
  const auto reset =
      std::chrono::duration_cast<seconds>(h.clock.now_.time_since_epoch()) + seconds(42);
  h.transport.answer(
      403, R"({"message":"API rate limit exceeded"})",
      {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", std::to_string(reset.count())}});
  h.transport.answer(200, repos({"a"}));
  const auto result = h.run();
  ASSERT_TRUE(result) << result.error().message;
  // Until the reset, plus one second of slack.
  ASSERT_EQ(h.clock.slept.size(), 1U);
  EXPECT_EQ(h.clock.slept[0], seconds(43));
  EXPECT_EQ(result->stats.waits, 1);
  EXPECT_EQ(result->stats.waited, seconds(43));
  ASSERT_EQ(h.notices.size(), 1U);
  EXPECT_NE(h.notices[0].find("waiting 43s"), std::string::npos) << h.notices[0];
  EXPECT_EQ(h.transport.sent.size(), 2U);
}

TEST(DiscoveryLoop, RetryAfterSecondsAndHttpDate) {
  Harness h;
  h.transport.answer(429, "", {{"retry-after", "7"}});
  h.transport.answer(429, "", {{"retry-after", "Fri, 15 Jan 2027 08:00:10 GMT"}});
  h.transport.answer(200, repos({"a"}));
  // 2027-01-15T08:00:00Z, so the date is 10 s ahead once the first 7 s have passed… from 3 s.
  h.clock.now_ = std::chrono::system_clock::time_point(seconds(1'799'999'993));
  const auto result = h.run();
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(h.clock.slept.size(), 2U);
  EXPECT_EQ(h.clock.slept[0], seconds(7));
  EXPECT_EQ(h.clock.slept[1], seconds(10));
}

TEST(DiscoveryLoop, SecondaryLimitWithoutHeadersWaitsAMinute) {
  Harness h;
  h.transport.answer(403, R"({"message":"You have exceeded a secondary rate limit."})");
  h.transport.answer(200, repos({"a"}));
  ASSERT_TRUE(h.run());
  ASSERT_EQ(h.clock.slept.size(), 1U);
  EXPECT_EQ(h.clock.slept[0], seconds(60));
}

TEST(DiscoveryLoop, AWaitLongerThanMaxWaitIsRateLimited) {
  Harness h;
  h.options.max_wait = seconds(30);
  h.transport.answer(429, "", {{"retry-after", "3600"}});
  const auto result = h.run();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, DiscoveryErrorCode::kRateLimited);
  EXPECT_NE(result.error().message.find("--max-wait"), std::string::npos);
  EXPECT_TRUE(h.clock.slept.empty());
}

TEST(DiscoveryLoop, ServerErrorsAreRetriedWithBackoffThenGiveUp) {
  Harness h;
  h.transport.answer(502, "");
  h.transport.answer(503, "");
  h.transport.answer(200, repos({"a"}));
  auto result = h.run();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->stats.retries, 2);
  EXPECT_EQ(h.clock.slept, (std::vector<std::chrono::milliseconds>{seconds(1), seconds(2)}));

  Harness again;
  for (int i = 0; i < 4; ++i) again.transport.answer(500, "");
  result = again.run();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, DiscoveryErrorCode::kUnreachable);
  EXPECT_EQ(again.transport.sent.size(), 4U);  // the first try and three retries
}

TEST(DiscoveryLoop, TransientTransportFailuresAreRetriedOthersAreNot) {
  Harness h;
  h.transport.script.emplace_back(tl::make_unexpected(
      TransportFailure{{DiscoveryErrorCode::kUnreachable, "connection refused"}, true}));
  h.transport.answer(200, repos({"a"}));
  ASSERT_TRUE(h.run());

  Harness tls;
  tls.transport.script.emplace_back(tl::make_unexpected(
      TransportFailure{{DiscoveryErrorCode::kUnreachable, "certificate verify failed"}, false}));
  const auto result = tls.run();
  ASSERT_FALSE(result);
  EXPECT_EQ(tls.transport.sent.size(), 1U);
}

TEST(DiscoveryLoop, StatusesMapToTypedErrors) {
  const std::vector<std::pair<int, DiscoveryErrorCode>> cases = {
      {401, DiscoveryErrorCode::kUnauthorized},
      {403, DiscoveryErrorCode::kUnauthorized},
      {404, DiscoveryErrorCode::kNotFound},
      {301, DiscoveryErrorCode::kBadResponse},
      {400, DiscoveryErrorCode::kBadResponse}};
  for (const auto& [status, code] : cases) {
    Harness h;
    h.transport.answer(status, R"({"message":"Bad credentials"})",
                       {{"location", "https://elsewhere.example.com/path?token=x"}});
    const auto result = h.run();
    ASSERT_FALSE(result) << status;
    EXPECT_EQ(result.error().code, code) << status;
    EXPECT_EQ(result.error().message.find(kToken), std::string::npos);
    if (status == 301) {
      // The Location's origin, never its path or query.
      EXPECT_NE(result.error().message.find("https://elsewhere.example.com:443"), std::string::npos)
          << result.error().message;
      EXPECT_EQ(result.error().message.find("token=x"), std::string::npos);
    }
  }
}

TEST(DiscoveryLoop, AnOffOriginNextLinkIsNeverRequested) {
  Harness h;
  h.transport.answer(200, repos({"a"}),
                     {{"link", "<https://attacker.example/next>; rel=\"next\""}});
  const auto result = h.run();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, DiscoveryErrorCode::kBadResponse);
  EXPECT_EQ(h.transport.sent.size(), 1U);
}

TEST(DiscoveryLoop, ExhaustedBudgetOnASuccessWaitsBeforeTheNextPage) {
  Harness h;
  const auto reset =
      std::chrono::duration_cast<seconds>(h.clock.now_.time_since_epoch()) + seconds(5);
  h.transport.answer(200, repos({"a"}),
                     {next_link(2),
                      {"x-ratelimit-remaining", "0"},
                      {"x-ratelimit-reset", std::to_string(reset.count())}});
  h.transport.answer(200, repos({"b"}));
  const auto result = h.run();
  ASSERT_TRUE(result);
  EXPECT_EQ(h.clock.slept, (std::vector<std::chrono::milliseconds>{seconds(6)}));
}

TEST(DiscoveryRateLimit, HeaderForms) {
  const auto now = std::chrono::system_clock::time_point(seconds(1'800'000'000));
  ApiResponse gitlab;
  gitlab.status = 429;
  gitlab.headers = {{"ratelimit-remaining", "0"}, {"ratelimit-reset", "1800000030"}};
  EXPECT_EQ(rate_limit_wait(gitlab, now)->wait, seconds(31));
  ApiResponse delta;
  delta.status = 429;
  delta.headers = {{"ratelimit-reset", "12"}};
  EXPECT_EQ(rate_limit_wait(delta, now)->wait, seconds(13));
  ApiResponse forbidden;
  forbidden.status = 403;
  forbidden.headers = {{"x-ratelimit-remaining", "12"}};
  EXPECT_FALSE(rate_limit_wait(forbidden, now));
  ApiResponse garbage;
  garbage.status = 429;
  garbage.headers = {{"retry-after", "soon"}, {"x-ratelimit-reset", "99999999999999999999"}};
  EXPECT_EQ(rate_limit_wait(garbage, now)->wait, seconds(60));
  EXPECT_EQ(parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            std::chrono::system_clock::time_point(seconds(1445412480)));
  EXPECT_FALSE(parse_http_date("Wed, 21 Oct 2015 07:28:00 UTC"));
  EXPECT_FALSE(parse_http_date("Wed, 32 Oct 2015 07:28:00 GMT"));
  // Beyond what the clock can hold: refused, not an overflow.
  EXPECT_FALSE(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"));
  ApiResponse far;
  far.status = 429;
  far.headers = {{"retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"}};
  EXPECT_EQ(rate_limit_wait(far, now)->wait, seconds(60)) << "read as no usable header";
  // "Retry again now" still waits a second.
  ApiResponse zero;
  zero.status = 429;
  zero.headers = {{"retry-after", "0"}};
  EXPECT_EQ(rate_limit_wait(zero, now)->wait, seconds(1));
}

TEST(DiscoveryLoop, ANextLinkBackToAListedPageStops) {
  Harness h;
  h.transport.answer(200, repos({"a"}), {next_link(2)});
  h.transport.answer(200, repos({"b"}), {next_link(3)});
  h.transport.answer(200, repos({"c"}), {next_link(2)});  // page 3 points back at page 2
  const auto result = h.run();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, DiscoveryErrorCode::kBadResponse);
  EXPECT_NE(result.error().message.find("already listed"), std::string::npos)
      << result.error().message;
  EXPECT_EQ(h.transport.sent.size(), 3U) << "page 2 is not asked for again";
}

TEST(DiscoveryLoop, ANextLinkToItselfIsRefusedByTheParser) {
  Harness h;
  h.transport.answer(200, repos({"a"}), {next_link(2)});
  h.transport.answer(200, repos({"b"}), {next_link(2)});
  const auto result = h.run();
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("points back at the page it is on"), std::string::npos)
      << result.error().message;
  EXPECT_EQ(h.transport.sent.size(), 2U);
}

TEST(DiscoveryLoop, ARepositoryListedTwiceByOffsetPagingIsKeptOnce) {
  Harness h;
  h.transport.answer(200, repos({"a", "b"}), {next_link(2)});
  h.transport.answer(200, repos({"b", "c"}));  // "b" shifted onto the next page
  const auto result = h.run();
  ASSERT_TRUE(result) << result.error().message;
  std::vector<std::string> names;
  for (const auto& repo : result->repositories) names.push_back(repo.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(result->stats.duplicates, 1);
}

TEST(DiscoveryLoop, MoreRepositoriesThanAllowedStops) {
  Harness h;
  h.options.max_repositories = 3;
  h.transport.answer(200, repos({"a", "b"}), {next_link(2)});
  h.transport.answer(200, repos({"c", "d"}), {next_link(3)});
  const auto result = h.run();
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("more than 3 repositories"), std::string::npos)
      << result.error().message;
  EXPECT_EQ(h.transport.sent.size(), 2U) << "page 3 is not asked for";
}

}  // namespace
}  // namespace mgit::discovery
