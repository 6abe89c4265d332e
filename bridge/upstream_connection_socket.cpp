// One upstream connection, the socket's life: writing and reading, connect (held back by an open
// breaker), sign-on, the one way to close, reconnect with jittered backoff, reload and drain.
#include "bridge/upstream_connection.hpp"

#include "bridge/log.hpp"
#include "bridge/retry_budget.hpp"
#include "bridge/upstream_tls.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/error.hpp>

#include <algorithm>

namespace dragoman::bridge {

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// The longest wait for the answer to a sign-off, inside the drain deadline.
constexpr milliseconds sign_off_wait{1000};
// After the drain deadline a sign-off is still written; the connection closes this much later.
constexpr milliseconds late_sign_off_wait{200};

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

}  // namespace

// ---- writing and reading ------------------------------------------------------------------------

// One write in flight; frames queued meanwhile go out together in the next one.
void upstream_connection::start_write() {
  if (writing_ || out_pending_.empty() || !writable()) return;
  std::swap(out_pending_, out_writing_);
  answer_bytes_pending_ = 0;
  if (seq_) {
    // The numbers this batch carries are kept before the peer can see them.
    seq_committed_ = seq_->next_out();
    save_sequence();
  }
  writing_ = true;
  ++batches_started_;
  counters().bytes_out.fetch_add(out_writing_.size(), std::memory_order_relaxed);
  stream_.async_write(asio::buffer(out_writing_), [self = shared_from_this(), epoch = epoch_](
                                                      boost::system::error_code ec, std::size_t n) {
    self->on_write(epoch, ec, n);
  });
}

void upstream_connection::on_write(std::uint64_t epoch, boost::system::error_code ec,
                                   std::size_t n) {
  writing_ = false;
  out_writing_.clear();
  if (epoch != epoch_) {
    start_write();  // a new connection may have frames pending already
    return;
  }
  if (ec) {
    // Not a byte of the batch reached the socket: its calls count as never written, so the
    // close below may retry them elsewhere.
    if (n == 0) --batches_started_;
    close_and({close_reason::kind::lost, "write failed: " + ec.message(),
               call_code::upstream_unavailable, true},
              then::reconnect);
    return;
  }
  last_activity_ = steady::now();
  if (!close_when_written_.empty() && out_pending_.empty()) {
    const std::string why = std::move(close_when_written_);
    close_when_written_.clear();
    close_and({close_reason::kind::lost, why, call_code::upstream_unavailable, true},
              then::reconnect);
    return;
  }
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
  stream_.async_read_some(
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
    const bool tls_error = stream_.is_tls() && (ec.category() == asio::error::get_ssl_category() ||
                                                ec == asio::ssl::error::stream_truncated);
    if (tls_error && tls_unconfirmed_) {
      tls_refused_late("TLS: " + describe_tls_failure(ec, stream_.ssl(),
                                                      !options().tls->settings().cert.empty()));
      return;
    }
    close_and({close_reason::kind::lost,
               ec == asio::error::eof ? std::string("closed by the peer")
               : tls_error ? "read failed: TLS: " + describe_tls_failure(ec, stream_.ssl(), true)
                           : "read failed: " + ec.message(),
               call_code::upstream_unavailable, true},
              then::reconnect);
    return;
  }
  if (tls_unconfirmed_ && n > 0) {
    tls_unconfirmed_ = false;
    if (carries_calls()) confirm_up();
  }
  counters().bytes_in.fetch_add(n, std::memory_order_relaxed);
  last_activity_ = steady::now();
  reader_.commit(n);
  const bool more = read_frames();
  save_sequence();
  if (more) do_read();
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
  if (ep_.listened()) return wait_for_host();
  if (replace_with_) bundle_ = std::move(replace_with_);
  book_.set_mode(profile().correlation.mode, profile().correlation.max_in_flight);
  if (wait_for_breaker()) return;
  state_ = state::connecting;
  publish();
  const std::uint64_t epoch = ++epoch_;
  connect_timed_out_ = false;
  tls_unconfirmed_ = false;
  // A fresh stream per connect; TLS takes the material in use now (rotated files apply here).
  stream_.reset(options().tls ? options().tls->context() : nullptr);
  if (stream_.is_tls()) {
    std::string why;
    if (!options().tls->prepare(stream_.ssl(), ep_.address().host, why)) {
      connect_failed(why);
      return;
    }
  }
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
        asio::async_connect(self->stream_.socket(), results,
                            [self, epoch](boost::system::error_code ec2, const tcp::endpoint&) {
                              if (epoch != self->epoch_ || self->state_ == state::stopped) return;
                              if (ec2) {
                                self->connect_failed(self->connect_timed_out_
                                                         ? "connect timed out"
                                                         : "connect failed: " + ec2.message());
                                return;
                              }
                              self->on_tcp_connected(epoch);
                            });
      });
}

