// The upstream pool: endpoints by priority, picking a connection for each call (atomics only,
// from any thread), retries under a budget with jittered backoff, drain and reload fan-out.
#include "bridge/upstream_pool.hpp"

#include "bridge/call_handoff.hpp"
#include "bridge/log.hpp"
#include "bridge/retry_budget.hpp"
#include "bridge/upstream_connection.hpp"
#include "bridge/upstream_listener.hpp"
#include "bridge/upstream_pacing.hpp"
#include "bridge/upstream_serializing.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <future>
#include <mutex>
#include <random>

namespace dragoman::bridge {

namespace asio = boost::asio;
namespace json = boost::json;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

call_result refusal(call_code code, std::string message, std::optional<int> retry_after = 1) {
  call_result r = make_error_result(code, std::move(message));
  r.retry_after_seconds = retry_after;
  return r;
}

// Why no endpoint took a call, gathered while picking.
struct misses {
  bool open = false;  // some breaker open (or its probe out)
  bool full = false;  // some endpoint at its maximum of calls
  bool down = false;  // some endpoint without a connection to take it
  steady::time_point earliest_retry = steady::time_point::max();
  const endpoint* down_example = nullptr;
  bool paced_full = false;      // some endpoint's pacing queue is full
  bool paced_too_late = false;  // some endpoint's pacing turn would come after the deadline
};

// What pool and connections share, and what connections report back to: the picking, retrying
// and answering core of the pool.
class pool_core final : public upstream_shared, public std::enable_shared_from_this<pool_core> {
 public:
  struct level {
    int priority = 0;
    std::vector<endpoint*> endpoints;
    std::atomic<std::size_t> round_robin{0};
  };

  pool_core(const engine_options& o, std::shared_ptr<upstream_counters> c)
      : upstream_shared(o, std::move(c)), budget(o.retry_budget_ratio, o.retry_budget_floor) {}

  std::vector<std::unique_ptr<level>> levels;  // best (lowest number) first
  // By endpoint index: its connections with the gauges pickers read (vectors, for cheap indexing).
  struct connection_slot {
    upstream_connection* connection;
    connection_gauge* gauge;
  };
  std::vector<std::vector<connection_slot>> connections;
  std::size_t max_attempts = 3;
  retry_budget budget;
  std::mutex drain_m;
  std::vector<std::function<void()>> drain_done;
  std::size_t drain_left = 0;
  bool drain_finished = false;
  std::shared_ptr<upstream_pacing> pacing;       // null: no endpoint is paced
  std::shared_ptr<upstream_serializing> serial;  // serialize_by keys held and waited for

  void route(pending_call_ptr c, steady::time_point now);
  void finish(pending_call_ptr c, call_result&& r, bool inline_ok = true);
  void attempt_ended(pending_call_ptr c, call_result&& r, bool retryable,
                     asio::io_context& ctx) override;
  void breaker_closed(endpoint& e) override;
  void connection_closed_for_drain() override;

 private:
  bool try_endpoint(endpoint& e, pending_call_ptr& c, int stage, steady::time_point now, misses& m);
  upstream_connection* pick_connection(endpoint& e, bool may_wait);
  call_result no_route_result(const misses& m, steady::time_point now) const;
  milliseconds retry_delay(const pending_call& c);

