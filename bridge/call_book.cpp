// Call bookkeeping of one upstream connection: queue, flight (keyed or in order), deadlines.
#include "bridge/call_book.hpp"

#include <algorithm>

namespace dragoman::bridge {

void call_book::set_mode(codecs::correlation_mode mode, std::size_t profile_limit) {
  keyed_ = mode == codecs::correlation_mode::field;
  flight_limit_ = 1;
  if (mode != codecs::correlation_mode::sequential) {
    flight_limit_ = std::max<std::size_t>(1, limits_.max_in_flight);
    if (profile_limit > 0) flight_limit_ = std::min(flight_limit_, profile_limit);
  }
}

call_book::~call_book() {
  deadlines_.clear_and_dispose([](tracked_call* c) { delete c; });
}

tracked_call* call_book::adopt(std::unique_ptr<tracked_call> c, time_point when) {
  tracked_call* raw = c.release();
  raw->due = when;
  deadlines_.insert(*raw);
  return raw;
}

void call_book::retime(tracked_call* c, time_point when) {
  deadlines_.erase(deadlines_.iterator_to(*c));
  c->due = when;
  deadlines_.insert(*c);
}

std::unique_ptr<tracked_call> call_book::release(tracked_call* c, time_point now) {
  if (c->at == tracked_call::place::queued) {
    queue_.erase(c->queue_it);
    if (queued_gauge_) queued_gauge_->fetch_sub(1, std::memory_order_relaxed);
  } else if (c->at == tracked_call::place::in_flight) {
    if (keyed_) {
      keyed_calls_.erase(c->key);
      if (c->seq) by_seq_.erase(c->seq);
    } else {
      // Its place stays, empty, until its reply comes (or the connection is replaced).
      for (auto& p : ordered_)
        if (p.call == c) {
          p.call = nullptr;
          p.late_until = now + limits_.late_grace;
          break;
        }
    }
  }
  c->at = tracked_call::place::none;
  deadlines_.erase(deadlines_.iterator_to(*c));
  return std::unique_ptr<tracked_call>(c);
}

call_book::time_point call_book::next_deadline() const noexcept {
  auto next = time_point::max();
  if (!deadlines_.empty()) next = deadlines_.begin()->due;
  if (head_is_late()) next = std::min(next, ordered_.front().late_until);
  return next;
}

void call_book::enqueue(tracked_call* c) {
  c->queue_it = queue_.insert(queue_.end(), c);
  c->at = tracked_call::place::queued;
  if (queued_gauge_) queued_gauge_->fetch_add(1, std::memory_order_relaxed);
}

tracked_call* call_book::next_to_send() {
  if (queue_.empty() || !can_send()) return nullptr;
  tracked_call* c = queue_.front();
  queue_.pop_front();
  if (queued_gauge_) queued_gauge_->fetch_sub(1, std::memory_order_relaxed);
  c->at = tracked_call::place::none;
  if (c->due != c->deadline) retime(c, c->deadline);
  return c;
}

call_book::key_check call_book::prepare_key(tracked_call* c) {
  if (!keyed_) return key_check::ok;
  const codecs::operation& op = *c->op;
  if (!op.request.correlation_constant.empty()) {
    // One of the operation's messages in flight at a time: its reply is the next of its kind.
    c->key = op.request.correlation_constant;
    return keyed_calls_.count(c->key) ? key_check::already_in_flight : key_check::ok;
  }
  auto idx = op.request.correlation_field;
  if (!idx) return key_check::no_correlation_field;
  codecs::record& rec = c->request();
  if (c->key_generated) {
    const codecs::field_spec& f = op.request.fields[*idx];
    // The other key parts (correlation.also) are the request's; only the counter varies.
    key_suffix(op.request, rec, key_rest_);
    auto value = keys_.next(
        f,
        [this](std::string_view k) {
          key_scratch_.assign(k.data(), k.size());
          key_scratch_ += key_rest_;
          return keyed_calls_.count(key_scratch_) != 0 || timed_out_set_.count(key_scratch_) != 0;
        },
        rec.slot(*idx));
    if (!value) return key_check::no_free_key;
    rec.set_present(*idx);
  }
  key_of(op.request, rec, c->key);
  if (keyed_calls_.count(c->key)) return key_check::already_in_flight;
  return key_check::ok;
}

call_book::match call_book::match_key(const codecs::message_def& msg, const codecs::record& reply) {
  if (!msg.correlation_constant.empty()) {
    key_scratch_ = msg.correlation_constant;
    auto it = keyed_calls_.find(key_scratch_);
    if (it != keyed_calls_.end()) return {match::kind::call, it->second};
    return {};
  }
  auto idx = msg.correlation_field;
  if (!idx || !reply.has(*idx)) {
    key_scratch_ = "(none)";
    // A reply without a key may name the sequence number of the message it answers.
    if (msg.reference_field && reply.has(*msg.reference_field)) {
      std::uint64_t n = 0;
      for (char ch : reply.get(*msg.reference_field)) {
        if (ch < '0' || ch > '9' || n > 1000000000000000000ULL) return {};
        n = n * 10 + static_cast<std::uint64_t>(ch - '0');
      }
      key_scratch_ = "(sequence " + std::string(reply.get(*msg.reference_field)) + ")";
      auto it = by_seq_.find(n);
      if (it != by_seq_.end()) return {match::kind::call, it->second};
    }
    return {};
  }
  key_of(msg, reply, key_scratch_);
  auto it = keyed_calls_.find(key_scratch_);
  if (it != keyed_calls_.end()) return {match::kind::call, it->second};
  if (timed_out_set_.erase(key_scratch_)) return {match::kind::late, nullptr};
  return {};
}

bool call_book::late_grace_over(time_point now) const noexcept {
  return head_is_late() && ordered_.front().late_until <= now;
}

void call_book::remember_timed_out(const std::string& key) {
  const std::size_t cap =
      std::max<std::size_t>(64, std::min<std::size_t>(limits_.max_in_flight, 65536));
  if (!timed_out_set_.insert(key).second) return;
  timed_out_order_.push_back(key);
  while (timed_out_order_.size() > cap) {
    timed_out_set_.erase(timed_out_order_.front());
    timed_out_order_.pop_front();
  }
}

std::optional<call_book::expiry> call_book::expire_next(time_point now) {
  if (deadlines_.empty() || deadlines_.begin()->due > now) return std::nullopt;
  tracked_call* c = &*deadlines_.begin();
  const bool in_flight = c->at == tracked_call::place::in_flight;
  if (in_flight && keyed_) remember_timed_out(c->key);
  if (in_flight && c->is_app()) c->call->written = true;
  return expiry{release(c, now), in_flight};
}

std::vector<std::unique_ptr<tracked_call>> call_book::take_all(bool with_queued,
                                                               std::uint64_t batches_written) {
  std::vector<tracked_call*> victims;
  for (tracked_call& c : deadlines_)
    if (c.at != tracked_call::place::queued || with_queued) victims.push_back(&c);
  std::vector<std::unique_ptr<tracked_call>> out;
  out.reserve(victims.size());
  for (tracked_call* c : victims) {
    if (c->is_app() && c->at == tracked_call::place::in_flight && c->batch <= batches_written)
      c->call->written = true;
    // The places in order go below; the time point only matters for them.
    out.push_back(release(c, time_point{}));
  }
  forget_in_flight();
  return out;
}

void call_book::forget_in_flight() noexcept {
  ordered_.clear();
  keyed_calls_.clear();
  by_seq_.clear();
}

void call_book::forget_late_keys() noexcept {
  timed_out_set_.clear();
  timed_out_order_.clear();
}

}  // namespace dragoman::bridge