// TLS: the handshake, within what is left of the connect timeout (its timer still runs). A
// failure is a failed connect, with the reason (unknown CA, expired, name mismatch, ...).
void upstream_connection::on_tcp_connected(std::uint64_t epoch) {
  if (!stream_.is_tls()) {
    on_connected();
    return;
  }
  boost::system::error_code ignored;
  stream_.socket().set_option(tcp::no_delay(true), ignored);
  stream_.async_handshake([self = shared_from_this(), epoch](boost::system::error_code ec) {
    if (epoch != self->epoch_ || self->state_ == state::stopped) return;
    if (ec) {
      self->connect_failed(
          self->connect_timed_out_
              ? "TLS handshake timed out"
              : "TLS handshake failed: " +
                    describe_tls_failure(ec, self->stream_.ssl(),
                                         !self->options().tls->settings().cert.empty()));
      return;
    }
    self->tls_unconfirmed_ = SSL_version(self->stream_.ssl()) == TLS1_3_VERSION;
    self->on_connected();
  });
}

void upstream_connection::on_connected() {
  boost::system::error_code ignored;
  state_timer_.cancel();
  stream_.socket().set_option(tcp::no_delay(true), ignored);
  ++counters().connects;
  if (ever_connected_) ++counters().reconnects;
  ever_connected_ = true;
  const std::size_t need = profile().framing->max_frame_length() + 64;
  reader_.reset(profile().framing->make_decoder(), std::max(need, shared_->read_buffer_size));
  decoder_bundle_ = bundle_;
  book_.forget_late_keys();
  last_activity_ = steady::now();
  last_reply_at_ = {};
  log::info("connect", {{"endpoint", ep_.name()}, {"connection", gauge_.id()}});
  session_.bind(bundle_, book_.keyed());
  if (auto err = open_sequence()) {
    log::error("session_state_unreadable", {{"endpoint", ep_.name()}, {"error", *err}});
    close_and({close_reason::kind::dropped, *err}, then::reconnect);
    return;
  }
  close_when_written_.clear();
  if (seq_) seq_->new_connection();
  if (seq_ && !profile().session.sequence.reset_field.empty() && session_.spec().sign_on) {
    seq_->reset();  // the sign-on says so (FIX ResetSeqNumFlag)
    seq_committed_ = 1;
  }
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

// A connect that failed, for the counters, the breaker and the log (the first, then every 20th).
void upstream_connection::count_connect_failure(const std::string& why) {
  ++counters().connect_failures;
  ++failed_attempts_;
  last_connect_error_ = why;
  ep_.record_failure(why, probe_connect_, steady::now());
  probe_connect_ = false;
  if (failed_attempts_ == 1 || failed_attempts_ % 20 == 0)
    log::warn("connect_failed", {{"endpoint", ep_.name()},
                                 {"connection", gauge_.id()},
                                 {"reason", why},
                                 {"attempt", failed_attempts_}});
}

void upstream_connection::connect_failed(const std::string& why) {
  state_timer_.cancel();
  close_socket();
  set_error(why);
  count_connect_failure(why);
  state_ = state::backoff;
  back_off("cannot connect to upstream " + ep_.name() + ": " + why, true, false);
}

void upstream_connection::close_socket() {
  resolver_.cancel();
  stream_.close();
}

// The host refused the TLS session right after the handshake (TLS 1.3 client certificate
// checks): a failed connect for the counters, the backoff and the breaker.
void upstream_connection::tls_refused_late(const std::string& why) {
  tls_unconfirmed_ = false;
  count_connect_failure(why);
  close_and({state_ == state::signing_on ? close_reason::kind::dropped : close_reason::kind::lost,
             why, call_code::upstream_unavailable, false},
            then::reconnect);
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
  if (seq_) {
    // Frames never handed to the socket give their numbers back.
    seq_->give_back_to(seq_committed_);
    save_sequence();
  }
  answer_bytes_pending_ = 0;
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
  ep_.record_failure("protocol error: " + why, false, steady::now(), failure_kind::answer);
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
  // Frames not yet handed to the socket stay unsent: their calls are answered as not sent now.
  out_pending_.clear();
  if (seq_) seq_->give_back_to(seq_committed_);
  fail_all(call_code::upstream_unavailable,
           "dragoman is draining: no answer from " + ep_.name() + " within the drain timeout",
           true);
  // Whatever was in flight was session traffic, gone now; the sign-off goes out with a short
  // wait.
  if (!session_.signing_off()) session_.sign_off(steady::now() + late_sign_off_wait);
}

}  // namespace dragoman::bridge
