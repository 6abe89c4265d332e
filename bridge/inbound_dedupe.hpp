// Duplicates from the host: the answers to inbound messages, by the profile's dedupe key, kept for
// a window so that a re-sent message gets the same answer again and reaches the app once. Bounded
// (the oldest answered entries go first); shared by every connection, so thread-safe.
#pragma once

#include "codecs/bytes.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace dragoman::bridge {

class inbound_dedupe {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  // Called (outside the lock) with the first message's answer frame (empty: none was sent).
  using waiter = std::function<void(const codecs::byte_buffer& frame)>;

  explicit inbound_dedupe(std::size_t max_entries) : max_entries_(max_entries ? max_entries : 1) {}

  enum class verdict {
    fresh,     // first seen (or its window passed): deliver it, then finish()
    pending,   // the first is being delivered: w gets its answer
    answered,  // answered within the window: frame holds that answer
  };
  verdict begin(const std::string& key, time_point now, std::chrono::milliseconds window,
                codecs::byte_buffer& frame, waiter w);
  // The first message's answer. remember: kept for the window (the app took it); else forgotten,
  // so the next re-send is delivered again. Waiters get frame either way.
  void finish(const std::string& key, const codecs::byte_buffer& frame, bool remember,
              time_point now);

  std::size_t size() const;

 private:
  struct entry {
    bool pending = true;
    time_point expires;
    std::chrono::milliseconds window{0};
    codecs::byte_buffer frame;
    std::vector<waiter> waiters;
  };
  void evict_locked(time_point now);

  mutable std::mutex mu_;
  std::size_t max_entries_;
  std::unordered_map<std::string, entry> entries_;
  std::deque<std::string> order_;  // keys by first insertion, for eviction
};

}  // namespace dragoman::bridge
