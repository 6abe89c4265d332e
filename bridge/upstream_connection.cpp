// One upstream connection, its calls: submitting, sending, deadlines and the session's requests
// (the socket's life is in upstream_connection_socket.cpp, matching replies in
// upstream_connection_replies.cpp).
#include "bridge/upstream_connection.hpp"

#include "bridge/call_handoff.hpp"
#include "bridge/log.hpp"
#include "codecs/pipeline.hpp"
#include "codecs/unrecognised.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>

namespace dragoman::bridge {

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// A connection that was up keeps queueing calls through this many failed reconnects.
constexpr int queue_through_failed_reconnects = 3;
std::uint32_t seed_for(const connection_gauge& g) {
  return std::random_device{}() ^ static_cast<unsigned>(g.id() * 7919);
}

}  // namespace

upstream_connection::upstream_connection(asio::io_context& ctx,
                                         std::shared_ptr<upstream_shared> shared, endpoint& ep,
                                         connection_gauge& gauge)
    : ctx_(ctx),
      shared_(std::move(shared)),
      ep_(ep),
      gauge_(gauge),
      stream_(ctx),
      resolver_(ctx),
      state_timer_(ctx),
      deadline_timer_(ctx),
      heartbeat_timer_(ctx),
      drain_timer_(ctx),
      rng_(seed_for(gauge)),
      book_({shared_->options.max_in_flight_per_connection, shared_->options.max_queued,
             milliseconds(2000)},
            &ep.queued),
      session_(*this, ep.name(), gauge.id()) {
  bundle_ = shared_->bundle.load();
  reader_.reset(nullptr, shared_->read_buffer_size);
  find_by_key_ = [this](const codecs::decoded_message& d, const codecs::record& reply) {
    match_ = book_.match_key(*d.msg, reply);
    if (!match_.call) return codecs::reply_expectation{};
    return codecs::reply_expectation{match_.call->bundle->profile.get(), match_.call->op};
  };
  gauge_.set_state(conn_state::connecting);
  gauge_.set_pick(pick_state::queueing);
}

void upstream_connection::start() {
  asio::post(ctx_, [self = shared_from_this()] { self->do_connect(); });
}

void upstream_connection::submit(std::unique_ptr<tracked_call> c) {
  // On the connection's own thread the call goes straight in (no queue round trip).
  if (may_submit_inline() && ctx_.get_executor().running_in_this_thread()) {
    submit_scope scope;
    on_submit(std::move(c));
    return;
  }
  asio::post(ctx_, [self = shared_from_this(), c = std::move(c)]() mutable {
    self->on_submit(std::move(c));
  });
}

void upstream_connection::post_breaker_closed() {
  asio::post(ctx_, [self = shared_from_this()] { self->on_breaker_closed(); });
}

void upstream_connection::post_reload(std::shared_ptr<profile_bundle> b) {
  asio::post(ctx_, [self = shared_from_this(), b = std::move(b)]() mutable {
    self->on_reload(std::move(b));
  });
}

void upstream_connection::post_drain(time_point deadline) {
  asio::post(ctx_, [self = shared_from_this(), deadline] { self->on_drain(deadline); });
}

void upstream_connection::shutdown() {
  if (state_ == state::stopped) return;
  fail_all(call_code::upstream_unavailable, "dragoman is shutting down", true);
  stop_for_good();
}

// ---- state and publishing -----------------------------------------------------------------------

// Calls may wait for this connection: its first connect is under way, or it was up and is
// reconnecting (for a few attempts).
bool upstream_connection::queueable() const noexcept {
  if (state_ == state::stopped || state_ == state::draining || drain_requested()) return false;
  if (state_ == state::up || state_ == state::signing_on) return true;
  if (ep_.listened()) return false;  // a vacant slot: no host may ever come
  if (!ever_up_) return failed_attempts_ == 0;
  return failed_attempts_ < queue_through_failed_reconnects;
}

void upstream_connection::publish() {
  conn_state cs = conn_state::down;
  switch (state_) {
    case state::connecting:
      cs = conn_state::connecting;
      break;
    case state::signing_on:
      cs = conn_state::signing_on;
      break;
    case state::up:
      cs = conn_state::up;
      break;
    case state::draining:
      cs = conn_state::draining;
      break;
    default:
      break;
  }
  pick_state s = pick_state::unavailable;
  if (state_ == state::up && !replace_with_)
    s = pick_state::connected;
  else if (queueable())
    s = pick_state::queueing;
  // Pickers first: whoever sees the state (stats, /admin/upstreams) "up" finds it pickable.
  gauge_.set_pick(s);
  gauge_.set_state(cs);
}

