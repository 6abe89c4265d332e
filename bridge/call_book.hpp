// The calls of one upstream connection: who owns them, the waiting queue, the calls in flight
// (keyed by correlation key, or in sending order: two small policies), one deadline structure,
// the keys of recent timeouts. It returns decisions and never acts: no Asio, no sockets, no
// logging; time points are passed in, so it is tested with a clock driven by hand.
#pragma once

#include "bridge/correlation.hpp"
#include "bridge/recycling_pool.hpp"
#include "bridge/upstream_shared.hpp"
#include "codecs/profile.hpp"
#include "codecs/record.hpp"

#include <boost/intrusive/set.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace dragoman::bridge {

// One attempt of a call on one connection: an app call, or a session message of the connection's.
struct tracked_call {
  enum class kind { app, sign_on, echo, sign_off };
  enum class place { none, queued, in_flight };

  kind what = kind::app;
  pending_call_ptr call;                   // app calls
  std::shared_ptr<profile_bundle> bundle;  // the profile its request and reply use
  const codecs::operation* op = nullptr;
  codecs::record own_request;  // session messages
  bool key_generated = false;  // the book assigns the correlation key when it is sent
  bool probe = false;          // the breaker's half-open probe
  std::chrono::steady_clock::time_point deadline;  // the call's own
  std::chrono::steady_clock::time_point sent_at;
  std::uint64_t batch = 0;  // the write batch that carries its frame
  std::uint64_t seq = 0;    // session.sequence: the number its frame carries (0: none)

  // The book's: where it is, and its entries.
  place at = place::none;
  std::string key;                            // normalized correlation key while in flight (keyed)
  std::chrono::steady_clock::time_point due;  // its place among the book's deadlines
  boost::intrusive::set_member_hook<boost::intrusive::link_mode<boost::intrusive::normal_link>>
      deadline_hook;
  std::list<tracked_call*>::iterator queue_it;

  bool is_app() const noexcept { return what == kind::app; }
  codecs::record& request() { return call ? call->request : own_request; }

  // One per attempt: their memory comes from a bounded per-thread free list.
  static void* operator new(std::size_t n) { return block_pool<tracked_call>::allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept {
    block_pool<tracked_call>::deallocate(p, n);
  }
};

namespace book_detail {
struct due_of {
  using type = std::chrono::steady_clock::time_point;
  const type& operator()(const tracked_call& c) const noexcept { return c.due; }
};
// The calls by expiry, earliest first (equal times in adoption order); linked through the calls
// themselves, so adopting one allocates nothing.
using deadline_set = boost::intrusive::multiset<
    tracked_call,
    boost::intrusive::member_hook<tracked_call, decltype(tracked_call::deadline_hook),
                                  &tracked_call::deadline_hook>,
    boost::intrusive::key_of_value<due_of>, boost::intrusive::constant_time_size<false>>;
}  // namespace book_detail

class call_book {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  struct limits {
    std::size_t max_in_flight = 4096;  // keyed; and in order when the profile says "ordered"
    std::size_t max_queued = 4096;
    // In order a timed-out call keeps its place (replies come in order): its reply may still
    // come, and the connection is replaced if it has not within this grace.
    std::chrono::milliseconds late_grace{2000};
  };

  // queued_gauge: the endpoint's count of queued calls, kept in step with this book's queue.
  call_book(limits l, std::atomic<std::size_t>* queued_gauge) noexcept
      : limits_(l), queued_gauge_(queued_gauge) {}
  call_book(const call_book&) = delete;
  call_book& operator=(const call_book&) = delete;
  ~call_book();  // the calls it still holds are destroyed unanswered

  // The correlation mode of the profile the connection speaks (on every connect), and the
  // profile's own limit of calls in flight (0: none; else the lower of it and limits).
  void set_mode(codecs::correlation_mode mode, std::size_t profile_limit = 0);
  bool keyed() const noexcept { return keyed_; }

  // ---- ownership and deadlines ----
  // Takes the call; it expires at `when` (its deadline, or earlier while it waits in the queue).
  tracked_call* adopt(std::unique_ptr<tracked_call> c, time_point when);
  // Hands a call back, out of the queue or flight. In order, its place stays until its reply
  // comes or the grace ends (now + late_grace).
  std::unique_ptr<tracked_call> release(tracked_call* c, time_point now);
  // The earliest time something is due: a deadline, or the end of a late place's grace.
  time_point next_deadline() const noexcept;
  bool empty() const noexcept { return deadlines_.empty(); }

  // ---- the queue ----
  bool queue_empty() const noexcept { return queue_.empty(); }
  bool queue_full() const noexcept { return queue_.size() >= limits_.max_queued; }
  void enqueue(tracked_call* c);
  // The oldest queued call when one more may be sent now (its expiry back to its own deadline).
  tracked_call* next_to_send();

