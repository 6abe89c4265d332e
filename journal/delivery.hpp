// What to send next, for the journal's messages: the per-operation delivery policy (ordered per
// key, globally or parallel; attempts, backoff, time to live; what a dead message does to its
// queue) applied to the unfinished messages kept in memory. Pure logic: the caller journals each
// decision, sends, and reports the outcome; time is passed in (milliseconds since the epoch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace dragoman::journal {

struct delivery_policy {
  enum class ordering { parallel, per_key, global };
  ordering order = ordering::parallel;
  int max_attempts = 5;                 // sends of one message at most, the first included
  std::int64_t backoff_min_ms = 500;    // before the second attempt
  std::int64_t backoff_max_ms = 60000;  // doubling per attempt up to this
  std::int64_t ttl_ms = 0;              // a message older than this is never sent; 0: no limit
  // A dead message at the head of an ordered queue: moved aside (the queue goes on) or kept
  // there (the queue waits until an operator retries or discards it).
  bool dead_blocks_queue = false;
};

// The delay before attempt `attempt` (2 = the first retry): min doubled per attempt, capped.
std::int64_t delivery_backoff_ms(const delivery_policy& p, int attempt) noexcept;

class delivery_queue {
 public:
  struct entry {
    std::int64_t id = 0;
    std::string queue_key;  // "" for parallel messages; the key (or "*") for ordered ones
    int attempts = 0;       // sends so far
    std::int64_t next_attempt_ms = 0;
    std::int64_t expires_ms = 0;  // 0: never
    bool in_flight = false;
    bool dead = false;  // kept at its queue's head (dead_blocks_queue)
  };
  enum class outcome { delivered, final_failure, retryable_failure };
  enum class verdict { done, retry_later, dead };
  struct due {
    std::vector<std::int64_t> send;    // marked in flight: send each now
    std::vector<std::int64_t> expire;  // past their time to live: never sent, removed
  };

  explicit delivery_queue(std::size_t max_in_flight = 64) : max_in_flight_(max_in_flight) {}

  // A message accepted (or found unfinished at start). Ordered messages are delivered in the
  // order of add() within their queue key: add them in the journal's id order. Its time to live
  // ends at created_ms + p.ttl_ms, or at expires_ms when given (0: never; a retried message's
  // time to live counts from its retry).
  void add(std::int64_t id, const delivery_policy& p, std::string order_key, int attempts,
           std::int64_t next_attempt_ms, std::int64_t created_ms,
           std::optional<std::int64_t> expires_ms = std::nullopt);
  // A dead message found at start that must keep its ordered queue waiting (dead_blocks_queue):
  // add() it in id order, then hold it here. False for a parallel or unknown message.
  bool hold_dead(std::int64_t id);

  // Everything that may be sent now: each parallel message whose time has come, and the head of
  // each ordered queue when nothing of that queue is in flight. At most max_in_flight in flight.
  due take_due(std::int64_t now_ms);

  // The outcome of a send of an in-flight message. retry_later: next_attempt_ms() says when.
  verdict report(std::int64_t id, outcome o, const delivery_policy& p, std::int64_t now_ms);

  // An operator's retry of a dead message kept at its queue's head (attempts start over, due
  // now; its time to live, if p has one, counts from now), or its discard. False when the id is
  // not held here as dead (revive) or is in flight (remove).
  bool revive(std::int64_t id, std::int64_t now_ms, const delivery_policy& p);
  bool remove(std::int64_t id);

  std::optional<std::int64_t> next_attempt_ms(std::int64_t id) const;
  int attempts(std::int64_t id) const;
  // The earliest time at which take_due may return something new (nullopt: nothing waits on
  // time; an outcome or an add may still make something due).
  std::optional<std::int64_t> next_wakeup() const;
  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t in_flight() const noexcept { return in_flight_; }

 private:
  bool expired(const entry& e, std::int64_t now_ms) const noexcept {
    return e.expires_ms != 0 && now_ms >= e.expires_ms;
  }
  void drop(std::int64_t id);

  std::size_t max_in_flight_;
  std::size_t in_flight_ = 0;
  std::unordered_map<std::int64_t, entry> entries_;
  std::set<std::int64_t> parallel_;                         // in id order
  std::map<std::string, std::deque<std::int64_t>> queues_;  // ordered queues by key
};

}  // namespace dragoman::journal
