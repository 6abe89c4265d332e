// One upstream connection: connect, sign on, send and match calls, read frames, heartbeats,
// reconnect with jittered backoff, reload and drain; one state, one way to close.
#include "bridge/upstream_connection.hpp"

#include "bridge/call_handoff.hpp"
#include "bridge/log.hpp"
#include "bridge/retry_budget.hpp"
#include "codecs/pipeline.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

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
// The longest wait for the answer to a sign-off, inside the drain deadline.
constexpr milliseconds sign_off_wait{1000};
// After the drain deadline a sign-off is still written; the connection closes this much later.
constexpr milliseconds late_sign_off_wait{200};

call_result error_result(call_code code, std::string message) {
  call_result r;
  r.code = code;
  r.status = http_status(code);
  r.message = std::move(message);
  if (code == call_code::upstream_unavailable || code == call_code::overloaded)
    r.retry_after_seconds = 1;
  return r;
}

// Whether two profiles put the same bytes on the wire (a reload may then keep the connection).
bool same_wire(const codecs::profile& a, const codecs::profile& b) {
  for (std::string_view key :
       {"framing", "charset", "checksum", "correlation", "session", "layout", "dictionary"}) {
    const json::value* x = a.source.if_contains(key);
    const json::value* y = b.source.if_contains(key);
    if ((x == nullptr) != (y == nullptr)) return false;
    if (x && *x != *y) return false;
  }
  return true;
}

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
      socket_(ctx),
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
  gauge_.set_state(cs);
  pick_state s = pick_state::unavailable;
  if (state_ == state::up && !replace_with_)
    s = pick_state::connected;
  else if (queueable())
    s = pick_state::queueing;
  gauge_.set_pick(s);
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
  if (c->call && !c->call->frame.empty())
    codecs::append(out_pending_, c->call->frame);
  else
    encoded = codecs::encode_message(*c->bundle->profile, op.request, c->request(), payload_,
                                     out_pending_);
  if (!encoded) {
    out_pending_.resize(before);
    fail_one(c, call_code::invalid_field, encoded.error().to_string());
    return false;
  }
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
  std::unique_ptr<pending_call> c = std::move(t->call);
  if (t->probe) ep_.release_probe();
  r.attempts = c->attempts;
  r.endpoint = ep_.name();
  if (t->sent_at != time_point{})
    r.upstream_time =
        std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t->sent_at);
  if (c->trace) r.trace = make_trace(*c, reply);
  if (retryable && !c->op->idempotent && c->written) retryable = false;
  shared_->attempt_ended(std::move(c), std::move(r), retryable, ctx_.get_executor());
}

