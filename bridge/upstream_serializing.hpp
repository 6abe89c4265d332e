// serialize_by in the pool: a call of such an operation is routed once it holds its key (one
// call in flight per key value, over every connection and endpoint); until then it waits, first
// come first served, bounded, its deadline on a timer. The pool releases the key when it answers
// the call, whatever the answer, so retries keep it.
#pragma once

#include "bridge/serializer.hpp"
#include "bridge/upstream_shared.hpp"

#include <functional>
#include <memory>
#include <string>

namespace dragoman::bridge {

class upstream_serializing : public std::enable_shared_from_this<upstream_serializing> {
 public:
  using route_fn = std::function<void(pending_call_ptr)>;
  using finish_fn = std::function<void(pending_call_ptr, call_result&&)>;
  // max_waiting: calls that may wait over every key.
  upstream_serializing(std::size_t max_waiting, std::shared_ptr<upstream_counters> counters);
  // route: sends a call that holds its key; finish: answers one that will not be sent.
  void set_handlers(route_fn route, finish_fn finish);

  // c's operation has serialize_by: routes it now (holding its key), queues it, or refuses it.
  void admit(pending_call_ptr c, std::chrono::steady_clock::time_point now);
  // A call holding key was answered: the first waiter for it goes on (on its caller's executor).
  void release(const std::string& key);
  std::size_t waiting() const { return keys_.waiting(); }

 private:
  struct waiter {
    pending_call_ptr call;
    std::chrono::steady_clock::time_point since;
  };
  serializer<waiter> keys_;
  std::shared_ptr<upstream_counters> counters_;
  route_fn route_;
  finish_fn finish_;
};

}  // namespace dragoman::bridge
