// The duplicate table of inbound messages (see inbound_dedupe.hpp).
#include "bridge/inbound_dedupe.hpp"

namespace dragoman::bridge {

inbound_dedupe::verdict inbound_dedupe::begin(const std::string& key, time_point now,
                                              std::chrono::milliseconds window,
                                              codecs::byte_buffer& frame, waiter w) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    entry& e = it->second;
    if (e.pending) {
      e.waiters.push_back(std::move(w));
      return verdict::pending;
    }
    if (now < e.expires) {
      frame = e.frame;
      return verdict::answered;
    }
    e = entry{};  // the window passed: a new message with an old key
    e.window = window;
    return verdict::fresh;
  }
  evict_locked(now);
  entry e;
  e.window = window;
  entries_.emplace(key, std::move(e));
  order_.push_back(key);
  return verdict::fresh;
}

void inbound_dedupe::finish(const std::string& key, const codecs::byte_buffer& frame, bool remember,
                            time_point now) {
  std::vector<waiter> waiters;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    waiters.swap(it->second.waiters);
    if (remember) {
      it->second.pending = false;
      it->second.frame = frame;
      it->second.expires = now + it->second.window;
    } else {
      entries_.erase(it);  // its key stays in order_ until eviction skips it
    }
  }
  for (auto& w : waiters) w(frame);
}

// Makes room for one more: expired entries and keys already forgotten first, then the oldest
// answered; pending entries stay (they are bounded by the deliveries in flight).
void inbound_dedupe::evict_locked(time_point now) {
  std::size_t scanned = 0;
  const std::size_t limit = order_.size();
  while (entries_.size() >= max_entries_ && scanned++ < limit && !order_.empty()) {
    std::string key = std::move(order_.front());
    order_.pop_front();
    auto it = entries_.find(key);
    if (it == entries_.end()) continue;
    if (it->second.pending) {
      order_.push_back(std::move(key));
      continue;
    }
    entries_.erase(it);
  }
  // Keys of forgotten entries stay in order_ until here: it is compacted when twice the bound.
  if (order_.size() >= 2 * max_entries_) {
    std::deque<std::string> kept;
    std::unordered_map<std::string, bool> seen;
    for (auto& k : order_)
      if (entries_.count(k) && seen.emplace(k, true).second) kept.push_back(std::move(k));
    order_.swap(kept);
  }
  (void)now;
}

std::size_t inbound_dedupe::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace dragoman::bridge
