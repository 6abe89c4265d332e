// upstream.pacing in the pool: buckets per endpoint and operation, waits on timers.
#include "bridge/upstream_pacing.hpp"

#include <boost/asio/steady_timer.hpp>

namespace dragoman::bridge {

namespace asio = boost::asio;
namespace json = boost::json;
using steady = std::chrono::steady_clock;

upstream_pacing::upstream_pacing(const codecs::upstream_pacing_spec& spec, std::size_t endpoints,
                                 std::shared_ptr<upstream_counters> counters)
    : enabled_(spec.enabled()), counters_(std::move(counters)) {
  if (!enabled_) return;
  endpoints_.resize(endpoints);
  for (auto& b : endpoints_) {
    if (spec.endpoint.rate > 0)
      b.all = std::make_unique<pacer>(spec.endpoint.rate, spec.endpoint.burst, spec.queue);
    for (const auto& [name, r] : spec.operations)
      b.operations.emplace_back(name, std::make_unique<pacer>(r.rate, r.burst, spec.queue));
  }
}

pacer* upstream_pacing::buckets::for_operation(std::string_view name) const noexcept {
  for (const auto& [n, p] : operations)
    if (n == name) return p.get();
  return nullptr;
}

upstream_pacing::verdict upstream_pacing::admit(const endpoint& e, pending_call_ptr& c,
                                                steady::time_point now, asio::io_context& ctx) {
  const buckets& b = endpoints_[e.index()];
  if (c->paced_for != &e) {
    // Tokens are an endpoint's: a call sent elsewhere asks again from the start.
    c->paced_for = &e;
    c->paced_stage = 0;
  }
  while (c->paced_stage < 2) {
    pacer* p = c->paced_stage == 0 ? b.for_operation(c->op->name) : b.all.get();
    if (!p) {
      ++c->paced_stage;
      continue;
    }
    const pacer::turn t = p->admit(now, c->deadline);
    if (t.v == pacer::verdict::go) {
      ++c->paced_stage;
      continue;
    }
    if (t.v == pacer::verdict::full) {
      ++counters_->pacing_refused;
      return verdict::full;
    }
    if (t.v == pacer::verdict::too_late) {
      ++counters_->pacing_too_late;
      return verdict::too_late;
    }
    ++c->paced_stage;  // reserved: its token is there at t.at
    if (c->paced_since == steady::time_point{}) c->paced_since = now;
    auto timer = std::make_shared<asio::steady_timer>(ctx, t.at);
    timer->async_wait(
        [self = shared_from_this(), timer, p, c = std::move(c)](boost::system::error_code) mutable {
          p->turn_came();
          self->resume_(std::move(c));
        });
    return verdict::waiting;
  }
  if (c->paced_since != steady::time_point{}) {
    counters_->pacing_wait.observe(
        std::chrono::duration_cast<std::chrono::microseconds>(now - c->paced_since));
    c->paced_since = {};
  }
  return verdict::go;
}

std::size_t upstream_pacing::waiting() const {
  std::size_t n = 0;
  for (const auto& b : endpoints_) {
    if (b.all) n += b.all->waiting();
    for (const auto& [name, p] : b.operations) n += p->waiting();
  }
  return n;
}

json::value upstream_pacing::describe(std::size_t endpoint) const {
  if (!enabled_ || endpoint >= endpoints_.size()) return nullptr;
  auto one = [](const pacer& p) {
    return json::object{{"rate", p.rate()},
                        {"burst", p.burst()},
                        {"waiting", p.waiting()},
                        {"queue", p.max_waiting()}};
  };
  const buckets& b = endpoints_[endpoint];
  json::object o;
  if (b.all) o = one(*b.all);
  json::object ops;
  for (const auto& [name, p] : b.operations) ops[name] = one(*p);
  o["operations"] = std::move(ops);
  return o;
}

}  // namespace dragoman::bridge
