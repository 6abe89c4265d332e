// Delivery by subscription: line-door connections that asked for the host's messages of some
// inbound operations, and the messages handed to them. Several subscribers of an operation share
// its messages (round robin among those with room, one delivery per message); a subscriber that
// leaves hands what it held to another subscriber of the operation, or back to the caller
// (done(nullopt): deliver it another way). Bookkeeping only, thread-safe: it decides under its
// lock and acts (sink->deliver, done) after releasing it; time comes in as arguments.
#pragma once

#include "bridge/deliver_client.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dragoman::codecs {
struct profile;
}

namespace dragoman::bridge {

// A subscribed connection. deliver() is called from any thread, outside the registry's lock: the
// sink posts the line to its own thread.
class subscriber_sink {
 public:
  virtual ~subscriber_sink() = default;
  virtual void deliver(const deliver_request& r) = 0;
};

struct subscription_options {
  std::size_t max_in_flight = 64;  // deliveries a subscriber holds unanswered; more wait
  std::size_t max_waiting = 4096;  // deliveries waiting for room, all operations together
};

class line_subscriptions {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  // How a delivery ends, called exactly once from any thread: the subscriber's answer (accepted,
  // refused, timeout, or unreachable when no room was left to wait in), or nullopt when no
  // subscriber of its operation is left to take it (deliver it another way).
  using done_fn = std::function<void(std::optional<deliver_response>)>;

  explicit line_subscriptions(subscription_options o = {});
  line_subscriptions(const line_subscriptions&) = delete;
  line_subscriptions& operator=(const line_subscriptions&) = delete;

  // The operations a subscription may name: the profile's inbound ones (at start, on reload).
  void set_operations(const codecs::profile& p);
  // The same from (name, inbound) pairs.
  void set_operations(const std::vector<std::pair<std::string, bool>>& ops);

  // A new subscriber (no operations yet); its id names it in the calls below.
  std::uint64_t attach(std::shared_ptr<subscriber_sink> sink);
  // Adds operations to a subscriber: "" when done, else a sentence naming the first bad name
  // (nothing is added then). Messages already waiting for those operations are handed out.
  std::string subscribe(std::uint64_t sub, const std::vector<std::string>& ops);
  // The subscriber's answer to a message it holds (the oldest with that message id): false when
  // it holds none (answered already, timed out, handed elsewhere, or never sent).
  bool reply(std::uint64_t sub, std::string_view message_id, deliver_response answer);
  // The subscriber is gone: each message it held goes to another subscriber of its operation,
  // or ends with done(nullopt).
  void detach(std::uint64_t sub);

  // A message for r.op: false when no subscriber has that operation (done is not kept); true
  // when taken: handed to a subscriber with room, or waiting for room, until deadline.
  bool offer(deliver_request r, time_point deadline, done_fn done);
  // Ends the deliveries (held or waiting) whose deadline is at or before now with a timeout.
  void expire(time_point now);

  struct counts {
    std::size_t subscribers = 0;  // attached, with at least one operation
    std::size_t held = 0;         // delivered, not yet answered
    std::size_t waiting = 0;      // waiting for a subscriber's room
  };
  counts snapshot() const;
  const subscription_options& options() const noexcept { return o_; }

 private:
  struct delivery {
    deliver_request request;
    time_point deadline;
    done_fn done;
    std::uint64_t holder = 0;  // subscriber id; 0 while waiting
  };
  struct subscriber {
    std::shared_ptr<subscriber_sink> sink;
    std::vector<std::string> ops;
    std::vector<std::uint64_t> held;  // delivery ids, oldest first
  };
  struct op_state {
    std::vector<std::uint64_t> subs;  // subscriber ids, round robin from next
    std::size_t next = 0;
    std::deque<std::uint64_t> waiting;  // delivery ids, oldest first
  };
  using actions = std::vector<std::function<void()>>;

  bool place(std::uint64_t id, actions& todo);  // to a subscriber with room; false: none
  void hand(std::uint64_t sub_id, subscriber& s, std::uint64_t id, actions& todo);
  void fill(std::uint64_t sub_id, actions& todo);  // room freed: waiting messages first
  void unlink(std::uint64_t id);  // out of its holder's list or its operation's queue
  void end(std::uint64_t id, std::optional<deliver_response> r, actions& todo);
  static void run(actions& todo);

  subscription_options o_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, bool> known_;  // operation → inbound
  std::uint64_t next_sub_ = 0;
  std::uint64_t next_delivery_ = 0;
  std::unordered_map<std::uint64_t, subscriber> subs_;
  std::unordered_map<std::string, op_state> ops_;
  std::unordered_map<std::uint64_t, delivery> deliveries_;
  std::size_t waiting_ = 0;
};

}  // namespace dragoman::bridge
