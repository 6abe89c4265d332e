// The front-door framework: the acceptor, the drain registry, the door template and the transport
// half every door's session shares (reactor reads, batched writes, closing with dropped answers).
#pragma once

#include "bridge/buffer_pool.hpp"
#include "bridge/door_tls.hpp"
#include "bridge/io_pool.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace dragoman::bridge {

// Why one acceptor and not one SO_REUSEPORT acceptor per thread: an app opens a few long-lived
// keep-alive connections, which round robin spreads evenly while the kernel's hash may not; the
// port stays exclusive, so a second instance fails with "address in use" instead of sharing it;
// and the accept rate is never what limits a sidecar.
class acceptor : public std::enable_shared_from_this<acceptor> {
 public:
  // Called on the acceptor's context with a socket bound to the next context of the pool.
  using on_connection = std::function<void(boost::asio::ip::tcp::socket)>;

  acceptor(io_pool& pool, std::string what, on_connection handler);
  // Called on the acceptor's context each time accept fails (counted by the door).
  void on_failure(std::function<void()> f) { on_failure_ = std::move(f); }

  // Binds and listens; throws std::runtime_error("cannot listen for WHAT on ADDR: reason").
  boost::asio::ip::tcp::endpoint open(const boost::asio::ip::tcp::endpoint& ep);
  void start();
  // Thread-safe: closes the listening socket; connections already accepted are not touched.
  void stop();

 private:
  void do_accept();
  void on_accept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);

  io_pool& pool_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  std::string what_;
  on_connection handler_;
  std::function<void()> on_failure_;
  bool stopped_ = false;
  bool failing_ = false;  // accept fails (said once, until it succeeds again)
};

// A door's sessions, for draining: each registers a callback that posts its own drain. Thread-safe.
class session_registry {
 public:
  // Registers a session (`this` of a Session with drain(), executor() and weak_from_this()) and
  // returns the id to remove it with. Its callback runs under the registry's lock, which remove()
  // takes too, so the session is alive (if maybe expiring) while it runs.
  template <class Session>
  std::uint64_t add(Session* session) {
    return add_callback([session] {
      if (auto self = session->weak_from_this().lock()) {
        auto ex = self->executor();
        boost::asio::post(ex, [self = std::move(self)] { self->drain(); });
      }
    });
  }
  void remove(std::uint64_t id);
  // Posts a drain to every session registered now.
  void drain_all();

 private:
  std::uint64_t add_callback(std::function<void()> post_drain);

  std::mutex mutex_;
  std::uint64_t next_id_ = 0;
  std::unordered_map<std::uint64_t, std::function<void()>> drainers_;  // id → posts a drain
};

class call_engine;
class door_guard;
class metrics;
struct call_result;

// What every front door is configured with; each door's options add their own.
struct door_options {
  boost::asio::ip::tcp::endpoint listen;
  std::size_t max_connections = 10000;  // more are refused (503 / an overloaded line) and closed
  std::chrono::milliseconds idle_timeout{60000};  // nothing received and nothing owed: close
  // A begun request (HTTP) or line that is not complete must keep coming: an HTTP header within
  // header_timeout of its first byte (else 408), and then n bytes by header_timeout + n /
  // min_receive_rate seconds after the first (HTTP: 408; lines: an error line); both then close.
  std::chrono::milliseconds header_timeout{10000};
  std::size_t min_receive_rate = 1024;  // bytes per second; 0: any rate
  // Answers waiting for a client that does not read, beyond the write in flight: close.
  std::size_t max_output_bytes = 4 << 20;
  metrics* call_metrics = nullptr;  // per-call metrics; the per-call log line is written anyway
  bool trace_all = false;           // --trace: a wire trace of every call
  bool allow_trace_header = false;  // a call may ask for its own wire trace
  std::string name;                 // "door" in log lines
  // Client authentication and per-client policy (door_guard.hpp); null: every caller is
  // anonymous and may call everything, at no cost on the data path.
  door_guard* guard = nullptr;
  // TLS on this door (door_tls.hpp); null: cleartext.
  door_tls* tls = nullptr;
};