void upstream_connection::end_error(std::unique_ptr<tracked_call> t, call_code code,
                                    std::string message, bool retryable) {
  end_attempt(std::move(t), error_result(code, std::move(message)), retryable);
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

// ---- writing and reading ------------------------------------------------------------------------

// One write in flight; frames queued meanwhile go out together in the next one.
void upstream_connection::start_write() {
  if (writing_ || out_pending_.empty() || !writable()) return;
  std::swap(out_pending_, out_writing_);
  writing_ = true;
  ++batches_started_;
  counters().bytes_out.fetch_add(out_writing_.size(), std::memory_order_relaxed);
  asio::async_write(socket_, asio::buffer(out_writing_),
                    [self = shared_from_this(), epoch = epoch_](
                        boost::system::error_code ec, std::size_t) { self->on_write(epoch, ec); });
}

void upstream_connection::on_write(std::uint64_t epoch, boost::system::error_code ec) {
  writing_ = false;
  out_writing_.clear();
  if (epoch != epoch_) {
    start_write();  // a new connection may have frames pending already
    return;
  }
  if (ec) {
    close_and({close_reason::kind::lost, "write failed: " + ec.message(),
               call_code::upstream_unavailable, true},
              then::reconnect);
    return;
  }
  last_activity_ = steady::now();
  start_write();
}

void upstream_connection::do_read() {
  auto space = reader_.prepare();
  if (space.empty()) {
    ++counters().frames_too_long;
    protocol_failure("a frame does not fit the read buffer (" + std::to_string(reader_.capacity()) +
                     " bytes; max_frame_length)");
    return;
  }
  socket_.async_read_some(
      asio::buffer(space.data(), space.size()),
      [self = shared_from_this(), epoch = epoch_](boost::system::error_code ec, std::size_t n) {
        self->on_read(epoch, ec, n);
      });
}

void upstream_connection::count_rejected(codecs::errc reason) {
  switch (reason) {
    case codecs::errc::frame_too_long:
      ++counters().frames_too_long;
      break;
    case codecs::errc::checksum_mismatch:
      ++counters().frames_checksum;
      break;
    default:
      ++counters().frames_malformed;
      break;
  }
}

void upstream_connection::on_read(std::uint64_t epoch, boost::system::error_code ec,
                                  std::size_t n) {
  if (epoch != epoch_ || state_ == state::stopped) return;
  if (ec) {
    close_and({close_reason::kind::lost,
               ec == asio::error::eof ? std::string("closed by the peer")
                                      : "read failed: " + ec.message(),
               call_code::upstream_unavailable, true},
              then::reconnect);
    return;
  }
  counters().bytes_in.fetch_add(n, std::memory_order_relaxed);
  last_activity_ = steady::now();
  reader_.commit(n);
  const std::uint64_t my_epoch = epoch_;
  for (;;) {
    codecs::frame_reader::event e = reader_.next();
    using kind = codecs::frame_reader::event_kind;
    if (e.kind == kind::need_more) break;
    if (e.kind == kind::fatal) {
      count_rejected(e.reason);
      protocol_failure("framing: " + (e.message.empty() ? std::string("no progress") : e.message));
      return;
    }
    if (e.kind == kind::skip) {
      ++counters().frames_skipped;
      if (!e.message.empty()) count_rejected(e.reason);
      continue;
    }
    handle_payload(e.payload);
    if (epoch_ != my_epoch || state_ == state::stopped) return;  // the payload closed it
  }
  do_read();
}

void upstream_connection::handle_payload(codecs::byte_view payload) {
  static const codecs::reply_finder in_order;
  codecs::reply_expectation expected;
  if (!book_.keyed())
    if (const tracked_call* head = book_.head()) expected = {head->bundle->profile.get(), head->op};
  match_ = {};
  auto decoded = codecs::decode_incoming(profile(), payload, reply_, expected,
                                         book_.keyed() ? find_by_key_ : in_order);
  if (!decoded) {
    ++counters().decode_errors;
    count_rejected(decoded.error().code);
    protocol_failure("undecodable reply: " + decoded.error().to_string());
    return;
  }
  if (!decoded->is_reply) {
    ++counters().unsolicited;
    session_.peer_request(*decoded->op, reply_);
    return;
  }
  if (book_.keyed()) {
    if (match_.what == call_book::match::kind::late) {
      ++counters().late;
      return;
    }
    if (!match_.call) {
      unmatched(book_.key_text(), decoded->op->name);
      return;
    }
    complete_with_reply(match_.call, *decoded);
    if (state_ == state::stopped) return;
    pump_queue();
    return;
  }
  call_book::match head = book_.take_head();
  if (head.what == call_book::match::kind::unmatched) {
    unmatched("(in order, nothing in flight)", decoded->op->name);
    return;
  }
  if (head.call) {
    complete_with_reply(head.call, *decoded);
    if (state_ == state::stopped) return;
  } else {
    ++counters().late;
  }
  if (book_.head_is_late()) arm_timer();
  pump_queue();
}

void upstream_connection::complete_with_reply(tracked_call* c,
                                              const codecs::decoded_message& decoded) {
  auto owned = book_.release(c, steady::now());
  if (decoded.op != owned->op) {
    std::string why =
        "the reply is a " + decoded.op->name + " reply, the call was " + owned->op->name;
    ep_.record_failure(why, owned->probe, steady::now());
    owned->probe = false;
    if (!owned->is_app()) {
      session_.failed(std::move(owned), why);
      return;
    }
    end_attempt(std::move(owned), error_result(call_code::upstream_protocol_error, why));
    return;
  }
  if (!owned->is_app()) {
    session_.replied(std::move(owned), reply_);
    return;
  }
  if (ep_.record_success(owned->probe)) shared_->breaker_closed(ep_);
  owned->probe = false;
  call_result r = reply_result(*owned->op, reply_);
  end_attempt(std::move(owned), std::move(r), false, &reply_);
}

void upstream_connection::unmatched(std::string key, const std::string& op) {
  std::uint64_t n = ++counters().unmatched;
  std::replace(key.begin(), key.end(), '\x1f', '/');
  if (n <= 100 || n % 1000 == 0)
    log::warn("unmatched_reply",
              {{"endpoint", ep_.name()}, {"operation", op}, {"key", key}, {"unmatched_total", n}});
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
    ep_.record_failure("no reply within the deadline", probe, now);
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

// The peer's own request (an echo test), answered with the reply built from it.
void upstream_connection::send_answer(const codecs::operation& op, const codecs::record& answer) {
  const std::size_t before = out_pending_.size();
  auto encoded = codecs::encode_message(profile(), op.reply, answer, payload_, out_pending_);
  if (!encoded) {
    out_pending_.resize(before);
    log::warn(
        "peer_request_unanswerable",
        {{"endpoint", ep_.name()}, {"operation", op.name}, {"error", encoded.error().to_string()}});
    return;
  }
  start_write();
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
  failed_attempts_ = 0;
  last_connect_error_.clear();
  ++counters().connected;
  shared_->up.fetch_add(1);
  if (ep_.record_success(probe_connect_)) shared_->breaker_closed(ep_);
  probe_connect_ = false;
  publish();
  arm_heartbeat();
  pump_queue();
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

// ---- the socket's life --------------------------------------------------------------------------

void upstream_connection::on_breaker_closed() {
  if (state_ == state::backoff && backoff_for_ == backoff_for::breaker) {
    state_timer_.cancel();
    ++epoch_;
    backoff_for_ = backoff_for::reconnect;
    do_connect();
  }
}

// An open breaker holds reconnects back; when it half-opens, one connect is the probe. True
// when this connect waits for it.
bool upstream_connection::wait_for_breaker() {
  probe_connect_ = false;
  if (!ep_.breaker_enabled() || ep_.breaker_closed()) return false;
  const auto now = steady::now();
  breaker_verdict v = ep_.admit(now);
  if (v != breaker_verdict::open && v != breaker_verdict::busy) {
    probe_connect_ = v == breaker_verdict::probe;
    return false;
  }
  auto wait = std::max<steady::duration>(ep_.open_until() - now, milliseconds(50));
  wait = std::min<steady::duration>(wait, options().breaker_cooldown + milliseconds(50));
  state_ = state::backoff;
  backoff_for_ = backoff_for::breaker;
  publish();
  state_timer_.expires_after(wait);
  state_timer_.async_wait(
      [self = shared_from_this(), epoch = epoch_](boost::system::error_code ec) {
        if (ec || epoch != self->epoch_ || self->state_ == state::stopped) return;
        self->backoff_for_ = backoff_for::reconnect;
        self->do_connect();
      });
  return true;
}

void upstream_connection::do_connect() {
  if (state_ == state::stopped || drain_requested()) return;
  if (replace_with_) bundle_ = std::move(replace_with_);
  book_.set_mode(profile().correlation.mode);
  if (wait_for_breaker()) return;
  state_ = state::connecting;
  publish();
  const std::uint64_t epoch = ++epoch_;
  connect_timed_out_ = false;
  state_timer_.expires_after(options().connect_timeout);
  state_timer_.async_wait([self = shared_from_this(), epoch](boost::system::error_code ec) {
    if (ec || epoch != self->epoch_ || self->state_ != state::connecting) return;
    self->connect_timed_out_ = true;
    self->close_socket();
  });
  // Names are resolved on every connect: a host that moved is found again.
  resolver_.async_resolve(
      ep_.address().host, ep_.address().port,
      [self = shared_from_this(), epoch](boost::system::error_code ec,
                                         tcp::resolver::results_type results) {
        if (epoch != self->epoch_ || self->state_ == state::stopped) return;
        if (ec) {
          self->connect_failed(self->connect_timed_out_ ? "connect timed out"
                                                        : "resolve failed: " + ec.message());
          return;
        }
        asio::async_connect(self->socket_, results,
                            [self, epoch](boost::system::error_code ec2, const tcp::endpoint&) {
                              if (epoch != self->epoch_ || self->state_ == state::stopped) return;
                              if (ec2) {
                                self->connect_failed(self->connect_timed_out_
                                                         ? "connect timed out"
                                                         : "connect failed: " + ec2.message());
                                return;
                              }
                              self->on_connected();
                            });
      });
}

void upstream_connection::on_connected() {
  boost::system::error_code ignored;
  state_timer_.cancel();
  socket_.set_option(tcp::no_delay(true), ignored);
  ++counters().connects;
  if (ever_connected_) ++counters().reconnects;
  ever_connected_ = true;
  const std::size_t need = profile().framing->max_frame_length() + 64;
  reader_.reset(profile().framing->make_decoder(), std::max(need, shared_->read_buffer_size));
  decoder_bundle_ = bundle_;
  book_.forget_late_keys();
  last_activity_ = steady::now();
  log::info("connect", {{"endpoint", ep_.name()}, {"connection", gauge_.id()}});
  session_.bind(bundle_, book_.keyed());
  if (session_.spec().sign_on) {
    state_ = state::signing_on;
    publish();
  }
  do_read();
  switch (session_.start(last_activity_)) {
    case upstream_session::start_result::up:
      become_up();
      return;
    case upstream_session::start_result::cannot_sign_on:
      if (state_ == state::signing_on)
        close_and({close_reason::kind::dropped, "the sign-on message cannot be built"},
                  then::reconnect);
      return;
    case upstream_session::start_result::signing_on:
      return;
  }
}

void upstream_connection::connect_failed(const std::string& why) {
  state_timer_.cancel();
  close_socket();
  ++counters().connect_failures;
  ++failed_attempts_;
  last_connect_error_ = why;
  set_error(why);
  ep_.record_failure(why, probe_connect_, steady::now());
  probe_connect_ = false;
  if (failed_attempts_ == 1 || failed_attempts_ % 20 == 0)
    log::warn("connect_failed", {{"endpoint", ep_.name()},
                                 {"connection", gauge_.id()},
                                 {"reason", why},
                                 {"attempt", failed_attempts_}});
  state_ = state::backoff;
  back_off("cannot connect to upstream " + ep_.name() + ": " + why, true, false);
}

void upstream_connection::close_socket() {
  boost::system::error_code ignored;
  resolver_.cancel();
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

// The one way a connection closes: the socket, the up count, the counters and log line its
// reason calls for, its calls in flight, then a reconnect (after a backoff, or at once) or the
// end, where every timer stops and whatever is left (session messages) ends quietly.
void upstream_connection::close_and(const close_reason& r, then next) {
  if (state_ == state::stopped) return;
  const bool was_open = writable();
  const bool failure = r.how == close_reason::kind::lost || r.how == close_reason::kind::dropped;
  if (carries_calls()) {
    --counters().connected;
    shared_->up.fetch_sub(1);
    if (r.breaker) ep_.record_failure(r.why, false, steady::now());
  }
  if (was_open && r.how != close_reason::kind::replaced) ++counters().disconnects;
  if (failure) set_error(r.why);
  if (r.how == close_reason::kind::lost)
    log::warn("disconnect",
              {{"endpoint", ep_.name()}, {"connection", gauge_.id()}, {"reason", r.why}});
  else if (r.how == close_reason::kind::closed && was_open)
    log::info("disconnect",
              {{"endpoint", ep_.name()}, {"connection", gauge_.id()}, {"reason", r.why}});
  ++epoch_;
  close_socket();
  heartbeat_timer_.cancel();
  out_pending_.clear();
  if (next == then::stop) {
    state_ = state::stopped;
    ++timer_gen_;
    state_timer_.cancel();
    deadline_timer_.cancel();
    drain_timer_.cancel();
    fail_all(call_code::upstream_unavailable, "dragoman is shutting down", true);
    publish();
    if (drain_requested()) shared_->connection_closed_for_drain();
    return;
  }
  state_ = state::backoff;
  fail_all(r.code, "upstream " + ep_.name() + ": " + r.why, false, true);
  back_off("upstream " + ep_.name() + ": " + r.why, failure, next == then::reconnect_now);
}

// Between connections: calls queued here wait for the next one only while it may come soon and
// no other endpoint could take them; then the next attempt is scheduled.
void upstream_connection::back_off(const std::string& why, bool failure, bool at_once) {
  if (drain_requested()) {
    fail_all(call_code::upstream_unavailable, "dragoman is draining", true);
    stop_for_good();
    return;
  }
  arm_timer();
  publish();
  if (failure && (!queueable() || shared_->alternative_to(ep_)))
    fail_all(call_code::upstream_unavailable, why, true, true);
  schedule_reconnect(at_once);
}

void upstream_connection::stop_for_good() {
  close_and({close_reason::kind::closed, "closed by dragoman"}, then::stop);
}

// A reply that cannot be decoded or a stream that cannot be resynchronised: the calls in flight
// get upstream_protocol_error and the connection is replaced.
void upstream_connection::protocol_failure(const std::string& why) {
  log::warn("protocol_error",
            {{"endpoint", ep_.name()}, {"connection", gauge_.id()}, {"reason", why}});
  ep_.record_failure("protocol error: " + why, false, steady::now());
  if (state_ == state::signing_on) {
    close_and({close_reason::kind::dropped, "protocol error: " + why}, then::reconnect);
    return;
  }
  close_and({close_reason::kind::lost, "protocol error: " + why, call_code::upstream_protocol_error,
             false},
            then::reconnect);
}

void upstream_connection::schedule_reconnect(bool at_once) {
  if (state_ == state::stopped || drain_requested()) return;
  backoff_policy p{std::max(milliseconds(1), options().reconnect_min), options().reconnect_max, 20};
  const milliseconds step = backoff_step(p, failed_attempts_);
  state_timer_.expires_after(at_once ? milliseconds(0) : jittered(step / 2, step, rng_));
  state_timer_.async_wait(
      [self = shared_from_this(), epoch = epoch_](boost::system::error_code ec) {
        if (ec || epoch != self->epoch_ || self->state_ == state::stopped) return;
        self->do_connect();
      });
}

// ---- reload and drain ---------------------------------------------------------------------------

void upstream_connection::on_reload(std::shared_ptr<profile_bundle> b) {
  if (state_ == state::stopped) return;
  if (same_wire(profile(), *b->profile)) {
    // The decoder made from the old profile keeps it alive through decoder_bundle_.
    bundle_ = std::move(b);
    session_.use(bundle_);
    return;
  }
  replace_with_ = std::move(b);
  if (state_ == state::up) {
    publish();
    maybe_replace();
  }
}

// With the wire changed, the connection is closed and opened again once nothing is in flight.
void upstream_connection::maybe_replace() {
  if (!replace_with_ || state_ != state::up || !book_.idle()) return;
  log::info("reconnect_for_reload", {{"endpoint", ep_.name()}, {"connection", gauge_.id()}});
  close_and({close_reason::kind::replaced, "reconnecting for a reloaded profile"},
            then::reconnect_now);
}

void upstream_connection::on_drain(time_point deadline) {
  if (drain_requested()) return;
  if (state_ == state::stopped) {
    shared_->connection_closed_for_drain();
    return;
  }
  drain_deadline_ = deadline;
  if (state_ != state::up) {
    fail_all(call_code::upstream_unavailable, "dragoman is draining", true);
    stop_for_good();
    return;
  }
  state_ = state::draining;
  publish();
  drain_timer_.expires_at(deadline);
  drain_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->state_ == state::stopped) return;
    self->drain_deadline_passed();
  });
  check_drained();
}

// Calls in flight and queued have finished: sign off (when the profile has one) and close.
void upstream_connection::check_drained() {
  if (state_ != state::draining || session_.signing_off()) return;
  if (gauge_.calls.load(std::memory_order_relaxed) > 0 || !book_.queue_empty()) return;
  if (session_.echo_out() && !book_.can_send()) return;  // its answer or loss comes back here
  session_.sign_off(std::min(*drain_deadline_, steady::now() + sign_off_wait));
}

void upstream_connection::drain_deadline_passed() {
  if (state_ != state::draining) return;
  fail_all(call_code::upstream_unavailable,
           "dragoman is draining: no answer from " + ep_.name() + " within the drain timeout",
           true);
  // Whatever was in flight was session traffic, gone now; the sign-off goes out with a short
  // wait.
  if (!session_.signing_off()) session_.sign_off(steady::now() + late_sign_off_wait);
}

}  // namespace dragoman::bridge
