// Tests for bridge::call_handler (bridge/call.hpp): a door's closure is held inside (no heap), a
// big one on the heap; copies, moves, reassignment and destruction keep each callable exactly
// once; an empty handler says so.
#define BOOST_TEST_MODULE call_handler_test
#include <boost/test/unit_test.hpp>

#include "bridge/call.hpp"

#include <array>
#include <functional>
#include <memory>
#include <string>

using dragoman::bridge::call_code;
using dragoman::bridge::call_handler;
using dragoman::bridge::call_result;

namespace {

// A closure the size of the line door's: a shared_ptr and the answer's id, request id, op, time.
struct door_like {
  std::shared_ptr<int> owner;
  boost::json::value id;
  std::string request_id;
  std::string op;
  std::chrono::steady_clock::time_point started;
  bool trace = false;
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_door_sized_closure_is_held_inside_and_called_with_the_result) {
  auto owner = std::make_shared<int>(0);
  door_like info{owner, "abc", "a request id longer than the small string", "get", {}, false};
  call_code seen = call_code::ok;
  call_handler h = [&seen, info](call_result&& r) mutable {
    seen = r.code;
    ++*info.owner;
  };
  BOOST_TEST(h.stored_inline());
  BOOST_TEST(owner.use_count() == 3);  // owner, info, the closure's copy of info
  call_result r;
  r.code = call_code::rejected;
  h(std::move(r));
  BOOST_TEST((seen == call_code::rejected));
  BOOST_TEST(*owner == 1);
  h = nullptr;
  BOOST_TEST(!h);
  BOOST_TEST(owner.use_count() == 2);  // the closure was destroyed once
}

BOOST_AUTO_TEST_CASE(a_big_closure_goes_to_the_heap_and_behaves_the_same) {
  auto owner = std::make_shared<int>(0);
  std::array<char, 512> big{};
  big[0] = 'x';
  call_handler h = [owner, big](call_result&&) { *owner += big[0]; };
  BOOST_TEST(!h.stored_inline());
  call_handler copy = h;
  BOOST_TEST(owner.use_count() == 3);
  call_handler moved = std::move(h);
  BOOST_TEST(!h);  // NOLINT(bugprone-use-after-move): moved-from is empty
  BOOST_TEST(owner.use_count() == 3);
  moved(call_result{});
  copy(call_result{});
  BOOST_TEST(*owner == 2 * 'x');
  moved = copy;  // assignment releases what it held
  BOOST_TEST(owner.use_count() == 3);
  { call_handler gone = std::move(moved); }
  BOOST_TEST(owner.use_count() == 2);
}

BOOST_AUTO_TEST_CASE(copies_and_moves_of_an_inline_closure_keep_one_callable_each) {
  auto owner = std::make_shared<int>(0);
  call_handler a = [owner](call_result&&) { ++*owner; };
  BOOST_TEST(a.stored_inline());
  call_handler b = a;
  call_handler c = std::move(a);
  BOOST_TEST(!a);  // NOLINT(bugprone-use-after-move)
  BOOST_TEST(owner.use_count() == 3);
  b = std::move(c);
  BOOST_TEST(owner.use_count() == 2);
  b(call_result{});
  BOOST_TEST(*owner == 1);
  // Into a std::function, as the engines' own wrappers take it.
  std::function<void(call_result &&)> f = b;
  f(call_result{});
  BOOST_TEST(*owner == 2);
}

BOOST_AUTO_TEST_CASE(an_empty_handler_is_false_and_throws_when_called) {
  call_handler h;
  BOOST_TEST(!h);
  BOOST_CHECK_THROW(h(call_result{}), std::bad_function_call);
  call_handler n = nullptr;
  BOOST_TEST(!n);
}