  // ---- in flight ----
  bool can_send() const noexcept {
    return keyed_ ? keyed_calls_.size() < flight_limit_ : ordered_.size() < flight_limit_;
  }
  // More than one call may be in flight at once (keyed, or "ordered"): a full connection refuses
  // a call (overloaded) instead of queueing it.
  bool pipelined() const noexcept { return flight_limit_ > 1; }
  std::size_t in_flight() const noexcept { return keyed_ ? keyed_calls_.size() : ordered_.size(); }
  bool idle() const noexcept { return keyed_ ? keyed_calls_.empty() : ordered_.empty(); }
  enum class key_check { ok, no_correlation_field, no_free_key, already_in_flight };
  // Keyed: assigns the correlation key when the call's is generated (unique among the calls in
  // flight and recent timeouts) and computes the key to match its reply by.
  key_check prepare_key(tracked_call* c);
  // The call's frame is written in batch `batch`: it is in flight now.
  void sent(tracked_call* c, time_point now, std::uint64_t batch) {
    c->at = tracked_call::place::in_flight;
    c->sent_at = now;
    c->batch = batch;
    if (keyed_)
      keyed_calls_.emplace(c->key, c);
    else
      ordered_.push_back({c, {}});
  }

  // ---- replies ----
  // In order: the call the next reply answers (null for a timed-out call's place, or none).
  const tracked_call* head() const noexcept {
    return ordered_.empty() ? nullptr : ordered_.front().call;
  }
  struct match {
    enum class kind { call, late, unmatched } what = kind::unmatched;
    tracked_call* call = nullptr;
  };
  // In order: the oldest place leaves; its call (taken out of flight) or a late reply.
  match take_head() {
    if (ordered_.empty()) return {};
    tracked_call* c = ordered_.front().call;
    ordered_.pop_front();
    if (!c) return {match::kind::late, nullptr};
    c->at = tracked_call::place::none;  // its place is gone already
    return {match::kind::call, c};
  }
  // Keyed: the call the reply's key belongs to, a late reply (the key of a recent timeout,
  // forgotten now), or unmatched (key_text() says which key, "(none)" when the reply has none).
  match match_key(const codecs::message_def& msg, const codecs::record& reply);
  const std::string& key_text() const noexcept { return key_scratch_; }
  // Keyed: the call in flight whose frame carried sequence number n (session.sequence), so that a
  // reply naming it (msg.reference_field) finds it.
  void numbered(tracked_call* c, std::uint64_t n) {
    c->seq = n;
    if (keyed_ && n) by_seq_[n] = c;
  }
  // In order: the oldest place is a timed-out call's (its grace is due next).
  bool head_is_late() const noexcept { return !ordered_.empty() && !ordered_.front().call; }
  // Whether place in order is waiting for a timed-out call's reply beyond its grace.
  bool late_grace_over(time_point now) const noexcept;

  // ---- deadlines ----
  struct expiry {
    std::unique_ptr<tracked_call> call;
    bool in_flight = false;  // else it was queued (or between queue and wire)
  };
  // The earliest call due by now, taken out of the book (a keyed call's key is remembered as
  // a recent timeout, so that its late reply counts as late, not unmatched). An app call in
  // flight is marked written: its frame is on the socket or queued behind a write in progress,
  // and goes out either way.
  std::optional<expiry> expire_next(time_point now);

  // ---- teardown ----
  // Every call in flight (and queued, with_queued), out of the book in deadline order. App calls
  // in flight whose batch reached the socket (batch <= batches_written) are marked written: no
  // blind resend. Places in order are forgotten.
  std::vector<std::unique_ptr<tracked_call>> take_all(bool with_queued,
                                                      std::uint64_t batches_written);
  // Forgets what is in flight without answering it (the drain deadline passed: what is in
  // flight now is session traffic).
  void forget_in_flight() noexcept;
  // A new connection: keys of timeouts on the old one cannot come back.
  void forget_late_keys() noexcept;

 private:
  void retime(tracked_call* c, time_point when);
  void remember_timed_out(const std::string& key);

  limits limits_;
  std::atomic<std::size_t>* queued_gauge_;
  bool keyed_ = false;
  std::size_t flight_limit_ = 1;  // keyed or in order

  book_detail::deadline_set deadlines_;  // owns every call
  std::list<tracked_call*> queue_;
  std::unordered_map<std::string, tracked_call*> keyed_calls_;
  std::unordered_map<std::uint64_t, tracked_call*> by_seq_;
  struct ordered_place {
    tracked_call* call;  // null once timed out
    time_point late_until;
  };
  std::deque<ordered_place> ordered_;
  std::unordered_set<std::string> timed_out_set_;
  std::deque<std::string> timed_out_order_;
  key_allocator keys_;
  std::string key_scratch_;
  std::string key_rest_;
};

}  // namespace dragoman::bridge
