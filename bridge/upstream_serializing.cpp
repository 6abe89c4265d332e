// serialize_by in the pool: keys from the request's fields, waiters with deadline timers.
#include "bridge/upstream_serializing.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>

namespace dragoman::bridge {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {

// The key: each field's record name and value ("terminal_id=T1"), so operations naming the same
// fields share keys.
std::string key_of(const pending_call& c) {
  std::string key;
  for (std::size_t i : c.op->serialize_by) {
    if (!key.empty()) key += '\x1f';
    key += c.op->request.fields[i].name;
    key += '=';
    key += c.request.get(i);
  }
  return key;
}

call_result refusal(call_code code, std::string message) {
  call_result r = make_error_result(code, std::move(message));
  if (code == call_code::upstream_timeout) r.retry_after_seconds.reset();
  return r;
}

}  // namespace

upstream_serializing::upstream_serializing(std::size_t max_waiting,
                                           std::shared_ptr<upstream_counters> counters)
    : keys_(max_waiting), counters_(std::move(counters)) {}

void upstream_serializing::set_handlers(route_fn route, finish_fn finish) {
  route_ = std::move(route);
  finish_ = std::move(finish);
}

void upstream_serializing::admit(pending_call_ptr c, steady::time_point now) {
  std::string key = key_of(*c);
  const auto caller = c->caller;
  const auto deadline = c->deadline;
  waiter w{std::move(c), now};
  std::uint64_t id = 0;
  switch (keys_.acquire(key, w, id)) {
    case serializer<waiter>::verdict::go:
      w.call->serial_key = std::move(key);
      return route_(std::move(w.call));
    case serializer<waiter>::verdict::full:
      ++counters_->serialize_refused;
      return finish_(std::move(w.call),
                     refusal(call_code::overloaded,
                             "too many calls wait for a call in flight with the same "
                             "serialize_by key"));
    case serializer<waiter>::verdict::wait:
      break;
  }
  if (!caller) return;  // no executor for a timer: it waits for its key without one
  // Its deadline while it waits; when it has its key by then, the timer finds nothing to do.
  auto timer = std::make_shared<asio::steady_timer>(caller, deadline);
  timer->async_wait(
      [self = shared_from_this(), timer, key = std::move(key), id](boost::system::error_code) {
        auto gone = self->keys_.cancel(key, id);
        if (!gone) return;
        ++self->counters_->serialize_timeouts;
        std::string shown = key;
        std::replace(shown.begin(), shown.end(), '\x1f', ',');
        self->finish_(std::move(gone->call),
                      refusal(call_code::upstream_timeout,
                              "the deadline passed while waiting for the call in flight with " +
                                  shown + " (serialize_by)"));
      });
}

void upstream_serializing::release(const std::string& key) {
  auto next = keys_.release(key);
  if (!next) return;
  counters_->serialize_wait.observe(
      std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - next->since));
  pending_call_ptr c = std::move(next->call);
  c->serial_key = key;
  const auto caller = c->caller;
  if (!caller) return route_(std::move(c));
  asio::post(caller, [self = shared_from_this(), c = std::move(c)]() mutable {
    self->route_(std::move(c));
  });
}

}  // namespace dragoman::bridge