// What every front door counts; each door's stats add their own.
struct door_stats {
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> connections_rejected{0};    // over max_connections
  std::atomic<std::uint64_t> slow_senders{0};            // closed: a request or line too slow
  std::atomic<std::uint64_t> slow_readers{0};            // closed: answers left unread
  std::atomic<std::uint64_t> accept_failures{0};         // accept failed (EMFILE, ENFILE, ...)
  std::atomic<std::uint64_t> errors_total{0};            // answers that report an error
  std::atomic<std::uint64_t> answers_dropped{0};         // the client left before its answer
  std::atomic<std::uint64_t> tls_handshake_failures{0};  // TLS doors: closed before a request
};

// What a door's connections share: the engine, the options, the counters, and the registry of
// sessions used to drain.
template <class Options, class Stats>
struct door_shared {
  door_shared(call_engine& e, Options o) : engine(e), options(std::move(o)) {}

  call_engine& engine;
  const Options options;
  Stats stats;
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> active{0};
  session_registry sessions;
};

// Logs the call, records it in the door's metrics and writes its wire trace when asked; the same
// for every door, whatever becomes of the answer.
void observe_answer(const door_options& options, std::string_view request_id, std::string_view op,
                    std::string_view client, std::chrono::steady_clock::time_point started,
                    bool trace, const call_result& r);

// A failed TLS handshake on a door, logged at debug level (a scanner would flood info).
void log_handshake_failure(std::string_view door, std::string_view why);