void upstream_connection::set_error(const std::string& why) {
  ep_.set_error(why);
  gauge_.set_error(why);
}

// ---- calls --------------------------------------------------------------------------------------

tracked_call* upstream_connection::adopt(std::unique_ptr<tracked_call> c, time_point when) {
  tracked_call* raw = book_.adopt(std::move(c), when);
  if (when < armed_at_) arm_timer();
  return raw;
}

void upstream_connection::on_submit(std::unique_ptr<tracked_call> c) {
  if (state_ == state::stopped) {
    end_error(std::move(c), call_code::upstream_unavailable, "dragoman is shutting down");
    return;
  }
  const auto now = steady::now();
  if (c->deadline <= now) {
    end_error(std::move(c), call_code::upstream_timeout, "the deadline passed before sending");
    return;
  }
  if (drain_requested() && !carries_calls()) {
    end_error(std::move(c), call_code::upstream_unavailable, "dragoman is draining");
    return;
  }
  if (carries_calls() && book_.queue_empty() && !replace_with_) {
    if (book_.can_send()) {
      const auto deadline = c->deadline;
      send(adopt(std::move(c), deadline));
      return;
    }
    if (book_.pipelined()) {
      end_error(std::move(c), call_code::overloaded, "too many calls in flight on " + ep_.name(),
                true);
      return;
    }
  }
  if (!queueable() && !replace_with_) {
    end_error(std::move(c), call_code::upstream_unavailable,
              "upstream " + ep_.name() + " is unavailable" +
                  (last_connect_error_.empty() ? "" : ": " + last_connect_error_),
              true);
    return;
  }
  if (book_.queue_full()) {
    end_error(std::move(c), call_code::overloaded, "too many calls queued for " + ep_.name(), true);
    return;
  }
  auto when = c->deadline;
  if (options().queue_timeout.count() > 0) when = std::min(when, now + options().queue_timeout);
  book_.enqueue(adopt(std::move(c), when));
}

// Encodes the call into the pending write buffer and registers it in flight. c is adopted;
// false when it could not be sent (it has been answered or ended then).
bool upstream_connection::send(tracked_call* c) {
  const codecs::operation& op = *c->op;
  switch (book_.prepare_key(c)) {
    case call_book::key_check::ok:
      break;
    case call_book::key_check::no_correlation_field:
      fail_one(c, call_code::upstream_protocol_error,
               "operation \"" + op.name + "\" has no correlation field");
      return false;
    case call_book::key_check::no_free_key:
      fail_one(c, call_code::overloaded, "no free correlation key on " + ep_.name());
      return false;
    case call_book::key_check::already_in_flight:
      fail_one(c, call_code::invalid_field,
               std::string(op.request.fields[*op.request.correlation_field].request_name()) +
                   ": correlation key \"" + c->key + "\" is already in flight");
      return false;
  }
  const std::size_t before = out_pending_.size();
  // The engine's frame is the one to send unless this connection assigned the key.
  codecs::result<void> encoded;
  std::uint64_t seq = 0;
  if (c->call && !c->call->frame.empty()) {
    codecs::append(out_pending_, c->call->frame);
  } else {
    seq = stamp(op.request, c->request());
    encoded = codecs::encode_message(*c->bundle->profile, op.request, c->request(), payload_,
                                     out_pending_);
  }
  if (!encoded) {
    if (seq) seq_->give_back_to(seq);
    out_pending_.resize(before);
    fail_one(c, call_code::invalid_field, encoded.error().to_string());
    return false;
  }
  if (seq) book_.numbered(c, seq);
  book_.sent(c, steady::now(), batches_started_ + 1);
  start_write();
  return true;
}

void upstream_connection::fail_one(tracked_call* c, call_code code, std::string message) {
  auto owned = book_.release(c, steady::now());
  if (owned->is_app())
    end_error(std::move(owned), code, std::move(message));
  else
    session_.failed(std::move(owned), message);
}

// Fails the app calls in flight (and, with_queued, those waiting too); session messages just
// end. Calls whose bytes never reached the socket, and idempotent ones, may be retried elsewhere
// when retryable.
void upstream_connection::fail_all(call_code code, const std::string& message, bool with_queued,
                                   bool retryable) {
  for (auto& owned : book_.take_all(with_queued, batches_started_))
    if (owned->is_app()) end_error(std::move(owned), code, message, retryable);
  session_.reset();
}

