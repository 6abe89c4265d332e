// The call engine: the translator (operation lookup, JSON → record, validation by encoding,
// deadline, reply → JSON and classification) in front of the upstream pool; stats, admin
// descriptions, reload and drain.
#include "bridge/engine.hpp"

#include "bridge/correlation.hpp"
#include "bridge/log.hpp"
#include "bridge/upstream.hpp"
#include "codecs/pipeline.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <utility>

namespace dragoman::bridge {

call_result reply_result(const codecs::operation& op, const codecs::record& reply) {
  codecs::reply_outcome outcome = codecs::classify_reply(op, reply);
  call_result r;
  r.data = codecs::map_reply(op.reply, reply, false);
  r.legacy_code = std::move(outcome.code);
  if (outcome.success) {
    r.code = call_code::ok;
    r.status = 200;
    r.message = std::move(outcome.message);
    return r;
  }
  r.code = call_code::rejected;
  r.status = op.result.rejected_status;
  r.message = outcome.message.empty() ? "the host rejected the call with code " + r.legacy_code
                                      : std::move(outcome.message);
  return r;
}

namespace {

std::atomic<std::uint64_t> next_engine_id{0};

call_result error_result(call_code code, std::string message) {
  call_result r;
  r.code = code;
  r.status = http_status(code);
  r.message = std::move(message);
  return r;
}

class engine_impl final : public call_engine {
 public:
  engine_impl(std::shared_ptr<const codecs::profile> profile, engine_options options, io_pool& pool)
      : options_(std::move(options)),
        counters_(std::make_shared<upstream_counters>()),
        bundle_(std::make_shared<profile_bundle>(std::move(profile))),
        pool_(bundle_.load(), options_, pool, counters_) {}

  ~engine_impl() override { pool_.stop(); }

  void submit(call_request req, boost::asio::any_io_executor caller, call_handler done) override {
    ++counters_->calls;
    std::shared_ptr<profile_bundle> bundle = current_bundle();
    const codecs::profile& profile = *bundle->profile;
    const codecs::operation* op = profile.find_operation(req.op);
    if (!op || op->internal) {
      fail(caller, std::move(done), call_code::unknown_operation,
           "the profile " + profile.name + " has no operation \"" + req.op + "\"" +
               (op ? " that apps may call (it belongs to the session)" : ""));
      return;
    }
    const codecs::field_spec* correlation = nullptr;
    if (profile.correlation.mode == codecs::correlation_mode::field) {
      if (!op->request.correlation_field || !op->reply.correlation_field) {
        fail(caller, std::move(done), call_code::upstream_protocol_error,
             "operation \"" + op->name + "\" has no correlation field \"" +
                 profile.correlation.field + "\"");
        return;
      }
      correlation = &op->request.fields[*op->request.correlation_field];
    }
    auto timeout = req.timeout.value_or(op->timeout);
    if (options_.max_timeout.count() > 0) timeout = std::min(timeout, options_.max_timeout);
    timeout = std::max(timeout, std::chrono::milliseconds(1));

    auto call = std::make_unique<pending_call>();
    call->op = op;
    call_generation_context gen(bundle->bank, correlation);
    if (auto mapped = codecs::map_request(op->request, req.data, gen, call->request); !mapped) {
      fail(caller, std::move(done), call_code::invalid_field, mapped.error().to_string());
      return;
    }
    // Encoded here, so that a value that does not fit its layout is invalid_field (422) whatever
    // the state of the upstreams; the connection sends this frame as is, or encodes again when it
    // assigns the correlation key itself.
    {
      thread_local codecs::byte_buffer payload;
      if (auto encoded =
              codecs::encode_message(profile, op->request, call->request, payload, call->frame);
          !encoded) {
        fail(caller, std::move(done), call_code::invalid_field, encoded.error().to_string());
        return;
      }
    }
    call->bundle = std::move(bundle);
    call->key_generated = gen.correlation_generated();
    call->deadline = std::chrono::steady_clock::now() + timeout;
    call->caller = std::move(caller);
    call->done = std::move(done);
    call->request_id = std::move(req.request_id);
    call->trace = req.trace;
    pool_.dispatch(std::move(call));
  }

  bool ready() const override { return pool_.ready(); }

  boost::json::object describe_upstreams() const override {
    return boost::json::object{{"endpoints", pool_.describe()}};
  }

  boost::json::object stats() const override {
    const upstream_counters& c = *counters_;
    boost::json::object o;
    o["calls_total"] = c.calls.load();
    o["retries_total"] = c.retries.load();
    o["retry_budget_exhausted_total"] = c.retry_budget_exhausted.load();
    o["unmatched_replies_total"] = c.unmatched.load();
    o["late_replies_total"] = c.late.load();
    o["unsolicited_total"] = c.unsolicited.load();
    o["protocol_errors_total"] = c.protocol_errors.load();
    o["frames_rejected_total"] = {{"frame_too_long", c.frames_too_long.load()},
                                  {"malformed", c.frames_malformed.load()},
                                  {"checksum_mismatch", c.frames_checksum.load()}};
    o["bytes_in_total"] = c.bytes_in.load();
    o["bytes_out_total"] = c.bytes_out.load();
    o["calls_in_flight"] = pool_.in_flight();
    o["calls_queued"] = pool_.queued();
    o["connects_total"] = c.connects.load();
    o["connect_failures_total"] = c.connect_failures.load();
    o["reconnects_total"] = c.reconnects.load();
    o["heartbeats_total"] = c.heartbeats.load();
    o["heartbeat_failures_total"] = c.heartbeat_failures.load();
    o["endpoints"] = pool_.endpoint_stats();
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

  const upstream_counters& counters() const noexcept { return *counters_; }
  boost::json::array describe() const { return pool_.describe(); }

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

  void fail(const boost::asio::any_io_executor& caller, call_handler done, call_code code,
            std::string message) {
    call_result r = error_result(code, std::move(message));
    count_result(*counters_, r);
    post_result(caller, std::move(done), std::move(r));
  }

  engine_options options_;
  std::shared_ptr<upstream_counters> counters_;
  std::atomic<std::shared_ptr<profile_bundle>> bundle_;
  std::atomic<std::uint64_t> generation_{0};                  // bumped by reload()
  const std::uint64_t id_ = next_engine_id.fetch_add(1) + 1;  // tells engines apart in caches
  upstream_pool pool_;                                        // last: stopped and destroyed first
};

}  // namespace

const upstream_counters* engine_counters(const call_engine& engine) noexcept {
  auto* e = dynamic_cast<const engine_impl*>(&engine);
  return e ? &e->counters() : nullptr;
}

boost::json::array describe_upstreams(const call_engine& engine) {
  auto* e = dynamic_cast<const engine_impl*>(&engine);
  return e ? e->describe() : boost::json::array();
}

std::unique_ptr<call_engine> make_engine(std::shared_ptr<const codecs::profile> profile,
                                         engine_options options, io_pool& pool) {
  return std::make_unique<engine_impl>(std::move(profile), std::move(options), pool);
}

}  // namespace dragoman::bridge
