// Result hand-off to callers: posted, or inline on the caller's own thread under the guards.
#include "bridge/call_handoff.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace dragoman::bridge {

namespace asio = boost::asio;

namespace {

struct delivering_scope {
  delivering_scope() noexcept { ++handoff_detail::delivering; }
  ~delivering_scope() { --handoff_detail::delivering; }
  delivering_scope(const delivering_scope&) = delete;
  delivering_scope& operator=(const delivering_scope&) = delete;
};

}  // namespace

void post_result(const asio::any_io_executor& caller, call_handler&& done, call_result r) {
  if (!done) return;
  if (!caller) {
    done(std::move(r));
    return;
  }
  asio::post(caller, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

void dispatch_result(const asio::any_io_executor& caller, call_handler&& done, call_result r) {
  if (!done) return;
  if (!caller) {
    done(std::move(r));
    return;
  }
  if (handoff_detail::submitting > 0) return post_result(caller, std::move(done), std::move(r));
  // The common case, the caller's door on this very thread: a plain call.
  if (auto* ex = caller.target<asio::io_context::executor_type>();
      ex && ex->running_in_this_thread()) {
    delivering_scope scope;
    done(std::move(r));
    return;
  }
  asio::dispatch(caller, [done = std::move(done), r = std::move(r)]() mutable {
    delivering_scope scope;
    done(std::move(r));
  });
}

}  // namespace dragoman::bridge
