// Retry budget buckets and the jittered exponential backoff.
#include "bridge/retry_budget.hpp"

#include <algorithm>

namespace dragoman::bridge {

namespace {

std::int64_t second_of(std::chrono::steady_clock::time_point now) {
  return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
}

std::size_t index_of(std::int64_t sec) {
  return static_cast<std::size_t>(sec % retry_budget::buckets);
}

}  // namespace

// Under m_: a bucket last used for an older second starts over.
void retry_budget::start(slot& s, std::int64_t sec) {
  if (s.second.load(std::memory_order_relaxed) == sec) return;
  s.calls.store(0, std::memory_order_relaxed);
  s.retries = 0;
  s.second.store(sec, std::memory_order_release);
}

void retry_budget::on_call(std::chrono::steady_clock::time_point now) {
  const std::int64_t sec = second_of(now);
  slot& s = slots_[index_of(sec)];
  if (s.second.load(std::memory_order_acquire) != sec) {
    std::lock_guard lock(m_);
    start(s, sec);
  }
  s.calls.fetch_add(1, std::memory_order_relaxed);
}

bool retry_budget::try_retry(std::chrono::steady_clock::time_point now) {
  const std::int64_t sec = second_of(now);
  std::lock_guard lock(m_);
  slot& current = slots_[index_of(sec)];
  start(current, sec);
  std::uint64_t calls = 0, retries = 0;
  for (const auto& b : slots_) {
    if (b.second.load(std::memory_order_relaxed) <= sec - buckets) continue;
    calls += b.calls.load(std::memory_order_relaxed);
    retries += b.retries;
  }
  double allowed = ratio_ * static_cast<double>(calls) + static_cast<double>(floor_);
  if (static_cast<double>(retries) + 1 > allowed) return false;
  current.retries++;
  return true;
}

std::chrono::milliseconds backoff_step(const backoff_policy& p, int attempt) noexcept {
  const std::int64_t lo = std::max<std::int64_t>(0, p.min.count());
  const std::int64_t hi = std::max<std::int64_t>(lo, p.max.count());
  const int shift = std::clamp(attempt - 1, 0, p.max_shift);
  return std::chrono::milliseconds(std::min(hi, std::max<std::int64_t>(lo, 1) << shift));
}

std::chrono::milliseconds jittered(std::chrono::milliseconds lo, std::chrono::milliseconds hi,
                                   std::minstd_rand& rng) {
  const std::int64_t a = lo.count();
  const std::int64_t b = std::max(a, hi.count());
  return std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(a, b)(rng));
}

}  // namespace dragoman::bridge