// What every door's session does alike: its socket and idle timer, registering for a drain,
// leaving the registry exactly once, and the transport half: reactor-style reads into a per-thread
// buffer, answers gathered in out() and written in batches, and closing with the answers it drops
// counted. The protocol half is the Session (CRTP, nothing virtual), called on its own thread:
//   drain()                    the door drains (posted by the registry)
//   do_read()                  waits for bytes (wait_readable()) when it wants more
//   bool read_wanted()         a wait ended: read now? (false: the bytes stay in the socket)
//   on_read(ec, bytes)         bytes read (valid until it returns), or the read's error
//   on_written(answers, last)  a write ended; last: its final answer ends the connection
//   on_timer()                 the timer fired (check_idle() applies the idle and slow rules)
//   too_slow(header_done)      a begun message missed its deadline: answer it and close
//   std::size_t on_close()     frees what it holds; returns the answers it held outside out()
template <class Session, class Shared>
class door_session : public std::enable_shared_from_this<Session> {
 public:
  door_session(boost::asio::ip::tcp::socket socket, std::shared_ptr<Shared> shared)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), shared_(std::move(shared)) {}
  ~door_session() { leave(); }  // destroyed without close(), e.g. at io_context teardown
  door_session(const door_session&) = delete;
  door_session& operator=(const door_session&) = delete;

  boost::asio::any_io_executor executor() { return socket_.get_executor(); }

  // Starts the Session (Session::start) at once in cleartext; on a TLS door after the handshake,
  // which must end within header_timeout, with client_ set to the client certificate's identity.
  void begin() {
    door_tls* tls = shared_->options.tls;
    if (!tls) return self().start();
    tls_ = tls->stream(socket_);
    enter();
    handshaking_ = true;
    arm_timer(shared_->options.header_timeout);
    tls_->async_handshake(
        [self = this->shared_from_this()](error_code ec) { self->on_handshake(ec); });
  }

 protected:
  using clock_type = std::chrono::steady_clock;
  using error_code = boost::system::error_code;

  // Registers for a drain and arms the idle timer; the session then starts reading (or drains).
  void enter() {
    if (entered_) return;  // a TLS session entered before its handshake
    entered_ = true;
    id_ = shared_->sessions.add(static_cast<Session*>(this));
    registered_ = true;
    last_activity_ = clock_type::now();
    arm_timer(shared_->options.idle_timeout);
  }

  void arm_timer(clock_type::duration after) {
    timer_.expires_after(after);
    timer_.async_wait([self = this->shared_from_this()](const error_code& ec) {
      if (ec) return;
      if (self->handshaking_) return self->handshake_timed_out();
      self->on_timer();
    });
  }

  // The idle rule: waiting on the engine is not idleness (its deadlines bound the wait), a stalled
  // write is; with nothing owed, a connection quiet for the idle timeout is closed. The slow rule
  // comes first: a begun message past its deadline is Session::too_slow's (header_done: whether
  // its header, if it has one, is complete).
  void check_idle(bool owing, bool header_done = true) {
    const auto now = clock_type::now();
    const auto idle = shared_->options.idle_timeout;
    if (in_message_ && now >= message_deadline(header_done)) {
      in_message_ = false;
      shared_->stats.slow_senders.fetch_add(1, std::memory_order_relaxed);
      self().too_slow(header_done);
      if (!closed_) arm_timer(idle);  // the answer may stall: the idle rule closes it then
      return;
    }
    if (!owing && !in_message_ && now - last_activity_ >= idle) return close();
    auto next = owing || in_message_ ? now + idle : last_activity_ + idle;
    if (in_message_) next = std::min(next, message_deadline(header_done));
    arm_timer(next - now);
  }

  // The slow rule's bookkeeping. A message began or goes on, n more bytes of it received: the
  // timer is brought forward to its deadline when that comes first.
  void message_partial(std::size_t n, bool header_done = true) {
    if (!in_message_) {
      in_message_ = true;
      message_start_ = clock_type::now();
      message_bytes_ = 0;
      const auto deadline = message_deadline(header_done);
      if (deadline < timer_.expiry()) arm_timer(deadline - message_start_);
    }
    message_bytes_ += n;
  }
  // The message is complete (or nothing of one is buffered); the idle rule applies again.
  void message_complete() { in_message_ = false; }

  // header_timeout after the first byte for a header; then min_receive_rate for what came.
  clock_type::time_point message_deadline(bool header_done) const {
    const auto& o = shared_->options;
    const auto header_due = message_start_ + o.header_timeout;
    if (!header_done) return header_due;
    if (o.min_receive_rate == 0) return clock_type::time_point::max();
    return header_due + std::chrono::microseconds(message_bytes_ * 1000000 / o.min_receive_rate);
  }

  // Reactor-style: waits until the socket is readable, then reads into this thread's scratch
  // buffer and hands the bytes to Session::on_read. An idle connection holds no read buffer, and
  // no read is tried before data is there. The Session checks first whether to wait at all.
  void wait_readable() {
    reading_ = true;
    if (tls_) {  // TLS buffers what it decrypts: a read, not a wait, tells what is there
      tls_->async_read_some([self = this->shared_from_this()](error_code ec, std::string_view b) {
        self->on_tls_read(ec, b);
      });
      return;
    }
    socket_.async_wait(boost::asio::ip::tcp::socket::wait_read,
                       [self = this->shared_from_this()](error_code ec) { self->on_readable(ec); });
  }

  // Answers for the next write; its buffer is lent by the thread while answers wait in it.
  std::string& out() {
    if (out_.empty() && out_.capacity() < pooled_buffer_reserve) out_ = thread_buffers().take();
    return out_;
  }
  // The answers appended to out() since the last write, and whether the last of them ends the
  // connection (then Session::on_written learns it once they are written).
  void answer_added(bool last = false) {
    ++out_count_;
    if (last) out_last_ = true;
  }

  // One write at a time: what gathers in out_ meanwhile leaves together in the next one. A client
  // that leaves more than max_output_bytes unread behind a stalled write is closed.
  void do_write() {
    if (closed_ || out_.empty()) return;
    if (writing_) {
      if (out_.size() > shared_->options.max_output_bytes) {
        shared_->stats.slow_readers.fetch_add(1, std::memory_order_relaxed);
        close();
      }
      return;
    }
    writing_ = true;
    std::swap(out_, writing_buf_);  // out_ is now empty (its buffer went back after a write)
    writing_count_ = std::exchange(out_count_, 0);
    writing_last_ = std::exchange(out_last_, false);
    if (tls_) {
      tls_->async_write(writing_buf_,
                        [self = this->shared_from_this()](error_code ec) { self->on_write(ec); });
      return;
    }
    boost::asio::async_write(
        socket_, boost::asio::buffer(writing_buf_),
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); });
  }

  // Counts, logs and traces a finished call (whether or not its answer can still be delivered);
  // false when the connection is closed, the answer then counted as dropped. client: the call's
  // client when it is not the connection's (client_).
  bool observe_result(std::string_view request_id, std::string_view op,
                      clock_type::time_point started, bool trace, const call_result& r,
                      const std::string* client = nullptr) {
    observe_answer(shared_->options, request_id, op, client ? *client : client_, started, trace, r);
    if (!closed_) return true;
    shared_->stats.answers_dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  // Closes at once: answers made but not delivered are counted as dropped (calls still in flight
  // are counted when they complete). Session::on_close frees what the session holds and returns
  // the answers it holds outside out_ (e.g. parked ones).
  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    socket_.close(ec);
    timer_.cancel();
    if (auto lost = out_count_ + writing_count_ + self().on_close())
      shared_->stats.answers_dropped.fetch_add(lost, std::memory_order_relaxed);
    leave();
  }

  // Leaves the registry and the door's count of connections, once.
  void leave() {
    if (!registered_) return;
    registered_ = false;
    shared_->sessions.remove(id_);
    shared_->active.fetch_sub(1);
  }

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<Shared> shared_;
  clock_type::time_point last_activity_{};
  std::string client_;    // the connection's authenticated client ("" anonymous)
  bool reading_ = false;  // a wait for readability is pending
  bool writing_ = false;  // a write is in flight
  bool closed_ = false;

 private:
  bool in_message_ = false;  // a message began and is not complete (the slow rule applies)
  clock_type::time_point message_start_{};
  std::size_t message_bytes_ = 0;

  Session& self() { return static_cast<Session&>(*this); }

  void on_handshake(error_code ec) {
    handshaking_ = false;
    if (closed_) return;
    if (ec) {
      shared_->stats.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
      shared_->options.tls->handshake_failed();
      log_handshake_failure(shared_->options.name, tls_->describe_failure(ec));
      return close();
    }
    client_ = tls_->peer_identity();
    last_activity_ = clock_type::now();
    arm_timer(shared_->options.idle_timeout);
    self().start();
  }

  void handshake_timed_out() {
    handshaking_ = false;
    shared_->stats.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
    shared_->options.tls->handshake_failed();
    log_handshake_failure(shared_->options.name, "no TLS handshake within the header timeout");
    close();
  }

  // A TLS read's bytes (its own buffer): on to the Session as a cleartext read's.
  void on_tls_read(error_code ec, std::string_view bytes) {
    reading_ = false;
    if (closed_ || !self().read_wanted()) return;  // draining: what was read is not wanted
    self().on_read(ec, bytes);
  }

  void on_readable(error_code ec) {
    // One buffer per thread is safe: it is read and parsed here, synchronously, on this thread.
    thread_local std::array<char, 16384> chunk;
    reading_ = false;
    if (closed_ || !self().read_wanted()) return;
    std::size_t n = 0;
    if (!ec) {
      if (!socket_.non_blocking()) socket_.non_blocking(true, ec);
      if (!ec) n = socket_.read_some(boost::asio::buffer(chunk), ec);
      if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again)
        return self().do_read();
    }
    self().on_read(ec, std::string_view(chunk.data(), n));
  }

  void on_write(error_code ec) {
    writing_ = false;
    if (closed_) return;
    if (ec) return close();
    last_activity_ = clock_type::now();
    thread_buffers().give(std::exchange(writing_buf_, std::string()));
    self().on_written(std::exchange(writing_count_, 0), std::exchange(writing_last_, false));
  }

  std::string out_;          // answers for the next write
  std::string writing_buf_;  // the write in flight
  std::size_t out_count_ = 0;
  std::size_t writing_count_ = 0;
  bool out_last_ = false;      // out_ ends with an answer that ends the connection
  bool writing_last_ = false;  // so does the write in flight
  std::uint64_t id_ = 0;
  bool registered_ = false;
  bool entered_ = false;
  bool handshaking_ = false;              // a TLS handshake is pending (the timer ends it)
  std::unique_ptr<door_tls_stream> tls_;  // TLS doors only
};