  std::mutex rng_m_;
  std::minstd_rand rng_{std::random_device{}()};
};

// Every dispatched call is answered here. One that some attempt wrote is answered as sent,
// whatever its last attempt found: never a code that invites the app to send it again.
void pool_core::finish(pending_call_ptr c, call_result&& r, bool inline_ok) {
  r.attempts = c->attempts;
  if (c->written) mark_sent(r);
  // An unknown outcome of an operation with a compensation: nothing here can send it (the
  // journaled engine in front, when there is one, queues it and says so instead).
  if (r.code == call_code::upstream_timeout && r.sent && c->op && c->op->compensation.operation)
      [[unlikely]]
    r.compensation = "unavailable";
  count_result(*counters, r);
  if (!c->serial_key.empty()) [[unlikely]]
    serial->release(c->serial_key);
  if (inline_ok)
    dispatch_result(c->caller, std::move(c->done), std::move(r));
  else
    post_result(c->caller, std::move(c->done), std::move(r));
}

void pool_core::breaker_closed(endpoint& e) {
  if (stopped.load()) return;
  for (const connection_slot& k : connections[e.index()]) k.connection->post_breaker_closed();
}

// Picks an endpoint and a connection: stage 0 takes only connections that are up, so that a call
// never waits for a reconnect while another endpoint could answer; stage 1 also queues for a
// connection on its way up. Pass 0 passes over endpoints this call has tried; pass 1 takes them.
void pool_core::route(pending_call_ptr c, steady::time_point now) {
  auto fail = [&](call_result&& r) { finish(std::move(c), std::move(r), false); };
  if (stopped.load())
    return fail(refusal(call_code::upstream_unavailable, "dragoman is shutting down"));
  if (draining.load())
    return fail(refusal(call_code::upstream_unavailable, "dragoman is draining"));
  if (c->deadline <= now)
    return fail(refusal(call_code::upstream_timeout,
                        "the deadline passed before an upstream was chosen", std::nullopt));
  if (endpoints.empty())
    return fail(refusal(call_code::upstream_unavailable, "no upstream endpoints are configured"));
  misses m;
  // Back from a pacing wait: the endpoint whose tokens it holds first.
  if (c->paced_for) [[unlikely]]
    if (try_endpoint(*endpoints[c->paced_for->index()], c, 1, now, m)) return;
  for (int round = 0; round < 4; ++round) {
    const int stage = round / 2, pass = round % 2;
    bool passed_over = false;
    for (auto& lv : levels) {
      const std::size_t n = lv->endpoints.size();
      const std::size_t start = lv->round_robin.fetch_add(1, std::memory_order_relaxed);
      for (std::size_t i = 0; i < n; ++i) {
        endpoint* e = lv->endpoints[(start + i) % n];
        if (pass == 0 && std::find(c->tried.begin(), c->tried.end(), e) != c->tried.end()) {
          passed_over = true;
          continue;
        }
        if (try_endpoint(*e, c, stage, now, m)) return;
      }
    }
    if (pass == 0 && !passed_over) ++round;  // nothing was passed over: pass 1 is the same
  }
  fail(no_route_result(m, now));
}

// Hands c to one of e's connections when e can take it (true), else notes why not.
bool pool_core::try_endpoint(endpoint& e, pending_call_ptr& c, int stage, steady::time_point now,
                             misses& m) {
  if (e.assigned.load(std::memory_order_relaxed) >= options.max_in_flight_per_endpoint) {
    m.full = true;
    return false;
  }
  const breaker_verdict v = e.admit(now);
  if (v == breaker_verdict::open || v == breaker_verdict::busy) {
    m.open = true;
    m.earliest_retry =
        std::min(m.earliest_retry,
                 v == breaker_verdict::open ? e.open_until() : now + std::chrono::seconds(1));
    return false;
  }
  if (pacing) [[unlikely]] {
    const auto pv = pacing->admit(e, c, now, connections[e.index()].front().connection->context());
    if (pv != upstream_pacing::verdict::go) {
      if (v == breaker_verdict::probe) e.release_probe();
      if (pv == upstream_pacing::verdict::waiting) return true;  // back through route at its turn
      (pv == upstream_pacing::verdict::full ? m.paced_full : m.paced_too_late) = true;
      return false;
    }
  }
  // Not for a probe a connection on its way up: the probe's answer must come from a live one.
  upstream_connection* target = pick_connection(e, v != breaker_verdict::probe && stage != 0);
  if (!target) {
    if (v == breaker_verdict::probe) e.release_probe();
    m.down = true;
    if (!m.down_example) m.down_example = &e;
    return false;
  }
  if (std::find(c->tried.begin(), c->tried.end(), &e) == c->tried.end()) c->tried.push_back(&e);
  ++c->attempts;
  c->paced_for = nullptr;  // its tokens are spent: a retry asks again
  c->paced_stage = 0;
  e.assigned.fetch_add(1, std::memory_order_relaxed);
  auto t = std::make_unique<tracked_call>();
  t->what = tracked_call::kind::app;
  t->bundle = c->bundle;
  t->op = c->op;
  t->key_generated = c->key_generated;
  t->deadline = c->deadline;
  t->probe = v == breaker_verdict::probe;
  t->call = std::move(c);
  target->submit(std::move(t));
  return true;
}

// The least loaded connected connection, round robin among equals; else (may_wait) one that is
// connecting. Counts the call on the one it picks.
upstream_connection* pool_core::pick_connection(endpoint& e, bool may_wait) {
  const auto& conns = connections[e.index()];
  const std::size_t n = conns.size();
  const std::size_t start = e.round_robin.fetch_add(1, std::memory_order_relaxed);
  const connection_slot* best = nullptr;
  const connection_slot* waiting = nullptr;
  std::size_t best_load = 0;
  for (std::size_t j = 0; j < n; ++j) {
    const connection_slot& k = conns[(start + j) % n];
    const pick_state s = k.gauge->pick();
    if (s == pick_state::connected) {
      const std::size_t l = k.gauge->calls.load(std::memory_order_relaxed);
      if (!best || l < best_load) {
        best = &k;
        best_load = l;
        if (l == 0) break;
      }
    } else if (s == pick_state::queueing && !waiting) {
      waiting = &k;
    }
  }
  const connection_slot* pick = best ? best : (may_wait ? waiting : nullptr);
  if (!pick) return nullptr;
  pick->gauge->calls.fetch_add(1, std::memory_order_relaxed);
  return pick->connection;
}

call_result pool_core::no_route_result(const misses& m, steady::time_point now) const {
  if (m.paced_too_late)
    return refusal(call_code::upstream_timeout,
                   "the deadline would pass before the call's turn under upstream.pacing",
                   std::nullopt);
  if (m.paced_full)
    return refusal(call_code::overloaded,
                   "too many calls wait for their turn under upstream.pacing (the queue is full)");
  if (m.full && !m.down && !m.open)
    return refusal(call_code::overloaded,
                   "every upstream endpoint has its maximum of calls in flight");
  if (m.open && !m.down && !m.full) {
    auto wait = m.earliest_retry == steady::time_point::max() ? std::chrono::seconds(1)
                                                              : m.earliest_retry - now;
    auto secs = std::chrono::ceil<std::chrono::seconds>(wait).count();
    return refusal(call_code::upstream_unavailable,
                   "every upstream endpoint is ejected (breaker open)",
                   static_cast<int>(std::max<std::int64_t>(1, secs)));
  }
  std::string message = "no upstream endpoint is reachable";
  if (m.down_example) {
    std::string why = m.down_example->last_error();
    if (!why.empty()) message += " (" + m.down_example->name() + ": " + why + ")";
  }
  return refusal(call_code::upstream_unavailable, std::move(message));
}

milliseconds pool_core::retry_delay(const pending_call& c) {
  const backoff_policy p{std::max(milliseconds(0), options.retry_backoff_min),
                         options.retry_backoff_max, 16};
  std::lock_guard lock(rng_m_);
  return jittered(p.min, backoff_step(p, c.attempts), rng_);
}

void pool_core::attempt_ended(pending_call_ptr c, call_result&& r, bool retryable,
                              asio::io_context& ctx) {
  if (!retryable || stopped.load() || draining.load() ||
      static_cast<std::size_t>(c->attempts) >= max_attempts)
    return finish(std::move(c), std::move(r));
  const auto now = steady::now();
  if (!budget.try_retry(now)) {
    ++counters->retry_budget_exhausted;
    r.message += " (not retried: retry budget exhausted)";
    return finish(std::move(c), std::move(r));
  }
  const milliseconds delay = retry_delay(*c);
  if (now + delay >= c->deadline) return finish(std::move(c), std::move(r));
  ++counters->retries;
  auto timer = std::make_shared<asio::steady_timer>(ctx, delay);
  timer->async_wait([self = shared_from_this(), timer, c = std::move(c),
                     r = std::move(r)](boost::system::error_code) mutable {
    if (self->stopped.load() || self->draining.load())
      return self->finish(std::move(c), std::move(r));
    self->route(std::move(c), steady::now());
  });
}

void pool_core::connection_closed_for_drain() {
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

namespace {

// --upstream-listen's address: an IP literal (or localhost) and a port.
asio::ip::tcp::endpoint parse_listen_address(const std::string& text) {
  auto split = split_host_port(text);
  if (!split || split.value->host.empty())
    throw std::runtime_error("--upstream-listen " + text + ": expected ADDRESS:PORT");
  std::string host = split.value->host == "localhost" ? "127.0.0.1" : split.value->host;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec)
    throw std::runtime_error("--upstream-listen " + text + ": the address must be an IP address");
  return {address, split.value->port_number};
}

}  // namespace

struct upstream_pool::impl {
  std::shared_ptr<pool_core> c;
  std::vector<std::shared_ptr<upstream_connection>> connections;
  std::unique_ptr<upstream_listener> listener;  // --upstream-listen
  std::vector<std::shared_ptr<upstream_connection>> slots;
  std::mutex stop_mutex;
  bool stopped = false;
};

upstream_pool::upstream_pool(std::shared_ptr<profile_bundle> bundle, const engine_options& options,
                             io_pool& pool, std::shared_ptr<upstream_counters> counters)
    : impl_(std::make_unique<impl>()) {
  auto c = std::make_shared<pool_core>(options, std::move(counters));
  const codecs::profile& p = *bundle->profile;
  std::size_t max_frame = p.framing ? p.framing->max_frame_length() : 65536;
  // Room for one maximal frame plus its framing bytes, and for batching small replies.
  c->read_buffer_size = std::max<std::size_t>(max_frame + 64, 16384);
  c->bundle.store(bundle);

  const breaker_options breaker{options.breaker_failures, options.breaker_cooldown};
  const auto& names = options.upstreams.empty() ? p.upstream.endpoints : options.upstreams;
  c->ejection = std::make_unique<ejection_cap>(
      names.size() + (options.upstream_listen.empty() ? 0 : 1), options.max_ejection_percent);
  for (const auto& n : names)
    c->endpoints.push_back(std::make_unique<endpoint>(parse_upstream(n), c->endpoints.size(),
                                                      breaker, c->ejection.get()));
  // The host connects in: one endpoint, named by the address bound, whose connections are slots.
  if (!options.upstream_listen.empty()) {
    impl_->listener = std::make_unique<upstream_listener>(
        pool.next(), parse_listen_address(options.upstream_listen));
    const auto at = impl_->listener->local_endpoint();
    upstream_spec spec;
    spec.address.host = at.address().to_string();
    spec.address.port = std::to_string(at.port());
    spec.address.text = "listen:" + spec.address.host + ":" + spec.address.port;
    c->endpoints.push_back(
        std::make_unique<endpoint>(spec, c->endpoints.size(), breaker, c->ejection.get()));
    c->endpoints.back()->set_listened();
  }
  c->max_attempts = std::max<std::size_t>(3, c->endpoints.size());
  std::vector<int> priorities;
  for (auto& e : c->endpoints) priorities.push_back(e->priority());
  std::sort(priorities.begin(), priorities.end());
  priorities.erase(std::unique(priorities.begin(), priorities.end()), priorities.end());
  for (int prio : priorities) {
    auto lv = std::make_unique<pool_core::level>();
    lv->priority = prio;
    for (auto& e : c->endpoints)
      if (e->priority() == prio) lv->endpoints.push_back(e.get());
    c->levels.push_back(std::move(lv));
  }
  c->connections.resize(c->endpoints.size());
  std::size_t per = std::max<std::size_t>(1, options.connections_per_endpoint);
  // Interleaved, so that consecutive contexts alternate between endpoints.
  std::uint64_t id = 1;
  const std::size_t slots = std::max<std::size_t>(1, options.listen_connections);
  for (std::size_t i = 0; i < std::max(per, slots); ++i)
    for (auto& e : c->endpoints) {
      if (i >= (e->listened() ? slots : per)) continue;
      connection_gauge& gauge = e->add_connection(id++);
      auto conn = std::make_shared<upstream_connection>(pool.next(), c, *e, gauge);
      c->connections[e->index()].push_back({conn.get(), &gauge});
      if (e->listened()) impl_->slots.push_back(conn);
      impl_->connections.push_back(std::move(conn));
    }
  codecs::upstream_pacing_spec pacing = p.upstream.pacing;
  if (options.pacing_rate) pacing.endpoint.rate = *options.pacing_rate;
  if (options.pacing_burst) pacing.endpoint.burst = *options.pacing_burst;
  if (pacing.enabled()) {
    c->pacing = std::make_shared<upstream_pacing>(pacing, c->endpoints.size(), c->counters);
    c->pacing->set_resume([weak = std::weak_ptr<pool_core>(c)](pending_call_ptr k) {
      if (auto self = weak.lock()) self->route(std::move(k), steady::now());
    });
  }
  c->serial = std::make_shared<upstream_serializing>(options.max_queued, c->counters);
  const std::weak_ptr<pool_core> weak(c);
  c->serial->set_handlers(
      [weak](pending_call_ptr k) {
        if (auto self = weak.lock()) self->route(std::move(k), steady::now());
      },
      [weak](pending_call_ptr k, call_result&& r) {
        if (auto self = weak.lock()) self->finish(std::move(k), std::move(r), false);
      });
  impl_->c = c;
  for (auto& conn : impl_->connections) conn->start();
  if (impl_->listener) impl_->listener->start(impl_->slots);
}

std::string upstream_pool::listen_address() const {
  if (!impl_->listener) return {};
  const auto at = impl_->listener->local_endpoint();
  return at.address().to_string() + ":" + std::to_string(at.port());
}

upstream_pool::~upstream_pool() {
  stop();
}

void upstream_pool::dispatch(pending_call_ptr call) {
  const auto now = steady::now();
  impl_->c->budget.on_call(now);
  if (!call->op->serialize_by.empty()) [[unlikely]]
    return impl_->c->serial->admit(std::move(call), now);
  impl_->c->route(std::move(call), now);
}

std::size_t upstream_pool::pacing_queued() const {
  return impl_->c->pacing ? impl_->c->pacing->waiting() : 0;
}

std::size_t upstream_pool::serialize_queued() const {
  return impl_->c->serial->waiting();
}

bool upstream_pool::ready() const noexcept {
  return impl_->c->up.load() > 0 && !impl_->c->draining.load();
}

std::size_t upstream_pool::in_flight() const noexcept {
  std::size_t n = 0;
  for (auto& e : impl_->c->endpoints) n += e->in_flight();
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
    json::object o = e->describe();
    if (impl_->c->pacing) o["pacing"] = impl_->c->pacing->describe(e->index());
    out.push_back(std::move(o));
  }
  return out;
}

json::array upstream_pool::endpoint_stats() const {
  json::array out;
  for (auto& e : impl_->c->endpoints) out.push_back(e->stats());
  return out;
}

void upstream_pool::reload(std::shared_ptr<profile_bundle> bundle) {
  impl_->c->bundle.store(bundle);
  if (impl_->c->stopped.load()) return;
  for (auto& k : impl_->connections) k->post_reload(bundle);
}

void upstream_pool::drain(std::chrono::steady_clock::time_point deadline,
                          std::function<void()> done) {
  pool_core& c = *impl_->c;
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
  if (impl_->listener) impl_->listener->stop();
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
    pool_core& c = *impl_->c;
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
