// Counts heap allocations by replacing the global operator new, for the checks that steady-state
// encode and decode allocate nothing (a test) and for measuring them (bench/codec_bench.cpp).
// Include it in exactly one translation unit of a program: it defines the replacements.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

// The replacements pair malloc with free; GCC cannot see that they match once inlined.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace allocation_counter {
inline std::atomic<std::size_t> allocations{0};
}  // namespace allocation_counter

void* operator new(std::size_t n) {
  allocation_counter::allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
