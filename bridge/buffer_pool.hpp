// Byte buffers lent per thread to the front doors' sessions: an idle connection holds none and a
// busy one does not allocate.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace dragoman::bridge {

// A buffer that grew past this is freed when given back, not kept.
constexpr std::size_t pooled_buffer_max = 16384;
constexpr std::size_t pooled_buffers_max = 32;
constexpr std::size_t pooled_buffer_reserve = 1024;

// Sessions use only the pool of their own thread (the one that runs their io_context), and take a
// buffer only into an empty one: what is taken replaces what was there.
class buffer_pool {
 public:
  std::string take() {
    if (free_.empty()) {
      std::string s;
      s.reserve(pooled_buffer_reserve);
      return s;
    }
    std::string s = std::move(free_.back());
    free_.pop_back();
    return s;
  }
  void give(std::string s) {
    if (s.capacity() < pooled_buffer_reserve || s.capacity() > pooled_buffer_max ||
        free_.size() >= pooled_buffers_max)
      return;
    s.clear();
    free_.push_back(std::move(s));
  }

 private:
  std::vector<std::string> free_;
};

inline buffer_pool& thread_buffers() {
  thread_local buffer_pool pool;
  return pool;
}

}  // namespace dragoman::bridge
