#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mgit::execution {

/// How much one git host may be asked of. Zero means "no limit" for each field.
struct HostLimit {
  int max_concurrent = 0;   ///< jobs of the host running at once
  int jobs_per_minute = 0;  ///< token bucket refill rate
  int burst = 0;            ///< bucket size; 0: one second's worth of the rate, at least 1

  friend bool operator==(const HostLimit&, const HostLimit&) = default;
};

struct HostLimitSettings {
  HostLimit defaults;
  /// By host key (`jobs::host_of_repository_key`): "github.com", "git.example.com:8443".
  std::map<std::string, HostLimit, std::less<>> overrides;
  /// The first cool-down after a throttling answer; each further one doubles, up to the max.
  std::chrono::milliseconds cooldown_base{std::chrono::seconds(5)};
  std::chrono::milliseconds cooldown_max{std::chrono::seconds(300)};
  /// The share (percent) of `max_buffered_per_partition` and of `max_in_flight` one host's
  /// waiting jobs may hold; 0 buffers: no share is enforced.
  int wait_share_percent = 50;
  std::size_t max_buffered_per_partition = 0;
  std::size_t max_in_flight = 0;

  [[nodiscard]] const HostLimit& limit_for(std::string_view host) const;
  /// How many of one host's jobs may wait per partition (tag) and in all; 0: unbounded.
  [[nodiscard]] std::size_t partition_share() const;
  [[nodiscard]] std::size_t global_share() const;
};

/// Why a host cannot start a job now.
enum class HostWait {
  kCoolDown,     ///< it answered 429/503 (or refused an ssh connection) recently
  kRate,         ///< its token bucket is empty
  kConcurrency,  ///< it runs `max_concurrent` jobs already
};

std::string_view to_string(HostWait wait);

struct HostAdmission {
  bool granted = false;
  HostWait wait = HostWait::kConcurrency;  ///< when not granted
  /// When asking again may succeed; unset: when one of the host's running jobs ends.
  std::optional<std::chrono::steady_clock::time_point> retry_at;
};

/// How a job that held a host slot ended, as far as the host's health goes.
enum class HostOutcome { kSucceeded, kThrottled, kOther };

struct HostCoolDown {
  std::string host;
  int level = 1;  ///< 1 for the first cool-down in a row, 2 for the next, …
  std::chrono::milliseconds duration{0};
  std::chrono::steady_clock::time_point until;
};

/// Per-host concurrency caps, token buckets and cool-downs. A pure state machine: time is
/// always passed in, so tests drive it with their own clock. Not thread-safe (the scheduler
/// uses it on the io_context only). Memory: a host's state is dropped once it is idle (no
/// running job, no cool-down, a full bucket), so hosts that come and go cost nothing.
class HostLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit HostLimiter(HostLimitSettings settings) : settings_(std::move(settings)) {}

  /// Takes a slot (and a token) for a job of `host` when the host allows one now.
  HostAdmission acquire(const std::string& host, TimePoint now);
  /// Gives back a slot taken by `acquire`. A throttled outcome starts (or, after one ended,
  /// lengthens) the host's cool-down and returns it; throttling answers that arrive while a
  /// cool-down runs do not lengthen it (they were asked before it began). A success ends the
  /// escalation: the next cool-down starts from the base again.
  std::optional<HostCoolDown> release(const std::string& host, HostOutcome outcome, TimePoint now);

  /// Hosts whose cool-down has not ended at `now`.
  [[nodiscard]] std::size_t cooling_down(TimePoint now) const;
  /// Drops the state of idle hosts (see the class comment); the scheduler calls it now and then.
  void forget_idle(TimePoint now);
  [[nodiscard]] std::size_t known_hosts() const { return hosts_.size(); }
  [[nodiscard]] const HostLimitSettings& settings() const { return settings_; }

 private:
  struct HostState {
    int running = 0;
    double tokens = 0;
    TimePoint refilled;
    TimePoint cool_until;
    int level = 0;  ///< cool-downs in a row without a success in between
  };

  HostState& state_for(const std::string& host, const HostLimit& limit, TimePoint now);
  static void refill(HostState& state, const HostLimit& limit, TimePoint now);
  [[nodiscard]] bool idle(const HostState& state, const HostLimit& limit, TimePoint now) const;

  HostLimitSettings settings_;
  std::unordered_map<std::string, HostState> hosts_;
};

}  // namespace mgit::execution
