// The upstream pool: connections to the legacy endpoints, each owned by one io_context thread,
// with correlation, deadlines, write batching and reconnect with jittered exponential backoff.
#include "bridge/upstream.hpp"

#include "bridge/correlation.hpp"
#include "codecs/pipeline.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <future>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace dragoman::bridge {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

void post_result(const asio::any_io_executor& caller, call_handler done, call_result r) {
  if (!done) return;
  if (!caller) {
    done(std::move(r));
    return;
  }
  asio::post(caller, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

void count_result(upstream_counters& c, const call_result& r) noexcept {
  switch (r.code) {
    case call_code::ok:
      ++c.ok;
      break;
    case call_code::rejected:
      ++c.rejected;
      break;
    case call_code::unknown_operation:
      ++c.unknown_operation;
      break;
    case call_code::invalid_field:
      ++c.invalid_field;
      break;
    case call_code::overloaded:
      ++c.overloaded;
      break;
    case call_code::upstream_unavailable:
      ++c.unavailable;
      break;
    case call_code::upstream_timeout:
      ++c.timeouts;
      break;
    case call_code::upstream_protocol_error:
      ++c.protocol_errors;
      break;
    default:
      break;
  }
}

endpoint_address parse_endpoint(std::string_view text) {
  endpoint_address a;
  a.text = std::string(text);
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw std::invalid_argument("bad upstream endpoint \"" + a.text + "\": want [v6]:port");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      throw std::invalid_argument("bad upstream endpoint \"" + a.text + "\": want host:port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  bool digits = !port.empty() && port.size() <= 5;
  for (char c : port)
    if (c < '0' || c > '9') digits = false;
  if (host.empty() || !digits || std::stoul(std::string(port)) > 65535)
    throw std::invalid_argument("bad upstream endpoint \"" + a.text + "\": want host:port");
  a.host = std::string(host);
  a.port = std::string(port);
  return a;
}

namespace {

// One stderr line per event; these are rare (connect failures, protocol errors, unmatched).
void log_line(const std::string& line) {
  std::fprintf(stderr, "dragoman: %s\n", line.c_str());
}

call_result make_error_result(call_code code, std::string message) {
  call_result r;
  r.code = code;
  r.status = http_status(code);
  r.message = std::move(message);
  if (code == call_code::upstream_unavailable || code == call_code::overloaded)
    r.retry_after_seconds = 1;
  return r;
}

// In sequential and ordered modes a timed-out call keeps its place (replies come in order): its
// reply may still come, and the connection is replaced if it has not within this grace.
constexpr milliseconds ordered_late_grace{2000};
// A connection that was up keeps queueing calls through this many failed reconnects.
constexpr int queue_through_failed_reconnects = 3;

// What engine, pool and connections share; outlives the engine while handlers are pending.
struct pool_shared {
  std::shared_ptr<const codecs::profile> profile;
  engine_options options;
  std::shared_ptr<upstream_counters> counters;
  std::atomic<std::int64_t> connected{0};
  bool field_mode = false;        // many in flight, matched by key
  std::size_t ordered_limit = 1;  // sequential: 1; ordered: max_in_flight_per_connection
  std::size_t read_buffer_size = 0;
};

struct tracked_call;
using deadline_map = std::multimap<steady::time_point, std::unique_ptr<tracked_call>>;

struct tracked_call {
  explicit tracked_call(call_context&& c) : ctx(std::move(c)) {}
  call_context ctx;
  enum class where { none, queued, in_flight } at = where::none;
  deadline_map::iterator deadline_it;
  std::list<tracked_call*>::iterator queue_it;
  std::string key;  // normalized correlation key while in flight (field mode)
};

// Published state for pickers on other threads.
enum class pick_state : int { unavailable = 0, queueing = 1, connected = 2 };

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(asio::io_context& ctx, std::shared_ptr<pool_shared> shared, endpoint_address address,
             std::size_t index)
      : ctx_(ctx),
        shared_(std::move(shared)),
        address_(std::move(address)),
        socket_(ctx),
        resolver_(ctx),
        connect_timer_(ctx),
        backoff_timer_(ctx),
        deadline_timer_(ctx),
        rng_(std::random_device{}() ^ static_cast<unsigned>(index * 7919)) {
    read_buf_.resize(shared_->read_buffer_size);
    state_pub.store(static_cast<int>(pick_state::queueing));
  }

  asio::io_context& context() noexcept { return ctx_; }
  const endpoint_address& address() const noexcept { return address_; }

  void start() {
    asio::post(ctx_, [self = shared_from_this()] { self->do_connect(); });
  }

  void submit(std::unique_ptr<tracked_call> c) {
    asio::post(ctx_, [self = shared_from_this(), c = std::move(c)]() mutable {
      self->on_submit(std::move(c));
    });
  }

  // On the connection's thread (or with its context not running).
  void shutdown() {
    if (stopped_) return;
    stopped_ = true;
    ++epoch_;
    state_pub.store(static_cast<int>(pick_state::unavailable));
    if (state_ == state::connected) {
      --counters().connected;
      shared_->connected.fetch_sub(1);
    }
    close_socket();
    connect_timer_.cancel();
    backoff_timer_.cancel();
    deadline_timer_.cancel();
    ++timer_gen_;
    fail_all(call_code::upstream_unavailable, "dragoman is shutting down", true);
    state_ = state::stopped;
  }

  boost::json::object describe() const {
    boost::json::object o;
    o["endpoint"] = address_.text;
    switch (static_cast<pick_state>(state_pub.load())) {
      case pick_state::connected:
        o["state"] = "connected";
        break;
      case pick_state::queueing:
        o["state"] = "connecting";
        break;
      default:
        o["state"] = "down";
        break;
    }
    o["load"] = load.load();
    std::lock_guard lock(error_mutex_);
    if (!last_error_.empty()) o["last_error"] = last_error_;
    return o;
  }

  std::atomic<int> state_pub{0};
  std::atomic<std::size_t> load{0};  // calls handed to this connection and not yet answered

 private:
  enum class state { connecting, connected, backoff, stopped };

  upstream_counters& counters() { return *shared_->counters; }
  const codecs::profile& profile() const { return *shared_->profile; }
  const engine_options& options() const { return shared_->options; }

  void set_error(std::string e) {
    std::lock_guard lock(error_mutex_);
    last_error_ = std::move(e);
  }

  void publish() {
    pick_state s = pick_state::unavailable;
    if (state_ == state::connected)
      s = pick_state::connected;
    else if (queueable())
      s = pick_state::queueing;
    state_pub.store(static_cast<int>(s));
  }

  // Calls may wait for this connection: its first connect is under way, or it was up and is
  // reconnecting (for a few attempts).
  bool queueable() const noexcept {
    if (stopped_) return false;
    if (state_ == state::connected) return true;
    if (!ever_connected_) return failed_attempts_ == 0;
    return failed_attempts_ < queue_through_failed_reconnects;
  }

  // ---- call bookkeeping -------------------------------------------------------------------

  tracked_call* adopt(std::unique_ptr<tracked_call> c) {
    auto deadline = c->ctx.deadline;
    tracked_call* raw = c.get();
    raw->deadline_it = deadlines_.emplace(deadline, std::move(c));
    if (deadline < armed_at_) arm_timer();
    return raw;
  }

  std::unique_ptr<tracked_call> release(tracked_call* c) {
    if (c->at == tracked_call::where::queued) {
      queue_.erase(c->queue_it);
    } else if (c->at == tracked_call::where::in_flight) {
      if (shared_->field_mode) {
        in_flight_.erase(c->key);
      } else {
        // Its place stays, empty, until its reply comes (or the connection is replaced).
        for (auto& slot : ordered_)
          if (slot.call == c) {
            slot.call = nullptr;
            slot.late_until = steady::now() + ordered_late_grace;
            break;
          }
      }
    }
    c->at = tracked_call::where::none;
    std::unique_ptr<tracked_call> owned = std::move(c->deadline_it->second);
    deadlines_.erase(c->deadline_it);
    return owned;
  }

  // Every submitted call ends here exactly once.
  void finish(std::unique_ptr<tracked_call> c, call_result r) {
    load.fetch_sub(1, std::memory_order_relaxed);
    count_result(counters(), r);
    post_result(c->ctx.caller, std::move(c->ctx.done), std::move(r));
  }

  void finish_error(std::unique_ptr<tracked_call> c, call_code code, std::string message) {
    finish(std::move(c), make_error_result(code, std::move(message)));
  }

  // Fails the calls in flight (and, with queued, those waiting too).
  void fail_all(call_code code, const std::string& message, bool queued) {
    std::vector<tracked_call*> victims;
    for (auto& [deadline, c] : deadlines_)
      if (c->at == tracked_call::where::in_flight ||
          (queued && c->at == tracked_call::where::queued))
        victims.push_back(c.get());
    for (tracked_call* c : victims) {
      auto owned = release(c);
      call_result r = make_error_result(code, message);
      r.attempts = 1;
      finish(std::move(owned), std::move(r));
    }
    ordered_.clear();
  }

  // ---- submitting and sending --------------------------------------------------------------

  void on_submit(std::unique_ptr<tracked_call> c) {
    if (stopped_) {
      finish_error(std::move(c), call_code::upstream_unavailable, "dragoman is shutting down");
      return;
    }
    if (c->ctx.deadline <= steady::now()) {
      finish_error(std::move(c), call_code::upstream_timeout, "the deadline passed before sending");
      return;
    }
    if (state_ == state::connected && queue_.empty()) {
      if (shared_->field_mode) {
        if (in_flight_.size() >= options().max_in_flight_per_connection) {
          finish_error(std::move(c), call_code::overloaded,
                       "too many calls in flight on " + address_.text);
          return;
        }
        send(adopt(std::move(c)));
        return;
      }
      if (ordered_.size() < shared_->ordered_limit) {
        send(adopt(std::move(c)));
        return;
      }
      if (shared_->ordered_limit > 1) {
        finish_error(std::move(c), call_code::overloaded,
                     "too many calls in flight on " + address_.text);
        return;
      }
    }
    if (!queueable()) {
      finish_error(std::move(c), call_code::upstream_unavailable,
                   "upstream " + address_.text + " is unavailable" +
                       (last_connect_error_.empty() ? "" : ": " + last_connect_error_));
      return;
    }
    if (queue_.size() >= options().max_queued) {
      finish_error(std::move(c), call_code::overloaded,
                   "too many calls queued for " + address_.text);
      return;
    }
    tracked_call* raw = adopt(std::move(c));
    raw->queue_it = queue_.insert(queue_.end(), raw);
    raw->at = tracked_call::where::queued;
  }

  // Sends queued calls while the connection can take them.
  void pump_queue() {
    while (state_ == state::connected && !queue_.empty()) {
      if (shared_->field_mode) {
        if (in_flight_.size() >= options().max_in_flight_per_connection) break;
      } else if (ordered_.size() >= shared_->ordered_limit) {
        break;
      }
      tracked_call* c = queue_.front();
      queue_.pop_front();
      c->at = tracked_call::where::none;
      send(c);
    }
  }

  // Encodes the call into the pending write buffer and registers it in flight. c is adopted.
  void send(tracked_call* c) {
    const codecs::operation& op = *c->ctx.op;
    if (shared_->field_mode) {
      std::size_t idx = *op.request.correlation_field;  // checked by the engine
      if (c->ctx.key_generated) {
        const codecs::field_spec& f = op.request.fields[idx];
        std::string& slot = c->ctx.request.slot(idx);
        // The other key parts (correlation.also) are the request's; only the counter varies.
        key_suffix(op.request, c->ctx.request, key_rest_);
        auto value = keys_.next(
            f,
            [this](std::string_view k) {
              key_scratch_.assign(k.data(), k.size());
              key_scratch_ += key_rest_;
              return in_flight_.count(key_scratch_) != 0 || timed_out_set_.count(key_scratch_) != 0;
            },
            slot);
        if (!value) {
          finish_error(release(c), call_code::overloaded,
                       "no free correlation key on " + address_.text);
          return;
        }
        c->ctx.request.set_present(idx);
      }
      key_of(op.request, c->ctx.request, c->key);
      if (in_flight_.count(c->key)) {
        finish_error(release(c), call_code::invalid_field,
                     std::string(op.request.fields[idx].request_name()) + ": correlation key \"" +
                         c->key + "\" is already in flight");
        return;
      }
    }
    std::size_t before = out_pending_.size();
    auto encoded =
        codecs::encode_message(profile(), op.request, c->ctx.request, payload_, out_pending_);
    if (!encoded) {
      out_pending_.resize(before);
      finish_error(release(c), call_code::invalid_field, encoded.error().to_string());
      return;
    }
    c->at = tracked_call::where::in_flight;
    if (shared_->field_mode)
      in_flight_.emplace(c->key, c);
    else
      ordered_.push_back({c, {}});
    start_write();
  }

  // One write in flight; frames queued meanwhile go out together in the next one.
  void start_write() {
    if (writing_ || out_pending_.empty() || state_ != state::connected) return;
    std::swap(out_pending_, out_writing_);
    writing_ = true;
    asio::async_write(
        socket_, asio::buffer(out_writing_),
        [self = shared_from_this(), epoch = epoch_](boost::system::error_code ec, std::size_t) {
          self->on_write(epoch, ec);
        });
  }

  void on_write(std::uint64_t epoch, boost::system::error_code ec) {
    writing_ = false;
    out_writing_.clear();
    if (epoch != epoch_) {
      start_write();  // a new connection may have frames pending already
      return;
    }
    if (ec) {
      connection_lost("write failed: " + ec.message(), call_code::upstream_unavailable);
      return;
    }
    start_write();
  }

  // ---- reading and matching ----------------------------------------------------------------

  void do_read() {
    if (read_begin_ > 0 && (read_end_ == read_buf_.size() || read_begin_ == read_end_)) {
      std::copy(read_buf_.begin() + static_cast<std::ptrdiff_t>(read_begin_),
                read_buf_.begin() + static_cast<std::ptrdiff_t>(read_end_), read_buf_.begin());
      read_end_ -= read_begin_;
      read_begin_ = 0;
    }
    if (read_end_ == read_buf_.size()) {
      protocol_failure("a frame does not fit the read buffer (" + std::to_string(read_buf_.size()) +
                       " bytes; max_frame_length)");
      return;
    }
    socket_.async_read_some(
        asio::buffer(read_buf_.data() + read_end_, read_buf_.size() - read_end_),
        [self = shared_from_this(), epoch = epoch_](boost::system::error_code ec, std::size_t n) {
          self->on_read(epoch, ec, n);
        });
  }

  void on_read(std::uint64_t epoch, boost::system::error_code ec, std::size_t n) {
    if (epoch != epoch_ || stopped_) return;
    if (ec) {
      connection_lost(ec == asio::error::eof ? std::string("closed by the peer")
                                             : "read failed: " + ec.message(),
                      call_code::upstream_unavailable);
      return;
    }
    read_end_ += n;
    const std::uint64_t my_epoch = epoch_;
    // Each pass consumes at least one byte or stops, so this ends.
    while (read_begin_ < read_end_) {
      codecs::byte_view input(read_buf_.data() + read_begin_, read_end_ - read_begin_);
      codecs::frame_result fr = decoder_->decode(input);
      if (fr.status == codecs::frame_status::need_more) break;
      if (fr.status == codecs::frame_status::fatal || fr.consumed == 0 ||
          fr.consumed > input.size()) {
        protocol_failure("framing: " +
                         (fr.message.empty() ? std::string("no progress") : fr.message));
        return;
      }
      if (fr.status == codecs::frame_status::skip) {
        ++counters().frames_skipped;
        read_begin_ += fr.consumed;
        continue;
      }
      handle_payload(fr.payload);
      if (epoch_ != my_epoch) return;  // the payload closed the connection
      read_begin_ += fr.consumed;
    }
    if (read_begin_ == read_end_) read_begin_ = read_end_ = 0;
    do_read();
  }

  void handle_payload(codecs::byte_view payload) {
    // In order (sequential, ordered) the reply belongs to the oldest call: decode it as that
    // call's operation, since replies of different operations may look alike (memcached's
    // NOT_FOUND answers delete and incr).
    const codecs::operation* only = nullptr;
    if (!shared_->field_mode && !ordered_.empty() && ordered_.front().call)
      only = ordered_.front().call->ctx.op;
    auto decoded = codecs::decode_payload(profile(), payload, reply_,
                                          codecs::decode_preference::replies_first, only);
    if (!decoded) {
      ++counters().decode_errors;
      protocol_failure("undecodable reply: " + decoded.error().to_string());
      return;
    }
    if (!decoded->is_reply) {
      ++counters().unsolicited;
      return;
    }
    if (shared_->field_mode) {
      auto idx = decoded->msg->correlation_field;
      if (!idx || !reply_.has(*idx)) {
        unmatched("(none)", decoded->op->name);
        return;
      }
      key_of(*decoded->msg, reply_, key_scratch_);
      auto it = in_flight_.find(key_scratch_);
      if (it == in_flight_.end()) {
        if (timed_out_set_.erase(key_scratch_)) {
          ++counters().late;
          return;
        }
        unmatched(key_scratch_, decoded->op->name);
        return;
      }
      // Replies of several operations may share a shape (HL7 ACKs): the key found the call,
      // so decode again as that call's operation before calling it a mismatch.
      const codecs::operation* call_op = it->second->ctx.op;
      if (decoded->op != call_op) {
        auto again = codecs::decode_payload(profile(), payload, reply_,
                                            codecs::decode_preference::replies_first, call_op);
        if (again && again->is_reply) decoded = std::move(again);
      }
      complete_with_reply(it->second, *decoded);
      pump_queue();
      return;
    }
    if (ordered_.empty()) {
      unmatched("(in order, nothing in flight)", decoded->op->name);
      return;
    }
    if (tracked_call* head = ordered_.front().call) {
      complete_with_reply(head, *decoded);  // leaves its place empty
    } else {
      ++counters().late;
    }
    ordered_.pop_front();
    if (!ordered_.empty() && !ordered_.front().call) arm_timer();
    pump_queue();
  }

  void complete_with_reply(tracked_call* c, const codecs::decoded_message& decoded) {
    auto owned = release(c);
    if (decoded.op != owned->ctx.op) {
      call_result r = make_error_result(
          call_code::upstream_protocol_error,
          "the reply is a " + decoded.op->name + " reply, the call was " + owned->ctx.op->name);
      r.attempts = 1;
      finish(std::move(owned), std::move(r));
      return;
    }
    call_result r = reply_result(*owned->ctx.op, reply_);
    r.attempts = 1;
    finish(std::move(owned), std::move(r));
  }

  void unmatched(std::string key, const std::string& op) {
    std::uint64_t n = ++counters().unmatched;
    std::replace(key.begin(), key.end(), '\x1f', '/');
    if (n <= 100 || n % 1000 == 0)
      log_line("upstream " + address_.text + ": " + op + " reply with key " + key +
               " matches no call in flight (unmatched #" + std::to_string(n) + ")");
  }

  // ---- deadlines ---------------------------------------------------------------------------

  void arm_timer() {
    auto next = steady::time_point::max();
    if (!deadlines_.empty()) next = deadlines_.begin()->first;
    if (!ordered_.empty() && !ordered_.front().call)
      next = std::min(next, ordered_.front().late_until);
    if (next == armed_at_) return;
    armed_at_ = next;
    ++timer_gen_;
    if (next == steady::time_point::max()) {
      deadline_timer_.cancel();
      return;
    }
    deadline_timer_.expires_at(next);
    deadline_timer_.async_wait(
        [self = shared_from_this(), gen = timer_gen_](boost::system::error_code) {
          if (gen != self->timer_gen_ || self->stopped_) return;
          self->on_deadline();
        });
  }

  void on_deadline() {
    armed_at_ = steady::time_point::max();
    const auto now = steady::now();
    // Bounded by the number of calls held.
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      tracked_call* c = deadlines_.begin()->second.get();
      bool was_in_flight = c->at == tracked_call::where::in_flight;
      if (was_in_flight && shared_->field_mode) remember_timed_out(c->key);
      auto owned = release(c);
      call_result r = make_error_result(
          call_code::upstream_timeout,
          was_in_flight ? "no reply from " + address_.text + " within the deadline"
                        : "no connection to " + address_.text + " became free within the deadline");
      r.attempts = was_in_flight ? 1 : 0;
      finish(std::move(owned), std::move(r));
    }
    if (!ordered_.empty() && !ordered_.front().call && ordered_.front().late_until <= now) {
      connection_lost("no reply to a timed-out call within the grace period",
                      call_code::upstream_unavailable);
      return;
    }
    arm_timer();
    pump_queue();
  }

  void remember_timed_out(const std::string& key) {
    std::size_t cap = std::max<std::size_t>(
        64, std::min<std::size_t>(options().max_in_flight_per_connection, 65536));
    if (!timed_out_set_.insert(key).second) return;
    timed_out_order_.push_back(key);
    while (timed_out_order_.size() > cap) {
      timed_out_set_.erase(timed_out_order_.front());
      timed_out_order_.pop_front();
    }
  }

  // ---- connection lifecycle ----------------------------------------------------------------

  void close_socket() {
    boost::system::error_code ignored;
    resolver_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  void do_connect() {
    if (stopped_) return;
    state_ = state::connecting;
    publish();
    const std::uint64_t epoch = ++epoch_;
    connect_timed_out_ = false;
    connect_timer_.expires_after(options().connect_timeout);
    connect_timer_.async_wait([self = shared_from_this(), epoch](boost::system::error_code ec) {
      if (ec || epoch != self->epoch_ || self->state_ != state::connecting) return;
      self->connect_timed_out_ = true;
      self->close_socket();
    });
    resolver_.async_resolve(
        address_.host, address_.port,
        [self = shared_from_this(), epoch](boost::system::error_code ec,
                                           tcp::resolver::results_type results) {
          if (epoch != self->epoch_ || self->stopped_) return;
          if (ec) {
            self->connect_failed(self->connect_timed_out_ ? "connect timed out"
                                                          : "resolve failed: " + ec.message());
            return;
          }
          asio::async_connect(self->socket_, results,
                              [self, epoch](boost::system::error_code ec2, const tcp::endpoint&) {
                                if (epoch != self->epoch_ || self->stopped_) return;
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

  void on_connected() {
    boost::system::error_code ignored;
    connect_timer_.cancel();
    socket_.set_option(tcp::no_delay(true), ignored);
    state_ = state::connected;
    ++counters().connects;
    if (ever_connected_) ++counters().reconnects;
    ever_connected_ = true;
    failed_attempts_ = 0;
    last_connect_error_.clear();
    ++counters().connected;
    shared_->connected.fetch_add(1);
    decoder_ = profile().framing->make_decoder();
    read_begin_ = read_end_ = 0;
    timed_out_set_.clear();
    timed_out_order_.clear();
    publish();
    do_read();
    pump_queue();
  }

  void connect_failed(const std::string& why) {
    connect_timer_.cancel();
    close_socket();
    ++counters().connect_failures;
    ++failed_attempts_;
    last_connect_error_ = why;
    set_error(why);
    if (failed_attempts_ == 1 || failed_attempts_ % 20 == 0)
      log_line("upstream " + address_.text + ": " + why + " (attempt " +
               std::to_string(failed_attempts_) + ")");
    state_ = state::backoff;
    publish();
    if (!queueable())
      fail_all(call_code::upstream_unavailable,
               "cannot connect to upstream " + address_.text + ": " + why, true);
    schedule_reconnect();
  }

  // The connection is unusable: fail the calls in flight with code, keep the queued ones for
  // the next connection, and reconnect after a backoff.
  void connection_lost(const std::string& why, call_code code) {
    if (state_ != state::connected) return;
    ++epoch_;
    close_socket();
    ++counters().disconnects;
    --counters().connected;
    shared_->connected.fetch_sub(1);
    set_error(why);
    log_line("upstream " + address_.text + ": " + why + "; reconnecting");
    state_ = state::backoff;
    out_pending_.clear();
    fail_all(code, "upstream " + address_.text + ": " + why, false);
    arm_timer();
    publish();
    schedule_reconnect();
  }

  // A reply that cannot be decoded or a stream that cannot be resynchronised: the calls in
  // flight get upstream_protocol_error and the connection is replaced.
  void protocol_failure(const std::string& why) {
    connection_lost("protocol error: " + why, call_code::upstream_protocol_error);
  }

  void schedule_reconnect() {
    if (stopped_) return;
    auto lo = std::max<std::int64_t>(1, options().reconnect_min.count());
    auto hi = std::max<std::int64_t>(lo, options().reconnect_max.count());
    int shift = std::min(failed_attempts_, 20);
    std::int64_t delay = std::min<std::int64_t>(hi, lo << shift);
    std::uniform_int_distribution<std::int64_t> jitter(delay / 2, delay);
    const std::uint64_t epoch = epoch_;
    backoff_timer_.expires_after(milliseconds(jitter(rng_)));
    backoff_timer_.async_wait([self = shared_from_this(), epoch](boost::system::error_code ec) {
      if (ec || epoch != self->epoch_ || self->stopped_) return;
      self->do_connect();
    });
  }

  asio::io_context& ctx_;
  std::shared_ptr<pool_shared> shared_;
  endpoint_address address_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer connect_timer_;
  asio::steady_timer backoff_timer_;
  asio::steady_timer deadline_timer_;
  std::minstd_rand rng_;

  state state_ = state::connecting;
  bool stopped_ = false;
  bool ever_connected_ = false;
  bool connect_timed_out_ = false;
  int failed_attempts_ = 0;
  std::string last_connect_error_;
  std::uint64_t epoch_ = 0;  // bumped on every (re)connect and close: stale handlers bail out

  // Calls: owned by deadlines_ (ordered by deadline), referenced from queue_ or in flight.
  deadline_map deadlines_;
  std::list<tracked_call*> queue_;
  std::unordered_map<std::string, tracked_call*> in_flight_;  // field mode
  // Sequential and ordered modes: calls in flight in sending order; a timed-out call's place
  // stays (call null) until its reply comes, within a grace.
  struct ordered_slot {
    tracked_call* call;
    steady::time_point late_until;
  };
  std::deque<ordered_slot> ordered_;
  std::unordered_set<std::string> timed_out_set_;  // field mode: keys of recent timeouts
  std::deque<std::string> timed_out_order_;
  key_allocator keys_;
  std::string key_scratch_;
  std::string key_rest_;
  steady::time_point armed_at_ = steady::time_point::max();
  std::uint64_t timer_gen_ = 0;

  // Frames are built into reusable buffers; one write in flight.
  codecs::byte_buffer payload_;
  codecs::byte_buffer out_pending_;
  codecs::byte_buffer out_writing_;
  bool writing_ = false;

  std::unique_ptr<codecs::frame_decoder> decoder_;
  codecs::byte_buffer read_buf_;
  std::size_t read_begin_ = 0;
  std::size_t read_end_ = 0;
  codecs::record reply_;

  mutable std::mutex error_mutex_;  // last_error_ only, for admin output
  std::string last_error_;
};

}  // namespace

struct upstream_pool::impl {
  std::shared_ptr<pool_shared> shared;
  std::vector<std::shared_ptr<connection>> connections;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stopped{false};
  std::mutex stop_mutex;
};

upstream_pool::upstream_pool(std::shared_ptr<const codecs::profile> profile,
                             const engine_options& options, io_pool& pool,
                             std::shared_ptr<upstream_counters> counters)
    : impl_(std::make_unique<impl>()) {
  auto shared = std::make_shared<pool_shared>();
  shared->profile = std::move(profile);
  shared->options = options;
  shared->counters = std::move(counters);
  shared->field_mode = shared->profile->correlation.mode == codecs::correlation_mode::field;
  shared->ordered_limit = shared->profile->correlation.mode == codecs::correlation_mode::ordered
                              ? std::max<std::size_t>(1, options.max_in_flight_per_connection)
                              : 1;
  std::size_t max_frame =
      shared->profile->framing ? shared->profile->framing->max_frame_length() : 65536;
  // Room for one maximal frame plus its framing bytes, and for batching small replies.
  shared->read_buffer_size = std::max<std::size_t>(max_frame + 64, 16384);
  impl_->shared = shared;

  const auto& names =
      options.upstreams.empty() ? shared->profile->upstream.endpoints : options.upstreams;
  std::size_t per = std::max<std::size_t>(1, options.connections_per_endpoint);
  std::vector<endpoint_address> addresses;
  for (const auto& n : names) addresses.push_back(parse_endpoint(n));
  // Interleaved, so that consecutive picks and contexts alternate between endpoints.
  std::size_t index = 0;
  for (std::size_t i = 0; i < per; ++i)
    for (const auto& a : addresses)
      impl_->connections.push_back(std::make_shared<connection>(pool.next(), shared, a, index++));
  for (auto& c : impl_->connections) c->start();
}

upstream_pool::~upstream_pool() {
  stop();
}

void upstream_pool::dispatch(call_context&& call) {
  auto& counters = *impl_->shared->counters;
  auto fail = [&](std::string message) {
    call_result r = make_error_result(call_code::upstream_unavailable, std::move(message));
    count_result(counters, r);
    post_result(call.caller, std::move(call.done), std::move(r));
  };
  if (impl_->stopped.load()) return fail("dragoman is shutting down");
  const auto& conns = impl_->connections;
  if (conns.empty()) return fail("no upstream endpoints are configured");
  // Least loaded connected connection, round robin among equals; else one that is connecting.
  const std::size_t n = conns.size();
  const std::size_t start = impl_->next.fetch_add(1, std::memory_order_relaxed);
  connection* best = nullptr;
  connection* waiting = nullptr;
  std::size_t best_load = 0;
  for (std::size_t i = 0; i < n; ++i) {
    connection* c = conns[(start + i) % n].get();
    auto s = static_cast<pick_state>(c->state_pub.load(std::memory_order_relaxed));
    if (s == pick_state::connected) {
      std::size_t l = c->load.load(std::memory_order_relaxed);
      if (!best || l < best_load) {
        best = c;
        best_load = l;
        if (l == 0) break;
      }
    } else if (s == pick_state::queueing && !waiting) {
      waiting = c;
    }
  }
  connection* target = best ? best : waiting;
  if (!target) {
    std::string message = "no upstream endpoint is reachable";
    if (auto* c = conns[start % n].get()) {
      auto d = c->describe();
      if (auto* e = d.if_contains("last_error"))
        message += " (" + c->address().text + ": " + std::string(e->as_string()) + ")";
    }
    return fail(std::move(message));
  }
  target->load.fetch_add(1, std::memory_order_relaxed);
  target->submit(std::make_unique<tracked_call>(std::move(call)));
}

bool upstream_pool::ready() const noexcept {
  return impl_->shared->connected.load() > 0;
}

boost::json::array upstream_pool::describe() const {
  boost::json::array a;
  for (const auto& c : impl_->connections) a.push_back(c->describe());
  return a;
}

void upstream_pool::stop() {
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->stopped.exchange(true)) return;
  std::vector<std::future<void>> waits;
  for (auto& c : impl_->connections) {
    asio::io_context& ctx = c->context();
    if (ctx.stopped() || ctx.get_executor().running_in_this_thread()) {
      c->shutdown();
      continue;
    }
    auto done = std::make_shared<std::promise<void>>();
    waits.push_back(done->get_future());
    asio::post(ctx, [c, done] {
      c->shutdown();
      done->set_value();
    });
  }
  // Bounded: a context that does not run its queue within the grace is left to its owner.
  const auto until = steady::now() + std::chrono::seconds(2);
  for (auto& w : waits) w.wait_until(until);
}

}  // namespace dragoman::bridge
