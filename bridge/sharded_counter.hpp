// Counters that every thread bumps on the call path without sharing a cache line.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace dragoman::bridge {

// A small id per thread, handed out once; shards and slots are picked by it.
inline std::size_t thread_index() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed);
  return index;
}

// A monotonic count: each thread adds to its own slot, reading sums the slots (a read racing with
// additions sees some of them, as with any relaxed counter).
class sharded_counter {
 public:
  static constexpr std::size_t slots = 8;

  void operator++() noexcept { fetch_add(1); }
  void fetch_add(std::uint64_t n, std::memory_order = std::memory_order_relaxed) noexcept {
    slot_[thread_index() % slots].value.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t load(std::memory_order = std::memory_order_relaxed) const noexcept {
    std::uint64_t sum = 0;
    for (const auto& s : slot_) sum += s.value.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  struct alignas(64) cell {
    std::atomic<std::uint64_t> value{0};
  };
  cell slot_[slots];
};

}  // namespace dragoman::bridge