// Every app attempt ends here exactly once: answered, or handed back for a retry.
void upstream_connection::end_attempt(std::unique_ptr<tracked_call> t, call_result r,
                                      bool retryable, const codecs::record* reply) {
  gauge_.calls.fetch_sub(1, std::memory_order_relaxed);
  ep_.assigned.fetch_sub(1, std::memory_order_relaxed);
  pending_call_ptr c = std::move(t->call);
  if (t->probe) ep_.release_probe();
  r.attempts = c->attempts;
  r.endpoint = ep_.name();
  if (t->sent_at != time_point{})
    r.upstream_time =
        std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t->sent_at);
  if (c->trace) r.trace = make_trace(*c, reply);
  if (retryable && !c->op->idempotent && c->written) retryable = false;
  shared_->attempt_ended(std::move(c), std::move(r), retryable, ctx_);
}

void upstream_connection::end_error(std::unique_ptr<tracked_call> t, call_code code,
                                    std::string message, bool retryable) {
  end_attempt(std::move(t), make_error_result(code, std::move(message)), retryable);
}

// Sends queued calls while the connection can take them.
void upstream_connection::pump_queue() {
  while (carries_calls() && !replace_with_) {
    tracked_call* c = book_.next_to_send();
    if (!c) break;
    send(c);
  }
  if (state_ == state::draining) check_drained();
  if (replace_with_) maybe_replace();
}

// ---- deadlines ----------------------------------------------------------------------------------

// One timer for all of the connection's deadlines, re-armed only when the earliest one changes.
void upstream_connection::arm_timer() {
  const auto next = book_.next_deadline();
  if (next == armed_at_) return;
  armed_at_ = next;
  ++timer_gen_;
  if (next == time_point::max()) {
    deadline_timer_.cancel();
    return;
  }
  deadline_timer_.expires_at(next);
  deadline_timer_.async_wait(
      [self = shared_from_this(), gen = timer_gen_](boost::system::error_code) {
        if (gen != self->timer_gen_ || self->state_ == state::stopped) return;
        self->on_deadline();
      });
}

void upstream_connection::on_deadline() {
  armed_at_ = time_point::max();
  const auto now = steady::now();
  // Bounded by the number of calls held.
  while (auto e = book_.expire_next(now)) {
    expired(std::move(e->call), e->in_flight, now);
    if (state_ == state::stopped) return;
  }
  if (book_.late_grace_over(now)) {
    close_and({close_reason::kind::lost, "no reply to a timed-out call within the grace period",
               call_code::upstream_unavailable, true},
              then::reconnect);
    return;
  }
  arm_timer();
  pump_queue();
}

void upstream_connection::expired(std::unique_ptr<tracked_call> c, bool in_flight, time_point now) {
  if (!c->is_app()) {
    session_.failed(std::move(c), "no answer in time");
    return;
  }
  if (in_flight) {
    const bool probe = c->probe;
    c->probe = false;
    // The host answered something (another call, an echo) after this call was written: the
    // line and the host are alive, this operation is slow. Only the probe always decides.
    if (!probe && last_reply_at_ > c->sent_at)
      ep_.record_operation_timeout(c->op->name);
    else
      ep_.record_failure("no reply within the deadline", probe, now, failure_kind::answer);
    end_error(std::move(c), call_code::upstream_timeout,
              "no reply from " + ep_.name() + " within the deadline");
    return;
  }
  if (c->deadline <= now) {
    end_error(std::move(c), call_code::upstream_timeout,
              "no connection to " + ep_.name() + " became free within the deadline");
  } else if (carries_calls()) {
    end_error(std::move(c), call_code::overloaded,
              "no connection to " + ep_.name() + " became free within the queue timeout");
  } else {
    // Waiting for a connection that does not come: no byte was written, try elsewhere.
    end_error(std::move(c), call_code::upstream_unavailable,
              "no connection to " + ep_.name() + " within the queue timeout" +
                  (last_connect_error_.empty() ? "" : " (" + last_connect_error_ + ")"),
              true);
  }
}

// ---- the session --------------------------------------------------------------------------------

void upstream_connection::send_session(std::unique_ptr<tracked_call> message) {
  const auto deadline = message->deadline;
  send(adopt(std::move(message), deadline));  // a failed send ends it through session_.failed
}

