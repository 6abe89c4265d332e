// The upstream pool: endpoints by priority with breakers, connections (one io_context thread
// each) with correlation, deadlines, write batching, the session layer and reconnect with
// jittered exponential backoff, retries under a budget, drain and reload.
#include "bridge/upstream.hpp"

#include "bridge/correlation.hpp"
#include "bridge/log.hpp"
#include "codecs/pipeline.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <charconv>
#include <ctime>
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
namespace json = boost::json;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using system_clock = std::chrono::system_clock;
using std::chrono::milliseconds;

void post_result(const asio::any_io_executor& caller, call_handler done, call_result r) {
  if (!done) return;
  if (!caller) {
    done(std::move(r));
    return;
  }
  asio::post(caller, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

namespace {

// Inline hand-offs on this thread, both ways, never nest: while a call is being handed to a
// connection (connection::submit) its results are posted, so that a caller never sees its answer
// inside its own submit(); while an answer is being handed to its caller, new calls are posted,
// so that a connection is never re-entered from inside its own read handler.
thread_local int submitting = 0;
thread_local int delivering = 0;

struct depth_scope {
  explicit depth_scope(int& d) noexcept : depth(d) { ++depth; }
  ~depth_scope() { --depth; }
  depth_scope(const depth_scope&) = delete;
  depth_scope& operator=(const depth_scope&) = delete;
  int& depth;
};

}  // namespace

// From a connection's own handler: when the caller lives on this thread's io_context the answer
// is handed over at once (no queue round trip, no extra epoll_wait); otherwise it is posted.
void dispatch_result(const asio::any_io_executor& caller, call_handler done, call_result r) {
  if (!done) return;
  if (!caller) {
    done(std::move(r));
    return;
  }
  if (submitting > 0) return post_result(caller, std::move(done), std::move(r));
  // The common case, the caller's door on this very thread: a plain call.
  if (auto* ex = caller.target<asio::io_context::executor_type>();
      ex && ex->running_in_this_thread()) {
    depth_scope scope(delivering);
    done(std::move(r));
    return;
  }
  asio::dispatch(caller, [done = std::move(done), r = std::move(r)]() mutable {
    depth_scope scope(delivering);
    done(std::move(r));
  });
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

namespace {

std::string iso_time(system_clock::time_point t) {
  std::time_t secs = system_clock::to_time_t(t);
  auto ms = std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
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
// The longest wait for the answer to a sign-off, inside the drain deadline.
constexpr milliseconds sign_off_wait{1000};
// After the drain deadline a sign-off is still written; the connection closes this much later.
constexpr milliseconds late_sign_off_wait{200};
// Retry budget window: 10 buckets of one second.
constexpr int budget_buckets = 10;

// ---- retry budget -----------------------------------------------------------------------------

// Retries allowed: ratio × calls in the last 10 s, plus a floor. Counting a call takes no lock
// (one relaxed increment; the lock is taken once per bucket per second, to start the bucket
// over); deciding a retry, which is rare, takes the lock.
class retry_budget {
 public:
  retry_budget(double ratio, std::size_t floor) : ratio_(ratio), floor_(floor) {}
  void on_call(steady::time_point now) {
    const std::int64_t sec = second_of(now);
    slot& s = b_[index_of(sec)];
    if (s.second.load(std::memory_order_acquire) != sec) {
      std::lock_guard lock(m_);
      start(s, sec);
    }
    s.calls.fetch_add(1, std::memory_order_relaxed);
  }
  bool try_retry(steady::time_point now) {
    const std::int64_t sec = second_of(now);
    std::lock_guard lock(m_);
    slot& current = b_[index_of(sec)];
    start(current, sec);
    std::uint64_t calls = 0, retries = 0;
    for (const auto& b : b_) {
      if (b.second.load(std::memory_order_relaxed) <= sec - budget_buckets) continue;
      calls += b.calls.load(std::memory_order_relaxed);
      retries += b.retries;
    }
    double allowed = ratio_ * static_cast<double>(calls) + static_cast<double>(floor_);
    if (static_cast<double>(retries) + 1 > allowed) return false;
    current.retries++;
    return true;
  }

 private:
  struct slot {
    std::atomic<std::int64_t> second{-1};
    std::atomic<std::uint64_t> calls{0};
    std::uint64_t retries = 0;  // under m_
  };
  static std::int64_t second_of(steady::time_point now) {
    return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  }
  static std::size_t index_of(std::int64_t sec) {
    return static_cast<std::size_t>(sec % budget_buckets);
  }
  // Under m_: a bucket last used for an older second starts over.
  static void start(slot& s, std::int64_t sec) {
    if (s.second.load(std::memory_order_relaxed) == sec) return;
    s.calls.store(0, std::memory_order_relaxed);
    s.retries = 0;
    s.second.store(sec, std::memory_order_release);
  }
  std::mutex m_;
  double ratio_;
  std::size_t floor_;
  slot b_[budget_buckets];
};

// ---- endpoints and breakers -------------------------------------------------------------------

enum class conn_state : int { connecting = 0, signing_on, up, down, draining };
const char* to_string(conn_state s) {
  switch (s) {
    case conn_state::connecting:
      return "connecting";
    case conn_state::signing_on:
      return "signing_on";
    case conn_state::up:
      return "up";
    case conn_state::draining:
      return "draining";
    default:
      return "down";
  }
}

enum class breaker_state : int { closed = 0, open, half_open };
const char* to_string(breaker_state s) {
  switch (s) {
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
    default:
      return "closed";
  }
}

// Published for pickers on other threads.
enum class pick_state : int { unavailable = 0, queueing = 1, connected = 2 };

class connection;
struct core;

struct endpoint_state {
  endpoint_state(upstream_spec s, std::size_t i)
      : address(std::move(s.address)), priority(s.priority), index(i) {}
  endpoint_address address;
  int priority;
  std::size_t index;
  std::vector<connection*> conns;  // set before any connection starts; owned by the pool
  std::atomic<std::size_t> rr{0};
  std::atomic<std::size_t> assigned{0};  // calls handed to its connections, queued or in flight
  std::atomic<std::size_t> queued{0};
  std::atomic<int> breaker_pub{static_cast<int>(breaker_state::closed)};
  std::atomic<std::uint32_t> consecutive_failures{0};

  mutable std::mutex m;  // guards what follows
  breaker_state breaker = breaker_state::closed;
  steady::time_point open_until;
  system_clock::time_point breaker_since = system_clock::now();
  bool probe_out = false;
  std::string last_error;
  system_clock::time_point last_error_at;
};

struct priority_level {
  int priority = 0;
  std::vector<endpoint_state*> endpoints;
  std::atomic<std::size_t> rr{0};
};

enum class admit { yes, probe, open, busy };

struct tracked_call;
using deadline_map = std::multimap<steady::time_point, std::unique_ptr<tracked_call>>;

struct tracked_call {
  enum class kind { app, sign_on, echo, sign_off };
  kind what = kind::app;
  std::unique_ptr<pending_call> call;      // app calls
  std::shared_ptr<profile_bundle> bundle;  // the profile its request and reply use
  const codecs::operation* op = nullptr;
  codecs::record own_request;  // internal calls
  bool key_generated = false;
  bool probe = false;  // the breaker's half-open probe
  enum class where { none, queued, in_flight } at = where::none;
  deadline_map::iterator deadline_it;
  std::list<tracked_call*>::iterator queue_it;
  std::string key;              // normalized correlation key while in flight (field mode)
  steady::time_point deadline;  // the call's; while queued the queue timeout may come first
  steady::time_point sent_at;
  std::uint64_t batch = 0;  // the write batch that carries its frame

  codecs::record& request() { return call ? call->request : own_request; }
};

// What engine, pool and connections share; outlives the pool while handlers are pending.
struct core : std::enable_shared_from_this<core> {
  std::atomic<std::shared_ptr<profile_bundle>> bundle;
  engine_options options;
  std::shared_ptr<upstream_counters> counters;
  std::vector<std::unique_ptr<endpoint_state>> endpoints;
  std::vector<std::unique_ptr<priority_level>> levels;  // best (lowest number) first
  std::atomic<std::int64_t> up{0};
  std::atomic<bool> stopped{false};
  std::atomic<bool> draining{false};
  std::size_t read_buffer_size = 16384;
  std::size_t max_attempts = 3;
  retry_budget budget;
  std::mutex drain_m;
  std::vector<std::function<void()>> drain_done;
  std::size_t drain_left = 0;
  bool drain_finished = false;

  core(const engine_options& o, std::shared_ptr<upstream_counters> c)
      : options(o), counters(std::move(c)), budget(o.retry_budget_ratio, o.retry_budget_floor) {}

  void dispatch(std::unique_ptr<pending_call> c);
  // inline_ok: called from a connection's handler, so the caller's handler may run at once when
  // it lives on this thread; false where the caller may be inside submit() (always posted).
  void finish(std::unique_ptr<pending_call> c, call_result r, bool inline_ok = true);
  // An attempt failed; retries when allowed, else answers with r. ex: where backoff waits.
  void attempt_failed(std::unique_ptr<pending_call> c, call_result r, bool retryable,
                      const asio::any_io_executor& ex);
  void connection_closed_for_drain();
  // Another endpoint could take a call now (breaker closed, a connection up, room left).
  bool alternative_to(const endpoint_state& e) const;

  // Breakers.
  admit admit_call(endpoint_state& e, steady::time_point now);
  void release_probe(endpoint_state& e);
  void record_success(endpoint_state& e, bool probe);
  void record_failure(endpoint_state& e, const std::string& why, bool probe);
  void set_error(endpoint_state& e, const std::string& why);
  void kick(endpoint_state& e);
  bool breakers_enabled() const noexcept { return options.breaker_failures > 0; }
  std::uint64_t jitter(std::uint64_t lo, std::uint64_t hi) {
    std::lock_guard lock(rng_m);
    return std::uniform_int_distribution<std::uint64_t>(lo, std::max(lo, hi))(rng);
  }
  std::mutex rng_m;
  std::minstd_rand rng{std::random_device{}()};
};

void log_breaker(const endpoint_state& e, breaker_state s, const std::string& why) {
  json::object f{{"endpoint", e.address.text},
                 {"priority", e.priority},
                 {"consecutive_failures", e.consecutive_failures.load()}};
  if (!why.empty()) f["reason"] = why;
  switch (s) {
    case breaker_state::open:
      log::warn("breaker_open", f);
      break;
    case breaker_state::half_open:
      log::info("breaker_half_open", f);
      break;
    default:
      log::info("breaker_closed", f);
      break;
  }
}

// Under e.m.
void set_breaker(endpoint_state& e, breaker_state s, const std::string& why) {
  e.breaker = s;
  e.breaker_since = system_clock::now();
  e.breaker_pub.store(static_cast<int>(s));
  log_breaker(e, s, why);
}

admit core::admit_call(endpoint_state& e, steady::time_point now) {
  if (e.breaker_pub.load(std::memory_order_relaxed) == static_cast<int>(breaker_state::closed))
    return admit::yes;
  std::lock_guard lock(e.m);
  if (e.breaker == breaker_state::closed) return admit::yes;
  if (e.breaker == breaker_state::open) {
    if (now < e.open_until) return admit::open;
    set_breaker(e, breaker_state::half_open, "cool-down over; one probe decides");
  }
  if (e.probe_out) return admit::busy;
  e.probe_out = true;
  return admit::probe;
}

void core::release_probe(endpoint_state& e) {
  std::lock_guard lock(e.m);
  e.probe_out = false;
}

void core::set_error(endpoint_state& e, const std::string& why) {
  std::lock_guard lock(e.m);
  e.last_error = why;
  e.last_error_at = system_clock::now();
}

void core::record_success(endpoint_state& e, bool probe) {
  if (e.breaker_pub.load(std::memory_order_relaxed) == static_cast<int>(breaker_state::closed)) {
    if (e.consecutive_failures.load(std::memory_order_relaxed) != 0)
      e.consecutive_failures.store(0, std::memory_order_relaxed);
    return;
  }
  if (!probe) return;  // in open and half-open only the probe decides
  {
    std::lock_guard lock(e.m);
    e.probe_out = false;
    if (e.breaker == breaker_state::closed) return;
    e.consecutive_failures.store(0);
    set_breaker(e, breaker_state::closed, "the probe succeeded");
  }
  kick(e);
}

void core::record_failure(endpoint_state& e, const std::string& why, bool probe) {
  std::lock_guard lock(e.m);
  e.last_error = why;
  e.last_error_at = system_clock::now();
  std::uint32_t n = e.consecutive_failures.fetch_add(1) + 1;
  if (!breakers_enabled()) return;
  if (probe) e.probe_out = false;
  if ((e.breaker == breaker_state::closed && n >= options.breaker_failures) ||
      (e.breaker == breaker_state::half_open && probe)) {
    e.open_until = steady::now() + options.breaker_cooldown;
    set_breaker(e, breaker_state::open, why);
  }
}

// ---- connections ------------------------------------------------------------------------------

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(asio::io_context& ctx, std::shared_ptr<core> c, endpoint_state& e, std::uint64_t id)
      : ctx_(ctx),
        core_(std::move(c)),
        ep_(e),
        id_(id),
        socket_(ctx),
        resolver_(ctx),
        connect_timer_(ctx),
        backoff_timer_(ctx),
        deadline_timer_(ctx),
        heartbeat_timer_(ctx),
        drain_timer_(ctx),
        rng_(std::random_device{}() ^ static_cast<unsigned>(id * 7919)) {
    bundle_ = core_->bundle.load();
    read_buf_.resize(core_->read_buffer_size);
    set_state(conn_state::connecting);
    pick_pub.store(static_cast<int>(pick_state::queueing));
  }

  asio::io_context& context() noexcept { return ctx_; }

  void start() {
    asio::post(ctx_, [self = shared_from_this()] { self->do_connect(); });
  }

  void submit(std::unique_ptr<tracked_call> c) {
    // On the connection's own thread the call goes straight in (no queue round trip).
    if (delivering == 0 && ctx_.get_executor().running_in_this_thread()) {
      depth_scope scope(submitting);
      on_submit(std::move(c));
      return;
    }
    asio::post(ctx_, [self = shared_from_this(), c = std::move(c)]() mutable {
      self->on_submit(std::move(c));
    });
  }

  void post_kick() {
    asio::post(ctx_, [self = shared_from_this()] { self->on_kick(); });
  }
  void post_reload(std::shared_ptr<profile_bundle> b) {
    asio::post(ctx_, [self = shared_from_this(), b = std::move(b)]() mutable {
      self->on_reload(std::move(b));
    });
  }
  void post_drain(steady::time_point deadline) {
    asio::post(ctx_, [self = shared_from_this(), deadline] { self->on_drain(deadline); });
  }

  // On the connection's thread (or with its context not running).
  void shutdown() {
    if (state_ == state::stopped) return;
    fail_all(call_code::upstream_unavailable, "dragoman is shutting down", true);
    close_for_good();
  }

  json::object describe() const {
    json::object o;
    o["id"] = id_;
    o["state"] = to_string(static_cast<conn_state>(state_pub.load()));
    o["since"] = iso_time(system_clock::time_point(system_clock::duration(since_pub.load())));
    o["in_flight"] = load.load();
    std::lock_guard lock(error_mutex_);
    o["last_error"] = last_error_.empty() ? json::value(nullptr) : json::value(last_error_);
    return o;
  }

  std::atomic<int> pick_pub{0};
  std::atomic<int> state_pub{0};
  std::atomic<system_clock::rep> since_pub{0};
  std::atomic<std::size_t> load{0};  // app calls handed to this connection and not yet answered

 private:
  enum class state { connecting, signing_on, up, backoff, stopped };

  upstream_counters& counters() { return *core_->counters; }
  const codecs::profile& profile() const { return *bundle_->profile; }
  const engine_options& options() const { return core_->options; }
  const codecs::session_spec& session() const { return profile().session; }

  void set_error(std::string e) {
    core_->set_error(ep_, e);
    std::lock_guard lock(error_mutex_);
    last_error_ = std::move(e);
  }

  void set_state(conn_state s) {
    if (state_pub.load() == static_cast<int>(s)) return;
    state_pub.store(static_cast<int>(s));
    since_pub.store(system_clock::now().time_since_epoch().count());
  }

  void publish() {
    conn_state cs = conn_state::down;
    switch (state_) {
      case state::connecting:
        cs = conn_state::connecting;
        break;
      case state::signing_on:
        cs = conn_state::signing_on;
        break;
      case state::up:
        cs = draining_ ? conn_state::draining : conn_state::up;
        break;
      default:
        break;
    }
    set_state(cs);
    pick_state s = pick_state::unavailable;
    if (draining_)
      s = pick_state::unavailable;
    else if (state_ == state::up && !replace_with_)
      s = pick_state::connected;
    else if (queueable())
      s = pick_state::queueing;
    pick_pub.store(static_cast<int>(s));
  }

  // Calls may wait for this connection: its first connect is under way, or it was up and is
  // reconnecting (for a few attempts).
  bool queueable() const noexcept {
    if (state_ == state::stopped || draining_) return false;
    if (state_ == state::up || state_ == state::signing_on) return true;
    if (!ever_up_) return failed_attempts_ == 0;
    return failed_attempts_ < queue_through_failed_reconnects;
  }

  bool writable() const noexcept { return state_ == state::up || state_ == state::signing_on; }

  // ---- call bookkeeping -------------------------------------------------------------------

  tracked_call* adopt(std::unique_ptr<tracked_call> c, steady::time_point when) {
    tracked_call* raw = c.get();
    raw->deadline_it = deadlines_.emplace(when, std::move(c));
    if (when < armed_at_) arm_timer();
    return raw;
  }

  // Moves a call's timer entry to a new time (queue wait over: the call's own deadline).
  void retime(tracked_call* c, steady::time_point when) {
    auto node = deadlines_.extract(c->deadline_it);
    node.key() = when;
    c->deadline_it = deadlines_.insert(std::move(node));
    if (when < armed_at_) arm_timer();
  }

  std::unique_ptr<tracked_call> release(tracked_call* c) {
    if (c->at == tracked_call::where::queued) {
      queue_.erase(c->queue_it);
      ep_.queued.fetch_sub(1, std::memory_order_relaxed);
    } else if (c->at == tracked_call::where::in_flight) {
      if (field_mode_) {
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

  std::size_t app_calls() const noexcept { return load.load(std::memory_order_relaxed); }

  // Every app attempt ends here exactly once: answered, or handed back for a retry.
  void end_attempt(std::unique_ptr<tracked_call> t, call_result r, bool retryable = false,
                   const codecs::record* reply = nullptr) {
    load.fetch_sub(1, std::memory_order_relaxed);
    ep_.assigned.fetch_sub(1, std::memory_order_relaxed);
    std::unique_ptr<pending_call> c = std::move(t->call);
    if (t->probe && ep_.breaker_pub.load() != static_cast<int>(breaker_state::closed)) {
      // A probe that ended without a verdict (shutdown, overload) gives its turn back.
      std::lock_guard lock(ep_.m);
      ep_.probe_out = false;
    }
    r.attempts = c->attempts;
    r.endpoint = ep_.address.text;
    if (t->sent_at != steady::time_point{})
      r.upstream_time =
          std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t->sent_at);
    if (c->trace) {
      auto tr = std::make_shared<call_trace>();
      tr->profile = c->bundle->profile;
      tr->op = c->op;
      tr->request = c->request;
      if (reply) {
        tr->reply = *reply;
        tr->has_reply = true;
      }
      r.trace = std::move(tr);
    }
    if (retryable && !c->op->idempotent && c->written) retryable = false;
    if (retryable) {
      core_->attempt_failed(std::move(c), std::move(r), true, ctx_.get_executor());
      return;
    }
    core_->finish(std::move(c), std::move(r));
  }

  void end_error(std::unique_ptr<tracked_call> t, call_code code, std::string message,
                 bool retryable = false) {
    end_attempt(std::move(t), make_error_result(code, std::move(message)), retryable);
  }

  // Fails the app calls in flight (and, with queued, those waiting too). Calls whose bytes never
  // reached the socket, and idempotent ones, may be retried elsewhere when retryable.
  void fail_all(call_code code, const std::string& message, bool queued, bool retryable = false) {
    std::vector<tracked_call*> victims;
    for (auto& [deadline, c] : deadlines_)
      if (c->at != tracked_call::where::queued || queued) victims.push_back(c.get());
    for (tracked_call* c : victims) {
      if (c->what == tracked_call::kind::app && c->at == tracked_call::where::in_flight &&
          c->batch <= batches_started_)
        c->call->written = true;
      auto owned = release(c);
      if (owned->what != tracked_call::kind::app) continue;  // session messages just end
      end_error(std::move(owned), code, message, retryable);
    }
    ordered_.clear();
    in_flight_.clear();
    echo_out_ = false;
  }

  // ---- submitting and sending --------------------------------------------------------------

  void on_submit(std::unique_ptr<tracked_call> c) {
    if (state_ == state::stopped) {
      end_error(std::move(c), call_code::upstream_unavailable, "dragoman is shutting down");
      return;
    }
    const auto now = steady::now();
    if (c->deadline <= now) {
      end_error(std::move(c), call_code::upstream_timeout, "the deadline passed before sending");
      return;
    }
    if (draining_ && state_ != state::up) {
      end_error(std::move(c), call_code::upstream_unavailable, "dragoman is draining");
      return;
    }
    if (state_ == state::up && queue_.empty() && !replace_with_) {
      if (can_send()) {
        const auto deadline = c->deadline;
        send(adopt(std::move(c), deadline));
        return;
      }
      if (field_mode_ || ordered_limit_ > 1) {
        end_error(std::move(c), call_code::overloaded,
                  "too many calls in flight on " + ep_.address.text, true);
        return;
      }
    }
    if (!queueable() && !replace_with_) {
      end_error(std::move(c), call_code::upstream_unavailable,
                "upstream " + ep_.address.text + " is unavailable" +
                    (last_connect_error_.empty() ? "" : ": " + last_connect_error_),
                true);
      return;
    }
    if (queue_.size() >= options().max_queued) {
      end_error(std::move(c), call_code::overloaded,
                "too many calls queued for " + ep_.address.text, true);
      return;
    }
    auto when = c->deadline;
    if (options().queue_timeout.count() > 0) when = std::min(when, now + options().queue_timeout);
    tracked_call* raw = adopt(std::move(c), when);
    raw->queue_it = queue_.insert(queue_.end(), raw);
    raw->at = tracked_call::where::queued;
    ep_.queued.fetch_add(1, std::memory_order_relaxed);
  }

  bool can_send() const noexcept {
    if (field_mode_) return in_flight_.size() < options().max_in_flight_per_connection;
    return ordered_.size() < ordered_limit_;
  }

  // Sends queued calls while the connection can take them.
  void pump_queue() {
    while (state_ == state::up && !replace_with_ && !queue_.empty() && can_send()) {
      tracked_call* c = queue_.front();
      queue_.pop_front();
      ep_.queued.fetch_sub(1, std::memory_order_relaxed);
      c->at = tracked_call::where::none;
      if (c->deadline_it->first != c->deadline) retime(c, c->deadline);
      send(c);
    }
    if (draining_) check_drained();
    if (replace_with_) maybe_replace();
  }

  // Encodes the call into the pending write buffer and registers it in flight. c is adopted;
  // false when it could not be sent (it has been answered or ended then).
  bool send(tracked_call* c) {
    const codecs::operation& op = *c->op;
    const codecs::profile& prof = *c->bundle->profile;
    codecs::record& rec = c->request();
    if (field_mode_) {
      auto idx_opt = op.request.correlation_field;
      if (!idx_opt) {
        fail_one(c, call_code::upstream_protocol_error,
                 "operation \"" + op.name + "\" has no correlation field");
        return false;
      }
      std::size_t idx = *idx_opt;
      if (c->key_generated) {
        const codecs::field_spec& f = op.request.fields[idx];
        std::string& slot = rec.slot(idx);
        // The other key parts (correlation.also) are the request's; only the counter varies.
        key_suffix(op.request, rec, key_rest_);
        auto value = keys_.next(
            f,
            [this](std::string_view k) {
              key_scratch_.assign(k.data(), k.size());
              key_scratch_ += key_rest_;
              return in_flight_.count(key_scratch_) != 0 || timed_out_set_.count(key_scratch_) != 0;
            },
            slot);
        if (!value) {
          fail_one(c, call_code::overloaded, "no free correlation key on " + ep_.address.text);
          return false;
        }
        rec.set_present(idx);
      }
      key_of(op.request, rec, c->key);
      if (in_flight_.count(c->key)) {
        fail_one(c, call_code::invalid_field,
                 std::string(op.request.fields[idx].request_name()) + ": correlation key \"" +
                     c->key + "\" is already in flight");
        return false;
      }
    }
    std::size_t before = out_pending_.size();
    // The engine's frame is the one to send unless this connection assigned the key.
    codecs::result<void> encoded;
    if (c->call && !c->key_generated && !c->call->frame.empty())
      codecs::append(out_pending_, c->call->frame);
    else
      encoded = codecs::encode_message(prof, op.request, rec, payload_, out_pending_);
    if (!encoded) {
      out_pending_.resize(before);
      fail_one(c, call_code::invalid_field, encoded.error().to_string());
      return false;
    }
    c->at = tracked_call::where::in_flight;
    c->sent_at = steady::now();
    c->batch = batches_started_ + 1;
    if (field_mode_)
      in_flight_.emplace(c->key, c);
    else
      ordered_.push_back({c, {}});
    start_write();
    return true;
  }

  void fail_one(tracked_call* c, call_code code, std::string message) {
    auto owned = release(c);
    if (owned->what == tracked_call::kind::app)
      end_error(std::move(owned), code, std::move(message));
    else
      session_message_failed(std::move(owned), message);
  }

  // One write in flight; frames queued meanwhile go out together in the next one.
  void start_write() {
    if (writing_ || out_pending_.empty() || !writable()) return;
    std::swap(out_pending_, out_writing_);
    writing_ = true;
    ++batches_started_;
    counters().bytes_out.fetch_add(out_writing_.size(), std::memory_order_relaxed);
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
      connection_lost("write failed: " + ec.message(), call_code::upstream_unavailable, true);
      return;
    }
    last_activity_ = steady::now();
    start_write();
  }

  // ---- session messages --------------------------------------------------------------------

  // Builds and sends a session request (sign-on, echo, sign-off) with its own deadline.
  bool send_session(tracked_call::kind what, std::size_t op_index, steady::time_point deadline) {
    auto t = std::make_unique<tracked_call>();
    t->what = what;
    t->bundle = bundle_;
    t->op = &profile().operations[op_index];
    t->deadline = deadline;
    const codecs::field_spec* correlation = nullptr;
    if (field_mode_ && t->op->request.correlation_field)
      correlation = &t->op->request.fields[*t->op->request.correlation_field];
    call_generation_context gen(bundle_->bank, correlation);
    static const json::object no_fields;
    if (auto mapped = codecs::map_request(t->op->request, no_fields, gen, t->own_request);
        !mapped) {
      log::error("session_message_invalid", {{"endpoint", ep_.address.text},
                                             {"operation", t->op->name},
                                             {"error", mapped.error().to_string()}});
      return false;
    }
    t->key_generated = gen.correlation_generated();
    send(adopt(std::move(t), deadline));  // a failed send ends it through session_message_failed
    return true;
  }

  void session_reply(std::unique_ptr<tracked_call> t, const codecs::record& reply) {
    auto outcome = codecs::classify_reply(*t->op, reply);
    switch (t->what) {
      case tracked_call::kind::sign_on:
        if (outcome.success) {
          log::info("sign_on", {{"endpoint", ep_.address.text}, {"connection", id_}});
          become_up();
        } else {
          ++failed_attempts_;
          std::string why = "sign-on refused with code " + outcome.code +
                            (outcome.message.empty() ? "" : " (" + outcome.message + ")");
          log::warn("sign_on_refused", {{"endpoint", ep_.address.text},
                                        {"connection", id_},
                                        {"code", outcome.code},
                                        {"attempt", failed_attempts_}});
          core_->record_failure(ep_, why, probe_connect_);
          probe_connect_ = false;
          drop_connection(why);
        }
        break;
      case tracked_call::kind::echo:
        echo_out_ = false;
        core_->record_success(ep_, false);
        arm_heartbeat();
        if (draining_) check_drained();
        break;
      case tracked_call::kind::sign_off:
        log::info("sign_off",
                  {{"endpoint", ep_.address.text}, {"connection", id_}, {"answered", true}});
        close_for_good();
        break;
      default:
        break;
    }
  }

  void session_message_failed(std::unique_ptr<tracked_call> t, const std::string& why) {
    switch (t->what) {
      case tracked_call::kind::sign_on: {
        ++failed_attempts_;
        std::string w = "sign-on failed: " + why;
        log::warn("sign_on_refused", {{"endpoint", ep_.address.text},
                                      {"connection", id_},
                                      {"reason", w},
                                      {"attempt", failed_attempts_}});
        core_->record_failure(ep_, w, probe_connect_);
        probe_connect_ = false;
        drop_connection(w);
        break;
      }
      case tracked_call::kind::echo: {
        echo_out_ = false;
        ++counters().heartbeat_failures;
        std::string w = "heartbeat unanswered: " + why;
        log::warn("heartbeat_timeout", {{"endpoint", ep_.address.text}, {"connection", id_}});
        core_->record_failure(ep_, w, false);
        connection_lost(w, call_code::upstream_unavailable, false);
        break;
      }
      case tracked_call::kind::sign_off:
        log::info("sign_off",
                  {{"endpoint", ep_.address.text}, {"connection", id_}, {"answered", false}});
        close_for_good();
        break;
      default:
        break;
    }
  }

  void become_up() {
    state_ = state::up;
    ever_up_ = true;
    failed_attempts_ = 0;
    last_connect_error_.clear();
    ++counters().connected;
    core_->up.fetch_add(1);
    counted_up_ = true;
    core_->record_success(ep_, probe_connect_);
    probe_connect_ = false;
    publish();
    arm_heartbeat();
    pump_queue();
  }

  void arm_heartbeat() {
    const auto& s = session();
    if (!s.echo || s.heartbeat_interval.count() <= 0 || state_ != state::up) return;
    const std::uint64_t epoch = epoch_;
    heartbeat_timer_.expires_at(last_activity_ + s.heartbeat_interval);
    heartbeat_timer_.async_wait([self = shared_from_this(), epoch](boost::system::error_code ec) {
      if (ec || epoch != self->epoch_ || self->state_ != state::up) return;
      self->on_heartbeat();
    });
  }

  void on_heartbeat() {
    const auto& s = session();
    const auto now = steady::now();
    if (echo_out_ || draining_ || replace_with_) return;  // its answer or loss re-arms
    if (now - last_activity_ < s.heartbeat_interval) {
      arm_heartbeat();
      return;
    }
    if (!can_send()) {  // sequential and busy: the call in flight shows whether the peer lives
      last_activity_ = now;
      arm_heartbeat();
      return;
    }
    ++counters().heartbeats;
    echo_out_ = true;
    if (!send_session(tracked_call::kind::echo, *s.echo, now + s.echo_timeout)) echo_out_ = false;
  }

  // The peer's own request (an echo test): answered with the reply built from it.
  void answer_peer(const codecs::operation& op, const codecs::record& request) {
    codecs::build_reply(op, request, answer_);
    std::size_t before = out_pending_.size();
    auto encoded = codecs::encode_message(profile(), op.reply, answer_, payload_, out_pending_);
    if (!encoded) {
      out_pending_.resize(before);
      log::warn("peer_request_unanswerable", {{"endpoint", ep_.address.text},
                                              {"operation", op.name},
                                              {"error", encoded.error().to_string()}});
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
      ++counters().frames_too_long;
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

  void count_rejected(codecs::errc reason) {
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

  void on_read(std::uint64_t epoch, boost::system::error_code ec, std::size_t n) {
    if (epoch != epoch_ || state_ == state::stopped) return;
    if (ec) {
      connection_lost(ec == asio::error::eof ? std::string("closed by the peer")
                                             : "read failed: " + ec.message(),
                      call_code::upstream_unavailable, true);
      return;
    }
    counters().bytes_in.fetch_add(n, std::memory_order_relaxed);
    last_activity_ = steady::now();
    read_end_ += n;
    const std::uint64_t my_epoch = epoch_;
    // Each pass consumes at least one byte or stops, so this ends.
    while (read_begin_ < read_end_) {
      codecs::byte_view input(read_buf_.data() + read_begin_, read_end_ - read_begin_);
      codecs::frame_result fr = decoder_->decode(input);
      if (fr.status == codecs::frame_status::need_more) break;
      if (fr.status == codecs::frame_status::fatal || fr.consumed == 0 ||
          fr.consumed > input.size()) {
        count_rejected(fr.reason);
        protocol_failure("framing: " +
                         (fr.message.empty() ? std::string("no progress") : fr.message));
        return;
      }
      if (fr.status == codecs::frame_status::skip) {
        ++counters().frames_skipped;
        if (!fr.message.empty()) count_rejected(fr.reason);
        read_begin_ += fr.consumed;
        continue;
      }
      handle_payload(fr.payload);
      if (epoch_ != my_epoch || state_ == state::stopped) return;  // the payload closed it
      read_begin_ += fr.consumed;
    }
    if (read_begin_ == read_end_) read_begin_ = read_end_ = 0;
    do_read();
  }

  void handle_payload(codecs::byte_view payload) {
    // In order (sequential, ordered) the reply belongs to the oldest call: decode it as that
    // call's operation, since replies of different operations may look alike (memcached's
    // NOT_FOUND answers delete and incr).
    const codecs::profile* prof = &profile();
    const codecs::operation* only = nullptr;
    if (!field_mode_ && !ordered_.empty() && ordered_.front().call) {
      only = ordered_.front().call->op;
      prof = ordered_.front().call->bundle->profile.get();
    }
    auto decoded = codecs::decode_payload(*prof, payload, reply_,
                                          codecs::decode_preference::replies_first, only);
    if (!decoded && only) {
      // Perhaps the peer's own request (an echo test) between our replies.
      auto as_request = codecs::decode_payload(profile(), payload, reply_,
                                               codecs::decode_preference::requests_first);
      if (as_request && !as_request->is_reply) decoded = std::move(as_request);
    }
    if (!decoded) {
      ++counters().decode_errors;
      count_rejected(decoded.error().code);
      protocol_failure("undecodable reply: " + decoded.error().to_string());
      return;
    }
    if (!decoded->is_reply) {
      ++counters().unsolicited;
      const auto& answer = session().answer;
      if (std::find(answer.begin(), answer.end(), decoded->op->index) != answer.end())
        answer_peer(*decoded->op, reply_);
      else
        log::debug("unsolicited_request",
                   {{"endpoint", ep_.address.text}, {"operation", decoded->op->name}});
      return;
    }
    if (field_mode_) {
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
      // Replies of several operations may share a shape (HL7 ACKs), and a call may use the
      // profile it started with: decode again as that call's operation before a mismatch.
      tracked_call* c = it->second;
      if (decoded->op != c->op) {
        auto again = codecs::decode_payload(*c->bundle->profile, payload, reply_,
                                            codecs::decode_preference::replies_first, c->op);
        if (again && again->is_reply) decoded = std::move(again);
      }
      complete_with_reply(c, *decoded);
      if (state_ == state::stopped) return;
      pump_queue();
      return;
    }
    if (ordered_.empty()) {
      unmatched("(in order, nothing in flight)", decoded->op->name);
      return;
    }
    tracked_call* head = ordered_.front().call;
    ordered_.pop_front();
    if (head) {
      head->at = tracked_call::where::none;  // its place is gone already
      complete_with_reply(head, *decoded);
      if (state_ == state::stopped) return;
    } else {
      ++counters().late;
    }
    if (!ordered_.empty() && !ordered_.front().call) arm_timer();
    pump_queue();
  }

  void complete_with_reply(tracked_call* c, const codecs::decoded_message& decoded) {
    auto owned = release(c);
    if (decoded.op != owned->op) {
      std::string why =
          "the reply is a " + decoded.op->name + " reply, the call was " + owned->op->name;
      core_->record_failure(ep_, why, owned->probe);
      owned->probe = false;
      if (owned->what != tracked_call::kind::app) {
        session_message_failed(std::move(owned), why);
        return;
      }
      end_attempt(std::move(owned), make_error_result(call_code::upstream_protocol_error, why));
      return;
    }
    if (owned->what != tracked_call::kind::app) {
      session_reply(std::move(owned), reply_);
      return;
    }
    core_->record_success(ep_, owned->probe);
    owned->probe = false;
    call_result r = reply_result(*owned->op, reply_);
    end_attempt(std::move(owned), std::move(r), false, &reply_);
  }

  void unmatched(std::string key, const std::string& op) {
    std::uint64_t n = ++counters().unmatched;
    std::replace(key.begin(), key.end(), '\x1f', '/');
    if (n <= 100 || n % 1000 == 0)
      log::warn("unmatched_reply", {{"endpoint", ep_.address.text},
                                    {"operation", op},
                                    {"key", key},
                                    {"unmatched_total", n}});
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
          if (gen != self->timer_gen_ || self->state_ == state::stopped) return;
          self->on_deadline();
        });
  }

  void on_deadline() {
    armed_at_ = steady::time_point::max();
    const auto now = steady::now();
    // Bounded by the number of calls held.
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      tracked_call* c = deadlines_.begin()->second.get();
      const bool in_flight = c->at == tracked_call::where::in_flight;
      if (in_flight && field_mode_) remember_timed_out(c->key);
      if (c->what != tracked_call::kind::app) {
        auto owned = release(c);
        session_message_failed(std::move(owned), "no answer in time");
        if (state_ == state::stopped) return;
        continue;
      }
      if (in_flight) {
        const bool probe = c->probe;
        c->probe = false;
        core_->record_failure(ep_, "no reply within the deadline", probe);
        auto owned = release(c);
        end_error(std::move(owned), call_code::upstream_timeout,
                  "no reply from " + ep_.address.text + " within the deadline");
        continue;
      }
      auto owned = release(c);
      if (owned->deadline <= now) {
        end_error(std::move(owned), call_code::upstream_timeout,
                  "no connection to " + ep_.address.text + " became free within the deadline");
      } else if (state_ == state::up) {
        end_error(std::move(owned), call_code::overloaded,
                  "no connection to " + ep_.address.text + " became free within the queue timeout");
      } else {
        // Waiting for a connection that does not come: no byte was written, try elsewhere.
        end_error(std::move(owned), call_code::upstream_unavailable,
                  "no connection to " + ep_.address.text + " within the queue timeout" +
                      (last_connect_error_.empty() ? "" : " (" + last_connect_error_ + ")"),
                  true);
      }
    }
    if (!ordered_.empty() && !ordered_.front().call && ordered_.front().late_until <= now) {
      connection_lost("no reply to a timed-out call within the grace period",
                      call_code::upstream_unavailable, true);
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

  void take_mode() {
    field_mode_ = profile().correlation.mode == codecs::correlation_mode::field;
    ordered_limit_ = profile().correlation.mode == codecs::correlation_mode::ordered
                         ? std::max<std::size_t>(1, options().max_in_flight_per_connection)
                         : 1;
  }

  void on_kick() {
    if (state_ == state::backoff && waiting_for_breaker_) {
      backoff_timer_.cancel();
      ++epoch_;
      waiting_for_breaker_ = false;
      do_connect();
    }
  }

  void do_connect() {
    if (state_ == state::stopped || draining_) return;
    if (replace_with_) {
      bundle_ = std::move(replace_with_);
      replace_with_.reset();
      replace_when_idle_ = false;
    }
    take_mode();
    // An open breaker holds reconnects back; when it half-opens, one connect is the probe.
    if (core_->breakers_enabled() &&
        ep_.breaker_pub.load() != static_cast<int>(breaker_state::closed)) {
      admit a = core_->admit_call(ep_, steady::now());
      if (a == admit::open || a == admit::busy) {
        steady::time_point until;
        {
          std::lock_guard lock(ep_.m);
          until = ep_.open_until;
        }
        auto wait = std::max<steady::duration>(until - steady::now(), milliseconds(50));
        wait = std::min<steady::duration>(wait, options().breaker_cooldown + milliseconds(50));
        state_ = state::backoff;
        publish();
        waiting_for_breaker_ = true;
        const std::uint64_t epoch = epoch_;
        backoff_timer_.expires_after(wait);
        backoff_timer_.async_wait([self = shared_from_this(), epoch](boost::system::error_code ec) {
          if (ec || epoch != self->epoch_ || self->state_ == state::stopped) return;
          self->waiting_for_breaker_ = false;
          self->do_connect();
        });
        return;
      }
      probe_connect_ = a == admit::probe;
    }
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
    // Names are resolved on every connect: a host that moved is found again.
    resolver_.async_resolve(
        ep_.address.host, ep_.address.port,
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

  void on_connected() {
    boost::system::error_code ignored;
    connect_timer_.cancel();
    socket_.set_option(tcp::no_delay(true), ignored);
    ++counters().connects;
    if (ever_connected_) ++counters().reconnects;
    ever_connected_ = true;
    decoder_ = profile().framing->make_decoder();
    std::size_t need = profile().framing->max_frame_length() + 64;
    if (read_buf_.size() < need) read_buf_.resize(need);
    decoder_bundle_ = bundle_;
    read_begin_ = read_end_ = 0;
    timed_out_set_.clear();
    timed_out_order_.clear();
    last_activity_ = steady::now();
    log::info("connect", {{"endpoint", ep_.address.text}, {"connection", id_}});
    if (session().sign_on) {
      state_ = state::signing_on;
      publish();
      do_read();
      const auto& op = profile().operations[*session().sign_on];
      if (!send_session(tracked_call::kind::sign_on, *session().sign_on,
                        steady::now() + op.timeout) &&
          state_ == state::signing_on)
        drop_connection("the sign-on message cannot be built");
      return;
    }
    do_read();
    become_up();
  }

  void connect_failed(const std::string& why) {
    connect_timer_.cancel();
    close_socket();
    ++counters().connect_failures;
    ++failed_attempts_;
    last_connect_error_ = why;
    set_error(why);
    core_->record_failure(ep_, why, probe_connect_);
    probe_connect_ = false;
    if (failed_attempts_ == 1 || failed_attempts_ % 20 == 0)
      log::warn("connect_failed", {{"endpoint", ep_.address.text},
                                   {"connection", id_},
                                   {"reason", why},
                                   {"attempt", failed_attempts_}});
    state_ = state::backoff;
    publish();
    if (draining_) {
      fail_all(call_code::upstream_unavailable, "dragoman is draining", true);
      close_for_good();
      return;
    }
    // Queued calls wait for the next attempt only when no other endpoint could take them.
    if (!queueable() || core_->alternative_to(ep_))
      fail_all(call_code::upstream_unavailable,
               "cannot connect to upstream " + ep_.address.text + ": " + why, true, true);
    schedule_reconnect();
  }

  // Closes a connection that was connected (up or signing on) and reconnects after a backoff;
  // the calls in flight fail (retryable), the queued ones wait for the next connection.
  void connection_lost(const std::string& why, call_code code, bool count_failure) {
    if (state_ != state::up && state_ != state::signing_on) return;
    const bool was_up = state_ == state::up;
    ++epoch_;
    close_socket();
    heartbeat_timer_.cancel();
    ++counters().disconnects;
    if (counted_up_) {
      --counters().connected;
      core_->up.fetch_sub(1);
      counted_up_ = false;
    }
    set_error(why);
    if (count_failure && was_up) core_->record_failure(ep_, why, false);
    log::warn("disconnect", {{"endpoint", ep_.address.text}, {"connection", id_}, {"reason", why}});
    state_ = state::backoff;
    out_pending_.clear();
    fail_all(code, "upstream " + ep_.address.text + ": " + why, false, true);
    if (draining_) {
      fail_all(call_code::upstream_unavailable, "dragoman is draining", true);
      close_for_good();
      return;
    }
    arm_timer();
    publish();
    if (!queueable() || core_->alternative_to(ep_))
      fail_all(call_code::upstream_unavailable, "upstream " + ep_.address.text + ": " + why, true,
               true);
    schedule_reconnect();
  }

  // Sign-on refused or unanswered: close and reconnect with backoff.
  void drop_connection(const std::string& why) {
    if (state_ == state::signing_on) {
      ++epoch_;
      close_socket();
      set_error(why);
      ++counters().disconnects;
      state_ = state::backoff;
      out_pending_.clear();
      fail_all(call_code::upstream_unavailable, "upstream " + ep_.address.text + ": " + why, false,
               true);
      publish();
      if (draining_) {
        fail_all(call_code::upstream_unavailable, "dragoman is draining", true);
        close_for_good();
        return;
      }
      arm_timer();
      if (!queueable())
        fail_all(call_code::upstream_unavailable, "upstream " + ep_.address.text + ": " + why, true,
                 true);
      schedule_reconnect();
      return;
    }
    connection_lost(why, call_code::upstream_unavailable, true);
  }

  // A reply that cannot be decoded or a stream that cannot be resynchronised: the calls in
  // flight get upstream_protocol_error and the connection is replaced.
  void protocol_failure(const std::string& why) {
    log::warn("protocol_error",
              {{"endpoint", ep_.address.text}, {"connection", id_}, {"reason", why}});
    core_->record_failure(ep_, "protocol error: " + why, false);
    if (state_ == state::signing_on) {
      drop_connection("protocol error: " + why);
      return;
    }
    connection_lost("protocol error: " + why, call_code::upstream_protocol_error, false);
  }

  void schedule_reconnect(bool at_once = false) {
    if (state_ == state::stopped || draining_) return;
    auto lo = std::max<std::int64_t>(1, options().reconnect_min.count());
    auto hi = std::max<std::int64_t>(lo, options().reconnect_max.count());
    int shift = std::min(std::max(failed_attempts_ - 1, 0), 20);
    std::int64_t delay = std::min<std::int64_t>(hi, lo << shift);
    std::uniform_int_distribution<std::int64_t> jitter(delay / 2, delay);
    const std::uint64_t epoch = epoch_;
    backoff_timer_.expires_after(at_once ? milliseconds(0) : milliseconds(jitter(rng_)));
    backoff_timer_.async_wait([self = shared_from_this(), epoch](boost::system::error_code ec) {
      if (ec || epoch != self->epoch_ || self->state_ == state::stopped) return;
      self->do_connect();
    });
  }

  // ---- reload ------------------------------------------------------------------------------

  static bool same_wire(const codecs::profile& a, const codecs::profile& b) {
    for (std::string_view key :
         {"framing", "charset", "checksum", "correlation", "session", "layout", "dictionary"}) {
      const json::value* x = a.source.if_contains(key);
      const json::value* y = b.source.if_contains(key);
      if ((x == nullptr) != (y == nullptr)) return false;
      if (x && *x != *y) return false;
    }
    return true;
  }

  void on_reload(std::shared_ptr<profile_bundle> b) {
    if (state_ == state::stopped) return;
    if (same_wire(profile(), *b->profile)) {
      // The decoder made from the old profile keeps it alive through decoder_bundle_.
      bundle_ = std::move(b);
      return;
    }
    replace_with_ = std::move(b);
    replace_when_idle_ = true;
    if (state_ == state::up) {
      publish();
      maybe_replace();
    }
  }

  // With the wire changed, the connection is closed and opened again once nothing is in flight.
  void maybe_replace() {
    if (!replace_with_ || !replace_when_idle_ || state_ != state::up) return;
    bool busy = field_mode_ ? !in_flight_.empty() : !ordered_.empty();
    if (busy) return;
    replace_when_idle_ = false;
    log::info("reconnect_for_reload", {{"endpoint", ep_.address.text}, {"connection", id_}});
    ++epoch_;
    close_socket();
    heartbeat_timer_.cancel();
    if (counted_up_) {
      --counters().connected;
      core_->up.fetch_sub(1);
      counted_up_ = false;
    }
    state_ = state::backoff;
    out_pending_.clear();
    publish();
    schedule_reconnect(true);
  }

  // ---- drain -------------------------------------------------------------------------------

  void on_drain(steady::time_point deadline) {
    if (draining_) return;
    if (state_ == state::stopped) {
      core_->connection_closed_for_drain();
      return;
    }
    draining_ = true;
    drain_deadline_ = deadline;
    publish();
    if (state_ != state::up) {
      fail_all(call_code::upstream_unavailable, "dragoman is draining", true);
      close_for_good();
      return;
    }
    drain_timer_.expires_at(deadline);
    drain_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->state_ == state::stopped) return;
      self->drain_deadline_passed();
    });
    check_drained();
  }

  // Calls in flight and queued have finished: sign off (when the profile has one) and close.
  void check_drained() {
    if (!draining_ || signing_off_ || state_ != state::up) return;
    if (app_calls() > 0 || !queue_.empty()) return;
    if (echo_out_ && !can_send()) return;  // its answer or its loss comes back here
    begin_sign_off(std::min(drain_deadline_, steady::now() + sign_off_wait));
  }

  void begin_sign_off(steady::time_point until) {
    signing_off_ = true;
    const auto& s = session();
    if (s.sign_off && state_ == state::up) {
      if (field_mode_ || can_send()) {
        if (send_session(tracked_call::kind::sign_off, *s.sign_off, until)) return;
      }
    }
    close_for_good();
  }

  void drain_deadline_passed() {
    if (!draining_ || state_ == state::stopped) return;
    fail_all(
        call_code::upstream_unavailable,
        "dragoman is draining: no answer from " + ep_.address.text + " within the drain timeout",
        true);
    if (!signing_off_) {
      // Whatever is in flight now is session traffic; the sign-off goes out with a short wait.
      ordered_.clear();
      in_flight_.clear();
      begin_sign_off(steady::now() + late_sign_off_wait);
    }
  }

  void close_for_good() {
    if (state_ == state::stopped) return;
    const bool was_draining = draining_;
    if (counted_up_) {
      --counters().connected;
      core_->up.fetch_sub(1);
      counted_up_ = false;
    }
    if (state_ == state::up || state_ == state::signing_on) {
      ++counters().disconnects;
      log::info(
          "disconnect",
          {{"endpoint", ep_.address.text}, {"connection", id_}, {"reason", "closed by dragoman"}});
    }
    state_ = state::stopped;
    ++epoch_;
    close_socket();
    connect_timer_.cancel();
    backoff_timer_.cancel();
    deadline_timer_.cancel();
    heartbeat_timer_.cancel();
    drain_timer_.cancel();
    ++timer_gen_;
    // Anything left (session messages) ends quietly.
    fail_all(call_code::upstream_unavailable, "dragoman is shutting down", true);
    deadlines_.clear();
    set_state(conn_state::down);
    pick_pub.store(static_cast<int>(pick_state::unavailable));
    if (was_draining) core_->connection_closed_for_drain();
  }

  asio::io_context& ctx_;
  std::shared_ptr<core> core_;
  endpoint_state& ep_;
  std::uint64_t id_;
  std::shared_ptr<profile_bundle> bundle_;          // the wire this connection speaks
  std::shared_ptr<profile_bundle> decoder_bundle_;  // keeps the decoder's framer alive
  std::shared_ptr<profile_bundle> replace_with_;    // reload with another wire: once idle
  bool replace_when_idle_ = false;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer connect_timer_;
  asio::steady_timer backoff_timer_;
  asio::steady_timer deadline_timer_;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer drain_timer_;
  std::minstd_rand rng_;

  state state_ = state::connecting;
  bool field_mode_ = false;
  std::size_t ordered_limit_ = 1;
  bool ever_connected_ = false;
  bool ever_up_ = false;
  bool counted_up_ = false;
  bool connect_timed_out_ = false;
  bool probe_connect_ = false;  // this connect is the breaker's half-open probe
  bool waiting_for_breaker_ = false;
  bool echo_out_ = false;
  bool draining_ = false;
  bool signing_off_ = false;
  steady::time_point drain_deadline_;
  steady::time_point last_activity_;
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
  std::uint64_t batches_started_ = 0;

  std::unique_ptr<codecs::frame_decoder> decoder_;
  codecs::byte_buffer read_buf_;
  std::size_t read_begin_ = 0;
  std::size_t read_end_ = 0;
  codecs::record reply_;
  codecs::record answer_;

  mutable std::mutex error_mutex_;  // last_error_ only, for admin output
  std::string last_error_;
};

// ---- the core: picking, retrying, answering ---------------------------------------------------

void core::finish(std::unique_ptr<pending_call> c, call_result r, bool inline_ok) {
  r.attempts = c->attempts;
  count_result(*counters, r);
  if (inline_ok)
    dispatch_result(c->caller, std::move(c->done), std::move(r));
  else
    post_result(c->caller, std::move(c->done), std::move(r));
}

void core::kick(endpoint_state& e) {
  if (stopped.load()) return;
  for (connection* c : e.conns) c->post_kick();
}

void core::dispatch(std::unique_ptr<pending_call> c) {
  auto fail = [&](call_code code, std::string message, std::optional<int> retry_after = 1) {
    call_result r = make_error_result(code, std::move(message));
    r.retry_after_seconds = retry_after;
    finish(std::move(c), std::move(r), false);
  };
  if (stopped.load()) return fail(call_code::upstream_unavailable, "dragoman is shutting down");
  if (draining.load()) return fail(call_code::upstream_unavailable, "dragoman is draining");
  const auto now = steady::now();
  if (c->deadline <= now)
    return fail(call_code::upstream_timeout, "the deadline passed before an upstream was chosen",
                std::nullopt);
  if (endpoints.empty())
    return fail(call_code::upstream_unavailable, "no upstream endpoints are configured");

  bool any_open = false, any_full = false, any_down = false;
  auto earliest_retry = steady::time_point::max();
  const endpoint_state* down_example = nullptr;
  // Stage 0 takes only connections that are up, so that a call never waits for a reconnect
  // while another endpoint could answer; stage 1 also queues for a connection on its way up.
  // Pass 0 passes over endpoints this call has tried; pass 1 takes them too.
  for (int round = 0; round < 4; ++round) {
    const int stage = round / 2, pass = round % 2;
    bool passed_over = false;
    for (auto& level : levels) {
      const std::size_t n = level->endpoints.size();
      const std::size_t start = level->rr.fetch_add(1, std::memory_order_relaxed);
      for (std::size_t i = 0; i < n; ++i) {
        endpoint_state* e = level->endpoints[(start + i) % n];
        if (pass == 0 && std::find(c->tried.begin(), c->tried.end(), e) != c->tried.end()) {
          passed_over = true;
          continue;
        }
        if (e->assigned.load(std::memory_order_relaxed) >= options.max_in_flight_per_endpoint) {
          any_full = true;
          continue;
        }
        admit a = admit_call(*e, now);
        if (a == admit::open || a == admit::busy) {
          any_open = true;
          std::lock_guard lock(e->m);
          earliest_retry = std::min(
              earliest_retry, a == admit::open ? e->open_until : now + std::chrono::seconds(1));
          continue;
        }
        // Least loaded connected connection, round robin among equals; else one that is
        // connecting (not for a probe: the probe's answer must come from a live connection).
        const std::size_t m = e->conns.size();
        const std::size_t cstart = e->rr.fetch_add(1, std::memory_order_relaxed);
        connection* best = nullptr;
        connection* waiting = nullptr;
        std::size_t best_load = 0;
        for (std::size_t j = 0; j < m; ++j) {
          connection* k = e->conns[(cstart + j) % m];
          auto s = static_cast<pick_state>(k->pick_pub.load(std::memory_order_relaxed));
          if (s == pick_state::connected) {
            std::size_t l = k->load.load(std::memory_order_relaxed);
            if (!best || l < best_load) {
              best = k;
              best_load = l;
              if (l == 0) break;
            }
          } else if (s == pick_state::queueing && !waiting) {
            waiting = k;
          }
        }
        connection* target = best ? best : (a == admit::probe || stage == 0 ? nullptr : waiting);
        if (!target) {
          if (a == admit::probe) release_probe(*e);
          any_down = true;
          if (!down_example) down_example = e;
          continue;
        }
        if (std::find(c->tried.begin(), c->tried.end(), e) == c->tried.end()) c->tried.push_back(e);
        ++c->attempts;
        e->assigned.fetch_add(1, std::memory_order_relaxed);
        target->load.fetch_add(1, std::memory_order_relaxed);
        auto t = std::make_unique<tracked_call>();
        t->what = tracked_call::kind::app;
        t->bundle = c->bundle;
        t->op = c->op;
        t->key_generated = c->key_generated;
        t->deadline = c->deadline;
        t->probe = a == admit::probe;
        t->call = std::move(c);
        target->submit(std::move(t));
        return;
      }
    }
    if (pass == 0 && !passed_over) ++round;  // nothing was passed over: pass 1 is the same
  }
  if (any_full && !any_down && !any_open)
    return fail(call_code::overloaded,
                "every upstream endpoint has its maximum of calls in flight");
  if (any_open && !any_down && !any_full) {
    auto wait = earliest_retry == steady::time_point::max() ? std::chrono::seconds(1)
                                                            : earliest_retry - now;
    auto secs = std::chrono::ceil<std::chrono::seconds>(wait).count();
    return fail(call_code::upstream_unavailable,
                "every upstream endpoint is ejected (breaker open)",
                static_cast<int>(std::max<std::int64_t>(1, secs)));
  }
  std::string message = "no upstream endpoint is reachable";
  if (down_example) {
    std::lock_guard lock(down_example->m);
    if (!down_example->last_error.empty())
      message += " (" + down_example->address.text + ": " + down_example->last_error + ")";
  }
  fail(call_code::upstream_unavailable, std::move(message));
}

void core::attempt_failed(std::unique_ptr<pending_call> c, call_result r, bool retryable,
                          const asio::any_io_executor& ex) {
  const auto now = steady::now();
  if (!retryable || stopped.load() || draining.load() ||
      static_cast<std::size_t>(c->attempts) >= max_attempts)
    return finish(std::move(c), std::move(r));
  if (!budget.try_retry(now)) {
    ++counters->retry_budget_exhausted;
    r.message += " (not retried: retry budget exhausted)";
    return finish(std::move(c), std::move(r));
  }
  auto lo =
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, options.retry_backoff_min.count()));
  auto hi = static_cast<std::uint64_t>(
      std::max<std::int64_t>(static_cast<std::int64_t>(lo), options.retry_backoff_max.count()));
  int shift = std::min(std::max(c->attempts - 1, 0), 16);
  std::uint64_t base = std::min(hi, std::max<std::uint64_t>(lo, 1) << shift);
  milliseconds delay(jitter(lo, std::max(lo, base)));
  if (now + delay >= c->deadline) return finish(std::move(c), std::move(r));
  ++counters->retries;
  auto timer = std::make_shared<asio::steady_timer>(ex, delay);
  timer->async_wait([self = shared_from_this(), timer, c = std::move(c),
                     r = std::move(r)](boost::system::error_code) mutable {
    if (self->stopped.load() || self->draining.load())
      return self->finish(std::move(c), std::move(r));
    self->dispatch(std::move(c));
  });
}

bool core::alternative_to(const endpoint_state& e) const {
  for (const auto& other : endpoints) {
    if (other.get() == &e) continue;
    if (other->breaker_pub.load(std::memory_order_relaxed) !=
        static_cast<int>(breaker_state::closed))
      continue;
    if (other->assigned.load(std::memory_order_relaxed) >= options.max_in_flight_per_endpoint)
      continue;
    for (const connection* k : other->conns)
      if (k->pick_pub.load(std::memory_order_relaxed) == static_cast<int>(pick_state::connected))
        return true;
  }
  return false;
}

void core::connection_closed_for_drain() {
  std::vector<std::function<void()>> dones;
  {
    std::lock_guard lock(drain_m);
    if (drain_left > 0) --drain_left;
    if (drain_left > 0 || drain_finished) return;
    drain_finished = true;
    dones.swap(drain_done);
  }
  log::info("drained", {{"message", "every upstream connection is closed"}});
  for (auto& d : dones)
    if (d) d();
}

}  // namespace

struct upstream_pool::impl {
  std::shared_ptr<core> c;
  std::vector<std::shared_ptr<connection>> connections;
  std::mutex stop_mutex;
  bool stopped = false;
};

upstream_pool::upstream_pool(std::shared_ptr<profile_bundle> bundle, const engine_options& options,
                             io_pool& pool, std::shared_ptr<upstream_counters> counters)
    : impl_(std::make_unique<impl>()) {
  auto c = std::make_shared<core>(options, std::move(counters));
  const codecs::profile& p = *bundle->profile;
  std::size_t max_frame = p.framing ? p.framing->max_frame_length() : 65536;
  // Room for one maximal frame plus its framing bytes, and for batching small replies.
  c->read_buffer_size = std::max<std::size_t>(max_frame + 64, 16384);
  c->bundle.store(bundle);

  const auto& names = options.upstreams.empty() ? p.upstream.endpoints : options.upstreams;
  for (const auto& n : names)
    c->endpoints.push_back(
        std::make_unique<endpoint_state>(parse_upstream(n), c->endpoints.size()));
  c->max_attempts = std::max<std::size_t>(3, c->endpoints.size());
  std::vector<int> priorities;
  for (auto& e : c->endpoints) priorities.push_back(e->priority);
  std::sort(priorities.begin(), priorities.end());
  priorities.erase(std::unique(priorities.begin(), priorities.end()), priorities.end());
  for (int prio : priorities) {
    auto level = std::make_unique<priority_level>();
    level->priority = prio;
    for (auto& e : c->endpoints)
      if (e->priority == prio) level->endpoints.push_back(e.get());
    c->levels.push_back(std::move(level));
  }
  std::size_t per = std::max<std::size_t>(1, options.connections_per_endpoint);
  // Interleaved, so that consecutive contexts alternate between endpoints.
  std::uint64_t id = 1;
  for (std::size_t i = 0; i < per; ++i)
    for (auto& e : c->endpoints) {
      auto conn = std::make_shared<connection>(pool.next(), c, *e, id++);
      e->conns.push_back(conn.get());
      impl_->connections.push_back(std::move(conn));
    }
  impl_->c = c;
  for (auto& conn : impl_->connections) conn->start();
}

upstream_pool::~upstream_pool() {
  stop();
}

void upstream_pool::dispatch(std::unique_ptr<pending_call> call) {
  impl_->c->budget.on_call(steady::now());
  impl_->c->dispatch(std::move(call));
}

bool upstream_pool::ready() const noexcept {
  return impl_->c->up.load() > 0 && !impl_->c->draining.load();
}

std::size_t upstream_pool::in_flight() const noexcept {
  std::size_t n = 0;
  for (auto& e : impl_->c->endpoints) {
    std::size_t a = e->assigned.load(), q = e->queued.load();
    n += a > q ? a - q : 0;
  }
  return n;
}

std::size_t upstream_pool::queued() const noexcept {
  std::size_t n = 0;
  for (auto& e : impl_->c->endpoints) n += e->queued.load();
  return n;
}

json::array upstream_pool::describe() const {
  json::array out;
  for (auto& e : impl_->c->endpoints) {
    json::object o;
    o["endpoint"] = e->address.text;
    o["priority"] = e->priority;
    {
      std::lock_guard lock(e->m);
      o["breaker"] = to_string(e->breaker);
      o["breaker_since"] = iso_time(e->breaker_since);
      o["last_error"] = e->last_error.empty() ? json::value(nullptr) : json::value(e->last_error);
      o["last_error_at"] =
          e->last_error.empty() ? json::value(nullptr) : json::value(iso_time(e->last_error_at));
    }
    o["consecutive_failures"] = e->consecutive_failures.load();
    std::size_t a = e->assigned.load(), q = e->queued.load();
    o["in_flight"] = a > q ? a - q : 0;
    o["queued"] = q;
    json::array conns;
    for (connection* k : e->conns) conns.push_back(k->describe());
    o["connections"] = std::move(conns);
    out.push_back(std::move(o));
  }
  return out;
}

json::array upstream_pool::endpoint_stats() const {
  json::array out;
  for (auto& e : impl_->c->endpoints) {
    std::size_t by_state[5] = {0, 0, 0, 0, 0};
    for (connection* k : e->conns) {
      int s = k->state_pub.load();
      if (s == static_cast<int>(conn_state::draining)) s = static_cast<int>(conn_state::up);
      if (s >= 0 && s < 5) ++by_state[s];
    }
    std::size_t a = e->assigned.load(), q = e->queued.load();
    out.push_back(
        json::object{{"endpoint", e->address.text},
                     {"priority", e->priority},
                     {"breaker", to_string(static_cast<breaker_state>(e->breaker_pub.load()))},
                     {"connections",
                      {{"connecting", by_state[static_cast<int>(conn_state::connecting)]},
                       {"signing_on", by_state[static_cast<int>(conn_state::signing_on)]},
                       {"up", by_state[static_cast<int>(conn_state::up)]},
                       {"down", by_state[static_cast<int>(conn_state::down)]}}},
                     {"in_flight", a > q ? a - q : 0},
                     {"queued", q}});
  }
  return out;
}

void upstream_pool::reload(std::shared_ptr<profile_bundle> bundle) {
  impl_->c->bundle.store(bundle);
  if (impl_->c->stopped.load()) return;
  for (auto& k : impl_->connections) k->post_reload(bundle);
}

void upstream_pool::drain(std::chrono::steady_clock::time_point deadline,
                          std::function<void()> done) {
  core& c = *impl_->c;
  {
    std::lock_guard lock(c.drain_m);
    if (c.drain_finished) {
      // Already drained: nothing is left to wait for.
    } else {
      c.drain_done.push_back(std::move(done));
      if (c.draining.exchange(true)) return;  // the first drain's end calls it
      c.drain_left = impl_->connections.size();
      done = nullptr;
    }
  }
  if (done) {
    done();
    return;
  }
  auto ms = std::chrono::duration_cast<milliseconds>(deadline - steady::now()).count();
  log::info("drain", {{"connections", impl_->connections.size()},
                      {"grace_ms", std::max<std::int64_t>(0, ms)}});
  if (impl_->connections.empty() || c.stopped.load()) {
    {
      std::lock_guard lock(c.drain_m);
      c.drain_left = 1;
    }
    c.connection_closed_for_drain();
    return;
  }
  for (auto& k : impl_->connections) k->post_drain(deadline);
}

void upstream_pool::stop() {
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->c->stopped.store(true);
  std::vector<std::future<void>> waits;
  for (auto& k : impl_->connections) {
    asio::io_context& ctx = k->context();
    if (ctx.stopped() || ctx.get_executor().running_in_this_thread()) {
      k->shutdown();
      continue;
    }
    auto done = std::make_shared<std::promise<void>>();
    waits.push_back(done->get_future());
    asio::post(ctx, [k, done] {
      k->shutdown();
      done->set_value();
    });
  }
  // Bounded: a context that does not run its queue within the grace is left to its owner.
  const auto until = steady::now() + std::chrono::seconds(2);
  for (auto& w : waits) w.wait_until(until);
  // A drain that cannot complete through the connections any more ends here.
  std::vector<std::function<void()>> dones;
  {
    core& c = *impl_->c;
    std::lock_guard dl(c.drain_m);
    if (c.draining.load() && !c.drain_finished) {
      c.drain_finished = true;
      dones.swap(c.drain_done);
    }
  }
  for (auto& d : dones)
    if (d) d();
}

}  // namespace dragoman::bridge