// Answers a connection over a door's maximum with the door's refusal (an HTTP 503, an overloaded
// line), then closes it: FIN after the refusal, the client's bytes read and dropped until it
// closes too or a second passes, so that unread input does not reset the connection (and destroy
// the refusal) before the client has read it.
void refuse(boost::asio::ip::tcp::socket socket, std::string_view refusal);

// Counts an accepted connection and starts a Session on the socket's own context, unless the door
// already holds its maximum (then the connection gets Session::refusal() and is counted as
// rejected). Shared is a door's shared state: stats.connections_total/connections_rejected,
// active, options.max_connections.
template <class Session, class Shared>
void admit(const std::shared_ptr<Shared>& sh, boost::asio::ip::tcp::socket socket) {
  sh->stats.connections_total.fetch_add(1, std::memory_order_relaxed);
  if (sh->active.load() >= sh->options.max_connections) {
    sh->stats.connections_rejected.fetch_add(1, std::memory_order_relaxed);
    if (sh->options.tls) return;  // a cleartext refusal means nothing to a TLS client: closed
    return refuse(std::move(socket), Session::refusal());
  }
  sh->active.fetch_add(1);
  auto ex = socket.get_executor();
  auto session = std::make_shared<Session>(std::move(socket), sh);
  boost::asio::dispatch(ex, [session] { session->begin(); });
}

