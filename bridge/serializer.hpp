// serialize_by: at most one call in flight per key value ("terminal_id=T1"), across the whole
// pool; later calls with the same key wait in arrival order. No Asio and no clock: the pool keeps
// the waiters' timers and calls release() when a call ends, so tests drive it by hand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace dragoman::bridge {

// T: what a waiter carries (the pool's waiting call). Every member takes the lock.
template <typename T>
class serializer {
 public:
  explicit serializer(std::size_t max_waiting) : max_waiting_(max_waiting) {}

  enum class verdict {
    go,    // the key was free: the caller holds it until release()
    wait,  // queued behind the holder: release() hands it the key, or cancel() takes it out
    full,  // max_waiting calls wait already (over every key): nothing queued, value untouched
  };
  // id: the waiter's ticket, for cancel().
  verdict acquire(const std::string& key, T& value, std::uint64_t& id) {
    std::lock_guard lock(m_);
    auto it = keys_.find(key);
    if (it == keys_.end()) {
      keys_.try_emplace(key);
      return verdict::go;
    }
    if (waiting_ >= max_waiting_) return verdict::full;
    id = ++next_id_;
    it->second.push_back({id, std::move(value)});
    ++waiting_;
    return verdict::wait;
  }

  // The holder of key is done: the first waiter now holds it (returned), or the key is free.
  std::optional<T> release(const std::string& key) {
    std::lock_guard lock(m_);
    auto it = keys_.find(key);
    if (it == keys_.end()) return std::nullopt;
    if (it->second.empty()) {
      keys_.erase(it);
      return std::nullopt;
    }
    T next = std::move(it->second.front().value);
    it->second.pop_front();
    --waiting_;
    return next;
  }

  // A waiter gives up (its deadline passed): its value, or none when it holds the key already.
  std::optional<T> cancel(const std::string& key, std::uint64_t id) {
    std::lock_guard lock(m_);
    auto it = keys_.find(key);
    if (it == keys_.end()) return std::nullopt;
    auto& q = it->second;
    for (auto w = q.begin(); w != q.end(); ++w)
      if (w->id == id) {
        T v = std::move(w->value);
        q.erase(w);
        --waiting_;
        return v;
      }
    return std::nullopt;
  }

  std::size_t waiting() const {
    std::lock_guard lock(m_);
    return waiting_;
  }
  // Keys held now (calls in flight under serialize_by).
  std::size_t held() const {
    std::lock_guard lock(m_);
    return keys_.size();
  }
  std::size_t waiting_for(const std::string& key) const {
    std::lock_guard lock(m_);
    auto it = keys_.find(key);
    return it == keys_.end() ? 0 : it->second.size();
  }

 private:
  struct waiter {
    std::uint64_t id;
    T value;
  };
  mutable std::mutex m_;
  const std::size_t max_waiting_;
  std::unordered_map<std::string, std::deque<waiter>> keys_;
  std::size_t waiting_ = 0;
  std::uint64_t next_id_ = 0;
};

}  // namespace dragoman::bridge
