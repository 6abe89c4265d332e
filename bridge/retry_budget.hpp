// The retry budget (retries at most a ratio of recent calls, plus a floor) and the one jittered
// exponential backoff used by reconnects and retries. No Asio: time points are passed in.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <random>

namespace dragoman::bridge {

// Retries allowed: ratio × calls in the last 10 s, plus a floor. Counting a call takes no lock
// (one relaxed increment; the lock is taken once per bucket per second, to start the bucket
// over); deciding a retry, which is rare, takes the lock.
class retry_budget {
 public:
  static constexpr int buckets = 10;  // one second each

  retry_budget(double ratio, std::size_t floor) : ratio_(ratio), floor_(floor) {}
  void on_call(std::chrono::steady_clock::time_point now);
  // True (and counted) when one more retry fits the budget now.
  bool try_retry(std::chrono::steady_clock::time_point now);

 private:
  struct slot {
    std::atomic<std::int64_t> second{-1};
    std::atomic<std::uint64_t> calls{0};
    std::uint64_t retries = 0;  // under m_
  };
  static void start(slot& s, std::int64_t sec);
  std::mutex m_;
  double ratio_;
  std::size_t floor_;
  slot slots_[buckets];
};

// The delay before attempt number `attempt` (1 = the first retry or reconnect): min doubled per
// attempt, capped at max, then drawn uniformly from [lower_fraction × that, that]. Reconnects
// draw from the upper half (lower_fraction 0.5), retries from [min, that] (see callers).
struct backoff_policy {
  std::chrono::milliseconds min{100};
  std::chrono::milliseconds max{5000};
  int max_shift = 20;
};
// The capped exponential step for an attempt, before jitter.
std::chrono::milliseconds backoff_step(const backoff_policy& p, int attempt) noexcept;
// A uniform draw in [lo, hi] (hi below lo gives lo).
std::chrono::milliseconds jittered(std::chrono::milliseconds lo, std::chrono::milliseconds hi,
                                   std::minstd_rand& rng);

}  // namespace dragoman::bridge