// The peer's own request (an echo test), answered with the reply built from it. A host that
// keeps sending requests and does not read their answers is not buffered for without end: past
// max(64 KiB, 16 frames) of answers behind a write that does not complete, the connection goes.
void upstream_connection::send_answer(const codecs::operation& op, const codecs::record& answer) {
  const std::size_t limit =
      std::max<std::size_t>(64 * 1024, 16 * profile().framing->max_frame_length());
  if (answer_bytes_pending_ > limit) {
    close_and({close_reason::kind::lost,
               "the host does not read: " + std::to_string(answer_bytes_pending_) +
                   " bytes of answers to its own requests are waiting",
               call_code::upstream_unavailable, true},
              then::reconnect);
    return;
  }
  if (write_message(op, op.reply, answer, 0)) start_write();
}

void upstream_connection::on_session(const session_outcome& outcome) {
  switch (outcome.what) {
    case session_event::signed_on:
      become_up();
      return;
    case session_event::sign_on_refused:
      sign_on_refused(outcome);
      return;
    case session_event::peer_alive:
      ep_.record_success(false);
      arm_heartbeat();
      if (state_ == state::draining) check_drained();
      return;
    case session_event::peer_lost:
      ++counters().heartbeat_failures;
      ep_.record_failure(outcome.why, false, steady::now());
      close_and({close_reason::kind::lost, outcome.why, call_code::upstream_unavailable, false},
                then::reconnect);
      return;
    case session_event::signed_off:
      stop_for_good();
      return;
    case session_event::sequence_broken:
      // Nothing more is read; the connection closes once the session's last word is written.
      close_when_written_ = outcome.why;
      if (!writing_ && out_pending_.empty())
        close_and({close_reason::kind::lost, outcome.why, call_code::upstream_unavailable, true},
                  then::reconnect);
      return;
  }
}

// Sign-on refused or unanswered: close and reconnect with backoff.
void upstream_connection::sign_on_refused(const session_outcome& outcome) {
  ++failed_attempts_;
  json::object f{{"endpoint", ep_.name()}, {"connection", gauge_.id()}};
  if (!outcome.code.empty())
    f["code"] = outcome.code;
  else
    f["reason"] = outcome.why;
  f["attempt"] = failed_attempts_;
  log::warn("sign_on_refused", f);
  ep_.record_failure(outcome.why, probe_connect_, steady::now());
  probe_connect_ = false;
  if (state_ == state::signing_on)
    close_and({close_reason::kind::dropped, outcome.why}, then::reconnect);
  else
    close_and({close_reason::kind::lost, outcome.why, call_code::upstream_unavailable, true},
              then::reconnect);
}

void upstream_connection::become_up() {
  state_ = state::up;
  ever_up_ = true;
  last_connect_error_.clear();
  ++counters().connected;
  shared_->up.fetch_add(1);
  // A probe decides now (its endpoint waits for it); otherwise an unconfirmed TLS session
  // counts as a success with the host's first bytes (on_read).
  if (!tls_unconfirmed_ || !ep_.breaker_closed()) confirm_up();
  publish();
  arm_heartbeat();
  pump_queue();
}

void upstream_connection::confirm_up() {
  failed_attempts_ = 0;
  if (ep_.record_success(probe_connect_)) shared_->breaker_closed(ep_);
  probe_connect_ = false;
}

void upstream_connection::arm_heartbeat() {
  const auto interval = session_.heartbeat_interval();
  if (interval.count() <= 0 || !carries_calls()) return;
  heartbeat_timer_.expires_at(last_activity_ + interval);
  heartbeat_timer_.async_wait(
      [self = shared_from_this(), epoch = epoch_](boost::system::error_code ec) {
        if (ec || epoch != self->epoch_ || !self->carries_calls()) return;
        self->on_heartbeat();
      });
}

void upstream_connection::on_heartbeat() {
  const auto now = steady::now();
  const bool quiet = state_ == state::draining || replace_with_;
  switch (session_.heartbeat_due(now, last_activity_, quiet)) {
    case upstream_session::heartbeat_step::wait:
      arm_heartbeat();
      return;
    case upstream_session::heartbeat_step::touch:
      last_activity_ = now;
      arm_heartbeat();
      return;
    case upstream_session::heartbeat_step::sent:
      ++counters().heartbeats;
      return;
    case upstream_session::heartbeat_step::none:
      return;
  }
}

}  // namespace dragoman::bridge
