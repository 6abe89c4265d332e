// One listening socket that hands accepted connections round robin to the pool's contexts.
#pragma once

#include "bridge/io_pool.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

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
  bool stopped_ = false;
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
class metrics;

// What every front door is configured with; each door's options add their own.
struct door_options {
  boost::asio::ip::tcp::endpoint listen;
  std::size_t max_connections = 10000;            // more are accepted and closed at once
  std::chrono::milliseconds idle_timeout{60000};  // nothing received and nothing owed: close
  metrics* call_metrics = nullptr;  // per-call metrics; the per-call log line is written anyway
  bool trace_all = false;           // --trace: a wire trace of every call
  bool allow_trace_header = false;  // a call may ask for its own wire trace
  std::string name;                 // "door" in log lines
};

// What every front door counts; each door's stats add their own.
struct door_stats {
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> connections_rejected{0};  // over max_connections
  std::atomic<std::uint64_t> errors_total{0};          // answers that report an error
  std::atomic<std::uint64_t> answers_dropped{0};       // the client left before its answer
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

// What every door's session does alike: its socket and idle timer, registering for a drain and
// leaving the registry exactly once. Session (CRTP) provides drain(), close() and on_timer().
template <class Session, class Shared>
class door_session : public std::enable_shared_from_this<Session> {
 public:
  door_session(boost::asio::ip::tcp::socket socket, std::shared_ptr<Shared> shared)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), shared_(std::move(shared)) {}
  ~door_session() { leave(); }  // destroyed without close(), e.g. at io_context teardown
  door_session(const door_session&) = delete;
  door_session& operator=(const door_session&) = delete;

  boost::asio::any_io_executor executor() { return socket_.get_executor(); }

 protected:
  using clock_type = std::chrono::steady_clock;

  // Registers for a drain and arms the idle timer; the session then starts reading (or drains).
  void enter() {
    id_ = shared_->sessions.add(static_cast<Session*>(this));
    registered_ = true;
    last_activity_ = clock_type::now();
    arm_timer(shared_->options.idle_timeout);
  }

  void arm_timer(clock_type::duration after) {
    timer_.expires_after(after);
    timer_.async_wait([self = this->shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->on_timer();
    });
  }

  // The idle rule: waiting on the engine is not idleness (its deadlines bound the wait), a stalled
  // write is; with nothing owed, a connection quiet for the idle timeout is closed.
  void check_idle(bool owing) {
    const auto now = clock_type::now();
    const auto idle = shared_->options.idle_timeout;
    if (!owing && now - last_activity_ >= idle) return static_cast<Session*>(this)->close();
    arm_timer(owing ? idle : last_activity_ + idle - now);
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

 private:
  std::uint64_t id_ = 0;
  bool registered_ = false;
};

// Counts an accepted connection and starts a Session on the socket's own context, unless the door
// already holds its maximum (then the connection is closed and counted as rejected). Shared is a
// door's shared state: stats.connections_total/connections_rejected, active,
// options.max_connections.
template <class Session, class Shared>
void admit(const std::shared_ptr<Shared>& sh, boost::asio::ip::tcp::socket socket) {
  sh->stats.connections_total.fetch_add(1, std::memory_order_relaxed);
  if (sh->active.load() >= sh->options.max_connections) {
    sh->stats.connections_rejected.fetch_add(1, std::memory_order_relaxed);
    boost::system::error_code ec;
    socket.close(ec);
    return;
  }
  sh->active.fetch_add(1);
  auto ex = socket.get_executor();
  auto session = std::make_shared<Session>(std::move(socket), sh);
  boost::asio::dispatch(ex, [session] { session->start(); });
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
