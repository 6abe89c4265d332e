#include "journal/delivery.hpp"

#include <algorithm>

namespace dragoman::journal {

std::int64_t delivery_backoff_ms(const delivery_policy& p, int attempt) noexcept {
  std::int64_t d = std::max<std::int64_t>(p.backoff_min_ms, 0);
  for (int i = 2; i < attempt && d < p.backoff_max_ms; ++i) d *= 2;
  return std::min(d, std::max(p.backoff_max_ms, p.backoff_min_ms));
}

void delivery_queue::add(std::int64_t id, const delivery_policy& p, std::string order_key,
                         int attempts, std::int64_t next_attempt_ms, std::int64_t created_ms,
                         std::optional<std::int64_t> expires_ms) {
  entry e;
  e.id = id;
  e.attempts = attempts;
  e.next_attempt_ms = next_attempt_ms;
  e.expires_ms = expires_ms ? *expires_ms : p.ttl_ms > 0 ? created_ms + p.ttl_ms : 0;
  switch (p.order) {
    case delivery_policy::ordering::parallel:
      parallel_.insert(id);
      break;
    case delivery_policy::ordering::per_key:
      e.queue_key = "k:" + order_key;
      queues_[e.queue_key].push_back(id);
      break;
    case delivery_policy::ordering::global:
      e.queue_key = "*";
      queues_[e.queue_key].push_back(id);
      break;
  }
  entries_.insert_or_assign(id, std::move(e));
}

delivery_queue::due delivery_queue::take_due(std::int64_t now_ms) {
  due d;
  auto consider = [&](entry& e) {
    if (e.in_flight || e.dead) return false;
    if (expired(e, now_ms)) {
      d.expire.push_back(e.id);
      return true;  // removed below; an ordered queue moves on to the next
    }
    if (e.next_attempt_ms > now_ms || in_flight_ >= max_in_flight_) return false;
    e.in_flight = true;
    ++e.attempts;
    ++in_flight_;
    d.send.push_back(e.id);
    return false;
  };
  for (auto id : parallel_) consider(entries_.at(id));
  for (auto& [key, q] : queues_) {
    // Expired heads are dropped one after the other; the first live head is considered once.
    std::size_t i = 0;
    while (i < q.size() && consider(entries_.at(q[i]))) ++i;
  }
  for (auto id : d.expire) drop(id);
  return d;
}

delivery_queue::verdict delivery_queue::report(std::int64_t id, outcome o, const delivery_policy& p,
                                               std::int64_t now_ms) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return verdict::done;
  entry& e = it->second;
  if (e.in_flight) {
    e.in_flight = false;
    --in_flight_;
  }
  if (o != outcome::retryable_failure) {
    drop(id);
    return verdict::done;
  }
  if (e.attempts >= p.max_attempts) {
    if (p.dead_blocks_queue && !e.queue_key.empty()) {
      e.dead = true;
      return verdict::dead;
    }
    drop(id);
    return verdict::dead;
  }
  e.next_attempt_ms = now_ms + delivery_backoff_ms(p, e.attempts + 1);
  return verdict::retry_later;
}

bool delivery_queue::hold_dead(std::int64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.queue_key.empty() || it->second.in_flight) return false;
  it->second.dead = true;
  return true;
}

bool delivery_queue::revive(std::int64_t id, std::int64_t now_ms, const delivery_policy& p) {
  auto it = entries_.find(id);
  if (it == entries_.end() || !it->second.dead) return false;
  it->second.dead = false;
  it->second.attempts = 0;
  it->second.next_attempt_ms = now_ms;
  it->second.expires_ms = p.ttl_ms > 0 ? now_ms + p.ttl_ms : 0;
  return true;
}

bool delivery_queue::remove(std::int64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.in_flight) return false;
  drop(id);
  return true;
}

void delivery_queue::drop(std::int64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  if (it->second.in_flight) --in_flight_;
  if (it->second.queue_key.empty()) {
    parallel_.erase(id);
  } else {
    auto q = queues_.find(it->second.queue_key);
    if (q != queues_.end()) {
      q->second.erase(std::find(q->second.begin(), q->second.end(), id));
      if (q->second.empty()) queues_.erase(q);
    }
  }
  entries_.erase(it);
}

std::optional<std::int64_t> delivery_queue::next_attempt_ms(std::int64_t id) const {
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.next_attempt_ms;
}

int delivery_queue::attempts(std::int64_t id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? 0 : it->second.attempts;
}

std::optional<std::int64_t> delivery_queue::next_wakeup() const {
  std::optional<std::int64_t> best;
  auto note = [&](const entry& e) {
    if (e.in_flight || e.dead) return;
    std::int64_t t = e.next_attempt_ms;
    if (e.expires_ms != 0) t = std::min(t, e.expires_ms);
    if (!best || t < *best) best = t;
  };
  for (auto id : parallel_) note(entries_.at(id));
  for (auto& [key, q] : queues_)
    if (!q.empty()) note(entries_.at(q.front()));
  return best;
}

}  // namespace dragoman::journal
