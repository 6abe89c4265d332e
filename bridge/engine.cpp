// The call engine: the translator (operation lookup, JSON → record, deadline, reply → JSON and
// classification) in front of the upstream pool.
#include "bridge/engine.hpp"

#include "bridge/correlation.hpp"
#include "bridge/upstream.hpp"
#include "codecs/pipeline.hpp"

#include <algorithm>
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
      : profile_(std::move(profile)),
        options_(std::move(options)),
        counters_(std::make_shared<upstream_counters>()),
        bank_(*profile_),
        pool_(profile_, options_, pool, counters_) {}

  ~engine_impl() override { pool_.stop(); }

  void submit(call_request req, boost::asio::any_io_executor caller, call_handler done) override {
    ++counters_->calls;
    const codecs::operation* op = profile_->find_operation(req.op);
    if (!op) {
      fail(caller, std::move(done), call_code::unknown_operation,
           "the profile " + profile_->name + " has no operation \"" + req.op + "\"");
      return;
    }
    const codecs::field_spec* correlation = nullptr;
    if (profile_->correlation.mode == codecs::correlation_mode::field) {
      if (!op->request.correlation_field || !op->reply.correlation_field) {
        fail(caller, std::move(done), call_code::upstream_protocol_error,
             "operation \"" + op->name + "\" has no correlation field \"" +
                 profile_->correlation.field + "\"");
        return;
      }
      correlation = &op->request.fields[*op->request.correlation_field];
    }
    auto timeout = req.timeout.value_or(op->timeout);
    if (options_.max_timeout.count() > 0) timeout = std::min(timeout, options_.max_timeout);
    timeout = std::max(timeout, std::chrono::milliseconds(1));

    call_context ctx;
    ctx.op = op;
    call_generation_context gen(bank_, correlation);
    if (auto mapped = codecs::map_request(op->request, req.data, gen, ctx.request); !mapped) {
      fail(caller, std::move(done), call_code::invalid_field, mapped.error().to_string());
      return;
    }
    ctx.key_generated = gen.correlation_generated();
    ctx.deadline = std::chrono::steady_clock::now() + timeout;
    ctx.caller = std::move(caller);
    ctx.done = std::move(done);
    ctx.request_id = std::move(req.request_id);
    pool_.dispatch(std::move(ctx));
  }

  bool ready() const override { return pool_.ready(); }

  const upstream_counters& counters() const noexcept { return *counters_; }
  boost::json::array describe() const { return pool_.describe(); }

 private:
  void fail(const boost::asio::any_io_executor& caller, call_handler done, call_code code,
            std::string message) {
    call_result r = error_result(code, std::move(message));
    count_result(*counters_, r);
    post_result(caller, std::move(done), std::move(r));
  }

  std::shared_ptr<const codecs::profile> profile_;
  engine_options options_;
  std::shared_ptr<upstream_counters> counters_;
  counter_bank bank_;
  upstream_pool pool_;  // last: stopped and destroyed first
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