// A front door: binds in the constructor (throws std::runtime_error naming the address on
// failure) and accepts on pool.at(0); each connection lives on the next context of the pool
// (round robin), served by that context's single thread, so it needs no strand and no lock.
template <class Options, class Stats>
class door {
 public:
  using shared = door_shared<Options, Stats>;
  using admit_fn =
      std::function<void(const std::shared_ptr<shared>&, boost::asio::ip::tcp::socket)>;

  door(io_pool& pool, call_engine& engine, Options options, std::string what, admit_fn admit_one)
      : shared_(std::make_shared<shared>(engine, std::move(options))),
        listener_(std::make_shared<acceptor>(
            pool, std::move(what),
            [sh = shared_, admit_one = std::move(admit_one)](boost::asio::ip::tcp::socket s) {
              admit_one(sh, std::move(s));
            })) {
    listener_->on_failure([sh = std::weak_ptr<shared>(shared_)] {
      if (auto s = sh.lock()) s->stats.accept_failures.fetch_add(1, std::memory_order_relaxed);
    });
    endpoint_ = listener_->open(shared_->options.listen);
    listener_->start();
  }
  ~door() {
    stop_accepting();
    drain();
  }
  door(const door&) = delete;
  door& operator=(const door&) = delete;

  // The bound address, with the real port when listen asked for port 0.
  boost::asio::ip::tcp::endpoint local_endpoint() const noexcept { return endpoint_; }
  // Thread-safe. Closes the acceptor; connections already open continue.
  void stop_accepting() { listener_->stop(); }
  // Thread-safe. Every connection stops reading, answers what it owes, and closes.
  void drain() {
    shared_->draining = true;
    shared_->sessions.drain_all();
  }
  std::size_t connections() const noexcept { return shared_->active.load(); }
  const Stats& stats() const noexcept { return shared_->stats; }

 private:
  std::shared_ptr<shared> shared_;
  std::shared_ptr<acceptor> listener_;
  boost::asio::ip::tcp::endpoint endpoint_;
};

}  // namespace dragoman::bridge
