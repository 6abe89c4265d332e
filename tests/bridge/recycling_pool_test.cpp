// Tests for the bounded per-thread free lists of bridge/recycling_pool.hpp: reuse, the bound,
// recycled objects as good as new, objects released on another thread, and the pooled calls
// (pending_call keeps its record's and frame's storage; tracked_call's memory is reused).
#define BOOST_TEST_MODULE recycling_pool_test
#include <boost/test/unit_test.hpp>

#include "bridge/call_book.hpp"
#include "bridge/recycling_pool.hpp"
#include "bridge/upstream_shared.hpp"

#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace dragoman;
using bridge::block_pool;
using bridge::recycling_pool;

namespace {

struct widget {
  static inline int alive = 0;
  std::string text;
  int recycled = 0;
  widget() { ++alive; }
  ~widget() { --alive; }
  void recycle() noexcept {
    text.clear();  // keeps its capacity
    ++recycled;
  }
};
using widget_pool = recycling_pool<widget, 4>;

struct block {
  char bytes[48];
  static void* operator new(std::size_t n) { return block_pool<block, 3>::allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept {
    block_pool<block, 3>::deallocate(p, n);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_released_object_is_the_next_one_made_and_comes_back_recycled) {
  auto a = widget_pool::make();
  a->text.assign(100, 'x');
  const std::size_t capacity = a->text.capacity();
  widget* raw = a.get();
  a.reset();
  BOOST_TEST(widget_pool::kept() == 1u);
  auto b = widget_pool::make();
  BOOST_TEST(b.get() == raw);
  BOOST_TEST(b->text.empty());
  BOOST_TEST(b->text.capacity() == capacity);  // what it held is kept
  BOOST_TEST(b->recycled == 1);
  BOOST_TEST(widget_pool::kept() == 0u);
}

BOOST_AUTO_TEST_CASE(a_thread_keeps_at_most_the_bound_and_frees_the_rest) {
  const int before = widget::alive - static_cast<int>(widget_pool::kept());
  {
    std::vector<widget_pool::pointer> many;
    for (int i = 0; i < 10; ++i) many.push_back(widget_pool::make());
    BOOST_TEST(widget::alive == before + 10);
  }
  BOOST_TEST(widget_pool::kept() == widget_pool::capacity);
  BOOST_TEST(widget::alive == before + static_cast<int>(widget_pool::capacity));
  // Made again: the kept ones first, all distinct, then new ones.
  std::set<widget*> seen;
  std::vector<widget_pool::pointer> again;
  for (int i = 0; i < 6; ++i) {
    again.push_back(widget_pool::make());
    seen.insert(again.back().get());
  }
  BOOST_TEST(seen.size() == 6u);
  BOOST_TEST(widget_pool::kept() == 0u);
}

BOOST_AUTO_TEST_CASE(an_object_released_on_another_thread_joins_that_threads_list) {
  auto a = widget_pool::make();
  widget* raw = a.get();
  std::size_t kept_there = 0;
  widget* made_there = nullptr;
  std::thread t([&] {
    a.reset();
    kept_there = widget_pool::kept();
    auto b = widget_pool::make();
    made_there = b.get();
    b.reset();
  });  // the thread's list is freed when it ends
  t.join();
  BOOST_TEST(kept_there == 1u);
  BOOST_TEST(made_there == raw);
}

BOOST_AUTO_TEST_CASE(blocks_are_reused_up_to_the_bound) {
  void* first = nullptr;
  {
    auto* b = new block;
    first = b;
    delete b;
  }
  BOOST_TEST((block_pool<block, 3>::kept() == 1u));
  auto* again = new block;
  BOOST_TEST(static_cast<void*>(again) == first);
  std::vector<block*> many;
  for (int i = 0; i < 8; ++i) many.push_back(new block);
  for (block* b : many) delete b;
  delete again;
  BOOST_TEST((block_pool<block, 3>::kept() == 3u));
}

BOOST_AUTO_TEST_CASE(a_pending_call_comes_back_fresh_with_its_storage) {
  auto c = bridge::make_pending_call();
  c->request.reset(3);
  c->request.set(1, std::string(64, 'v'));
  c->frame.assign(200, codecs::byte{1});
  c->request_id = "call-1";
  c->attempts = 2;
  c->written = true;
  c->serial_key = "k";
  c->done = [](bridge::call_result&&) {};
  const std::size_t frame_capacity = c->frame.capacity();
  bridge::pending_call* raw = c.get();
  c.reset();
  auto d = bridge::make_pending_call();
  BOOST_REQUIRE(d.get() == raw);
  BOOST_TEST(d->request.size() == 0u);
  BOOST_TEST(!d->request.has(1));
  BOOST_TEST(d->frame.empty());
  BOOST_TEST(d->frame.capacity() == frame_capacity);
  BOOST_TEST(d->request_id.empty());
  BOOST_TEST(d->attempts == 0);
  BOOST_TEST(!d->written);
  BOOST_TEST(d->serial_key.empty());
  BOOST_TEST(!d->done);
  BOOST_TEST(!d->bundle);
  BOOST_TEST(d->op == nullptr);
}

BOOST_AUTO_TEST_CASE(a_tracked_calls_memory_is_reused) {
  auto* t = new bridge::tracked_call;
  void* raw = t;
  delete t;
  auto u = std::make_unique<bridge::tracked_call>();
  BOOST_TEST(static_cast<void*>(u.get()) == raw);
  BOOST_TEST(!u->call);  // made afresh
}
