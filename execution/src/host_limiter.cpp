#include "mgit/execution/host_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace mgit::execution {

namespace {

using std::chrono::milliseconds;

double capacity(const HostLimit& limit) {
  if (limit.burst > 0) return limit.burst;
  return std::max(1.0, std::floor(limit.jobs_per_minute / 60.0));
}

double tokens_per_second(const HostLimit& limit) { return limit.jobs_per_minute / 60.0; }

std::size_t share_of(std::size_t total, int percent) {
  if (total == 0 || percent <= 0) return 0;
  return std::max<std::size_t>(1, total * static_cast<std::size_t>(percent) / 100);
}

}  // namespace

const HostLimit& HostLimitSettings::limit_for(std::string_view host) const {
  const auto found = overrides.find(host);
  return found != overrides.end() ? found->second : defaults;
}

std::size_t HostLimitSettings::partition_share() const {
  return share_of(max_buffered_per_partition, wait_share_percent);
}

std::size_t HostLimitSettings::global_share() const {
  return share_of(max_in_flight, wait_share_percent);
}

std::string_view to_string(HostWait wait) {
  switch (wait) {
    case HostWait::kCoolDown:
      return "cool_down";
    case HostWait::kRate:
      return "rate";
    case HostWait::kConcurrency:
      return "concurrency";
  }
  return "concurrency";
}

void HostLimiter::refill(HostState& state, const HostLimit& limit, TimePoint now) {
  if (limit.jobs_per_minute <= 0 || now <= state.refilled) return;
  const double elapsed = std::chrono::duration<double>(now - state.refilled).count();
  state.tokens = std::min(capacity(limit), state.tokens + elapsed * tokens_per_second(limit));
  state.refilled = now;
}

HostLimiter::HostState& HostLimiter::state_for(const std::string& host, const HostLimit& limit,
                                               TimePoint now) {
  auto [it, inserted] = hosts_.try_emplace(host);
  if (inserted) {
    // A host seen for the first time (or again after it went idle) starts with a full bucket.
    it->second.tokens = capacity(limit);
    it->second.refilled = now;
  }
  return it->second;
}

HostAdmission HostLimiter::acquire(const std::string& host, TimePoint now) {
  const HostLimit& limit = settings_.limit_for(host);
  auto& state = state_for(host, limit, now);
  if (now < state.cool_until) return {false, HostWait::kCoolDown, state.cool_until};
  if (limit.max_concurrent > 0 && state.running >= limit.max_concurrent) {
    return {false, HostWait::kConcurrency, std::nullopt};
  }
  if (limit.jobs_per_minute > 0) {
    refill(state, limit, now);
    if (state.tokens < 1.0) {
      const double missing = 1.0 - state.tokens;
      // Rounded up to the next millisecond, so a wake-up at retry_at finds the token there.
      const auto wait = milliseconds(
          static_cast<std::int64_t>(std::ceil(missing / tokens_per_second(limit) * 1000.0)));
      return {false, HostWait::kRate, now + wait};
    }
    state.tokens -= 1.0;
  }
  ++state.running;
  return {true, HostWait::kConcurrency, std::nullopt};
}

std::optional<HostCoolDown> HostLimiter::release(const std::string& host, HostOutcome outcome,
                                                 TimePoint now) {
  const HostLimit& limit = settings_.limit_for(host);
  auto& state = state_for(host, limit, now);
  if (state.running > 0) --state.running;
  std::optional<HostCoolDown> started;
  switch (outcome) {
    case HostOutcome::kSucceeded:
      state.level = 0;
      break;
    case HostOutcome::kThrottled:
      if (now >= state.cool_until) {
        state.level = std::min(state.level + 1, 30);
        const auto factor = std::int64_t{1} << std::min(state.level - 1, 20);
        const auto duration =
            std::min<milliseconds>(settings_.cooldown_base * factor, settings_.cooldown_max);
        state.cool_until = now + duration;
        started = HostCoolDown{host, state.level, duration, state.cool_until};
      }
      break;
    case HostOutcome::kOther:
      break;
  }
  if (idle(state, limit, now)) hosts_.erase(host);
  return started;
}

bool HostLimiter::idle(const HostState& state, const HostLimit& limit, TimePoint now) const {
  if (state.running > 0 || now < state.cool_until || state.level > 0) return false;
  if (limit.jobs_per_minute <= 0) return true;
  HostState refilled = state;
  refill(refilled, limit, now);
  return refilled.tokens >= capacity(limit);
}

std::size_t HostLimiter::cooling_down(TimePoint now) const {
  return static_cast<std::size_t>(std::count_if(
      hosts_.begin(), hosts_.end(), [now](const auto& h) { return now < h.second.cool_until; }));
}

void HostLimiter::forget_idle(TimePoint now) {
  for (auto it = hosts_.begin(); it != hosts_.end();) {
    auto& state = it->second;
    // An escalation ends once its last cool-down is long over (twice the longest one): a
    // host that was quiet that long is treated as recovered.
    if (state.running == 0 && state.level > 0 &&
        now >= state.cool_until + 2 * settings_.cooldown_max) {
      state.level = 0;
    }
    it = idle(state, settings_.limit_for(it->first), now) ? hosts_.erase(it) : std::next(it);
  }
}

}  // namespace mgit::execution
