// Handing a call's result back to its caller, and the one threading rule for inline hand-offs:
// while a call is handed to a connection inline, its results are posted (a caller never sees its
// answer inside its own submit()); while an answer is handed to its caller inline, new calls are
// posted (a connection is never re-entered from inside its own read handler).
#pragma once

#include "bridge/call.hpp"

#include <boost/asio/any_io_executor.hpp>

namespace dragoman::bridge {

namespace handoff_detail {
inline constinit thread_local int submitting = 0;
inline constinit thread_local int delivering = 0;
}  // namespace handoff_detail

// Posts the result to the caller's executor (runs it inline when the executor is empty).
void post_result(const boost::asio::any_io_executor& caller, call_handler&& done, call_result r);

// From a connection's own handler: when the caller lives on this thread's io_context the answer
// is handed over at once (no queue round trip, no extra epoll_wait); otherwise it is posted.
void dispatch_result(const boost::asio::any_io_executor& caller, call_handler&& done,
                     call_result r);

// True unless an answer is being handed to a caller on this thread right now.
inline bool may_submit_inline() noexcept {
  return handoff_detail::delivering == 0;
}

// Held while a call enters a connection inline: answers produced meanwhile are posted.
class submit_scope {
 public:
  submit_scope() noexcept { ++handoff_detail::submitting; }
  ~submit_scope() { --handoff_detail::submitting; }
  submit_scope(const submit_scope&) = delete;
  submit_scope& operator=(const submit_scope&) = delete;
};

}  // namespace dragoman::bridge
