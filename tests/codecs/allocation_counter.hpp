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
// Every form that the deletes below may free, so that each allocation and its release agree
// (std::stable_sort's temporary buffer uses the nothrow form; AddressSanitizer checks the pair).
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  allocation_counter::allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n) {
  return operator new(n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
  return operator new(n, t);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
