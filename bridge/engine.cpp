// The call engine: the translator in front of the upstream pool; stats, admin descriptions,
// reload and drain.
#include "bridge/engine.hpp"

#include "bridge/call_handoff.hpp"
#include "bridge/correlation.hpp"
#include "bridge/journaled_inbound.hpp"
#include "bridge/log.hpp"
#include "bridge/translator.hpp"
#include "bridge/upstream_pool.hpp"
#include "bridge/upstream_tls.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>

namespace dragoman::bridge {

namespace {

std::atomic<std::uint64_t> next_engine_id{0};

class engine_impl final : public call_engine {
 public:
  engine_impl(std::shared_ptr<const codecs::profile> profile, engine_options options, io_pool& pool,
              std::shared_ptr<upstream_counters> counters)
      : options_(std::move(options)),
        counters_(counters ? std::move(counters) : std::make_shared<upstream_counters>()),
        bundle_(std::make_shared<profile_bundle>(std::move(profile))),
        pool_(bundle_.load(), options_, pool, counters_) {}

  ~engine_impl() override { pool_.stop(); }

  void submit(call_request req, boost::asio::any_io_executor caller, call_handler&& done) override {
    ++counters_->calls;
    auto call = make_pending_call();
    if (auto refused = translate_request(req, current_bundle(), options_.max_timeout, *call)) {
      count_result(*counters_, *refused);
      post_result(caller, std::move(done), std::move(*refused));
      return;
    }
    call->deadline = std::chrono::steady_clock::now() + call->timeout;
    call->caller = std::move(caller);
    call->done = std::move(done);
    call->request_id = std::move(req.request_id);
    call->trace = req.trace;
    pool_.dispatch(std::move(call));
  }

  std::optional<call_result> prepare(const call_request& req, boost::json::object& pinned,
                                     std::string& control_id) override {
    mapped_request call;
    if (auto refused = translate_request(req, current_bundle(), options_.max_timeout, call))
      return refused;
    const auto& fields = call.op->request.fields;
    // The correlation key, which a connection would assign when it sends, is drawn now (from the
    // clock, as a connection draws it): it is the control id a resend must repeat.
    if (call.key_generated) {
      const codecs::field_spec& f = fields[*call.op->request.correlation_field];
      std::string key;
      {
        std::lock_guard lock(prepare_mutex_);
        prepare_keys_.next(
            f, [](std::string_view) { return false; }, key);
      }
      control_id = key;
      pinned[f.name] = key;
    }
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const codecs::field_spec& f = fields[i];
      if (f.generate == codecs::generator_kind::none || !call.request.has(i)) continue;
      if (pinned.contains(f.name)) continue;
      const std::string_view v = call.request.get(i);
      if (control_id.empty() && f.generate == codecs::generator_kind::counter) control_id = v;
      pinned[f.name] = v;
    }
    return std::nullopt;
  }

  bool ready() const override { return pool_.ready(); }

  std::string upstream_listen_address() const override { return pool_.listen_address(); }

  boost::json::object describe_upstreams() const override {
    boost::json::object o{{"endpoints", pool_.describe()}};
    if (options_.tls) o["tls"] = options_.tls->describe();
    return o;
  }

  boost::json::object stats() const override {
    boost::json::object o;
    write_stats(o, *counters_,
                {.calls_in_flight = pool_.in_flight(),
                 .calls_queued = pool_.queued(),
                 .pacing_queued = pool_.pacing_queued(),
                 .serialize_queued = pool_.serialize_queued()});
    o["endpoints"] = pool_.endpoint_stats();
    if (options_.inbound_journal)
      if (auto store = options_.inbound_journal->store.load())
        o["journal_inbound"] = store->stats();
    return o;
  }

  void reload(std::shared_ptr<const codecs::profile> profile) override {
    if (!profile) return;
    auto next = std::make_shared<profile_bundle>(std::move(profile));
    auto prev = bundle_.load();
    // Counters continue where they were when the profile keeps its generator slots.
    if (prev && prev->profile->counter_count == next->profile->counter_count)
      next->bank.copy_from(prev->bank);
    log::info("reload", {{"profile", next->profile->name}});
    bundle_.store(next);
    generation_.fetch_add(1, std::memory_order_release);
    pool_.reload(std::move(next));
  }

  void drain(std::chrono::steady_clock::time_point deadline, std::function<void()> done) override {
    pool_.drain(deadline, std::move(done));
  }

 private:
  // The profile in service, from a per-thread copy that is refreshed after a reload: loading the
  // std::atomic<std::shared_ptr> itself takes a spin lock that every thread would contend for.
  std::shared_ptr<profile_bundle> current_bundle() {
    struct cached {
      std::uint64_t engine = 0;
      std::uint64_t generation = 0;
      std::shared_ptr<profile_bundle> bundle;
    };
    thread_local cached c;
    const std::uint64_t g = generation_.load(std::memory_order_acquire);
    if (c.engine != id_ || c.generation != g || !c.bundle) {
      c.bundle = bundle_.load();
      c.engine = id_;
      c.generation = g;
    }
    return c.bundle;
  }

  engine_options options_;
  std::shared_ptr<upstream_counters> counters_;
  std::atomic<std::shared_ptr<profile_bundle>> bundle_;
  std::atomic<std::uint64_t> generation_{0};                  // bumped by reload()
  const std::uint64_t id_ = next_engine_id.fetch_add(1) + 1;  // tells engines apart in caches
  std::mutex prepare_mutex_;
  key_allocator prepare_keys_;  // correlation keys of prepared calls, under prepare_mutex_
  upstream_pool pool_;          // last: stopped and destroyed first
};

}  // namespace

std::unique_ptr<call_engine> make_engine(std::shared_ptr<const codecs::profile> profile,
                                         engine_options options, io_pool& pool,
                                         std::shared_ptr<upstream_counters> counters) {
  return std::make_unique<engine_impl>(std::move(profile), std::move(options), pool,
                                       std::move(counters));
}

}  // namespace dragoman::bridge
