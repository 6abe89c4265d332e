// Idempotency keys (the IETF httpapi draft "The Idempotency-Key HTTP Header Field"; the line
// door's "idempotency_key"): a call that carries a key the same caller used before, with the same
// operation and fields, within the window, gets the first call's answer again (replayed, no wire
// message); with other fields 422 idempotency_key_reused; while the first is still in flight 409
// in_progress. An engine in front of the others keeps the keys in memory, bounded in count and
// time; calls without a key pass straight through. With a journal, an asynchronous call's key is
// also stored with its message, so its 202 is given again after a restart (journaled_engine).
#pragma once

#include "bridge/call.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace dragoman::bridge {

struct idempotency_options {
  std::size_t max_keys = 100000;               // keys kept at most (the oldest answered go first)
  std::chrono::milliseconds window{86400000};  // how long an answer is kept after it was given
};

// The header's or field's value as a key: an sf-string ("...") or a bare token, 1 to 255
// visible ASCII characters; nullopt when it is not one.
std::optional<std::string> parse_idempotency_key(std::string_view value);
// The key as the engine sees it: scoped to the caller's identity ("" for anonymous callers), so
// that two callers never share one.
std::string scoped_idempotency_key(std::string_view identity, std::string_view key);
// What tells one call's content from another's: the operation and its fields (SHA-256, hex).
std::string idempotency_fingerprint(std::string_view op, const boost::json::object& data);

// The keys in memory. Thread-safe; time is passed in.
class idempotency_store {
 public:
  using clock = std::chrono::steady_clock;
  enum class verdict { fresh, replay, reused, in_progress, full };
  struct lookup {
    verdict v = verdict::fresh;
    call_result answer;  // replay: the first answer
  };

  explicit idempotency_store(idempotency_options o) : opts_(o) {}

  // fresh: the key is now held in flight for this fingerprint: finish() must follow. full:
  // max_keys keys are in flight.
  lookup begin(const std::string& key, const std::string& fingerprint, clock::time_point now);
  // The first call's answer: kept for the window. Answers that say no byte reached a host
  // (retry_safe codes) are not kept: the key is free for another attempt.
  void finish(const std::string& key, const call_result& r, clock::time_point now);

  std::size_t size() const;
  std::uint64_t replays() const;

 private:
  struct entry {
    std::string fingerprint;
    bool done = false;
    call_result answer;
    clock::time_point expires{};
  };
  void purge(clock::time_point now);  // under mutex_

  idempotency_options opts_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
  std::deque<std::pair<clock::time_point, std::string>> answered_;  // in the order answered
  std::uint64_t replays_ = 0;
};

std::unique_ptr<call_engine> make_idempotent_engine(std::unique_ptr<call_engine> inner,
                                                    idempotency_options o);

}  // namespace dragoman::bridge
