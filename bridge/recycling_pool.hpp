// Bounded per-thread free lists for the objects every call makes (bridge/upstream_shared.hpp's
// pending_call, call_book.hpp's tracked_call): what a call ends with is kept for the next call
// made on the same thread instead of going back to the allocator, so the hot path allocates
// nothing for them in steady state.
//
// Each thread holds at most Cap objects (or blocks); one released beyond that is freed. An object
// may be made on one thread and released on another (the engine hands calls across io_contexts):
// it joins the releasing thread's list. Nothing is shared between threads, so there is no lock;
// the hand-off itself (an Asio post) orders the accesses.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace dragoman::bridge {

namespace pool_detail {

// One thread's list of at most Cap pointers; registered in `current` while it is alive, so that
// a release during the thread's teardown (after the list is gone) frees instead.
template <class Tag, class P, std::size_t Cap>
struct free_list {
  static constinit inline thread_local free_list* current = nullptr;
  static constinit inline thread_local bool gone = false;  // this thread's list is destroyed
  std::array<P, Cap> items{};
  std::size_t count = 0;
  void (*dispose)(P) = nullptr;

  explicit free_list(void (*d)(P)) noexcept : dispose(d) { current = this; }
  ~free_list() {
    current = nullptr;
    gone = true;
    while (count) dispose(items[--count]);
  }
  free_list(const free_list&) = delete;
  free_list& operator=(const free_list&) = delete;

  // This thread's list, made on first use; null once the thread is tearing it down.
  static free_list* local(void (*d)(P)) {
    if (current) return current;
    if (gone) return nullptr;
    thread_local free_list list(d);
    return &list;
  }
  P take() noexcept { return count ? items[--count] : P{}; }
  bool give(P p) noexcept {
    if (count == Cap) return false;
    items[count++] = p;
    return true;
  }
};

}  // namespace pool_detail

// Whole objects, reused with what they hold (a record's strings, a frame's buffer): T::recycle()
// puts an object back to its freshly made state but may keep capacity. make() hands out a
// std::unique_ptr whose deleter returns the object to the releasing thread's list.
template <class T, std::size_t Cap = 256>
class recycling_pool {
  using list = pool_detail::free_list<recycling_pool, T*, Cap>;
  static void destroy(T* p) noexcept { delete p; }

 public:
  static constexpr std::size_t capacity = Cap;

  struct recycler {
    void operator()(T* p) const noexcept {
      if (!p) return;
      list* l = list::local(&destroy);
      if (!l) return destroy(p);
      p->recycle();
      if (!l->give(p)) destroy(p);
    }
  };
  using pointer = std::unique_ptr<T, recycler>;

  // An object from this thread's list, else a new one.
  static pointer make() {
    if (list* l = list::local(&destroy))
      if (T* p = l->take()) return pointer(p);
    return pointer(new T());
  }
  // How many this thread keeps now (tests).
  static std::size_t kept() noexcept { return list::current ? list::current->count : 0; }
};

// Raw blocks of one size for a class's operator new/delete: the objects are made afresh, only
// their memory is reused. Use: `static void* operator new(std::size_t n) { return
// block_pool<T>::allocate(n); }` and the matching delete.
template <class T, std::size_t Cap = 256>
class block_pool {
  using list = pool_detail::free_list<block_pool, void*, Cap>;
  static void free_block(void* p) noexcept { ::operator delete(p); }

 public:
  static constexpr std::size_t capacity = Cap;

  static void* allocate(std::size_t n) {
    if (n == sizeof(T))
      if (list* l = list::local(&free_block))
        if (void* p = l->take()) return p;
    return ::operator new(n);
  }
  static void deallocate(void* p, std::size_t n) noexcept {
    if (!p) return;
    list* l = n == sizeof(T) ? list::local(&free_block) : nullptr;
    if (!l || !l->give(p)) ::operator delete(p);
  }
  static std::size_t kept() noexcept { return list::current ? list::current->count : 0; }
};

}  // namespace dragoman::bridge
