// The translator: request mapping with validation, reply classification and mapping, traces.
#include "bridge/translator.hpp"

#include "codecs/pipeline.hpp"

#include <algorithm>

namespace dragoman::bridge {

std::optional<call_result> translate_request(const call_request& req,
                                             std::shared_ptr<profile_bundle> bundle,
                                             std::chrono::milliseconds max_timeout,
                                             mapped_request& out) {
  const codecs::profile& profile = *bundle->profile;
  const codecs::operation* op = profile.find_operation(req.op);
  if (!op || op->internal || op->dir == codecs::direction::inbound)
    return make_error_result(
        call_code::unknown_operation,
        "the profile " + profile.name + " has no operation \"" + req.op + "\"" +
            (!op ? ""
             : op->internal
                 ? " that apps may call (it belongs to the session)"
                 : " that apps may call (the host sends it: it is delivered to the app)"));
  const codecs::field_spec* correlation = nullptr;
  if (profile.correlation.mode == codecs::correlation_mode::field) {
    if ((!op->request.correlation_field || !op->reply.correlation_field) &&
        op->request.correlation_constant.empty())
      return make_error_result(call_code::upstream_protocol_error,
                               "operation \"" + op->name + "\" has no correlation field \"" +
                                   profile.correlation.field + "\"");
    correlation = &op->request.fields[*op->request.correlation_field];
  }
  auto timeout = req.timeout.value_or(op->timeout);
  if (max_timeout.count() > 0) timeout = std::min(timeout, max_timeout);
  out.timeout = std::max(timeout, std::chrono::milliseconds(1));

  out.op = op;
  call_generation_context gen(bundle->bank, correlation);
  if (auto mapped = codecs::map_request(op->request, req.data, gen, out.request); !mapped)
    return make_error_result(call_code::invalid_field, mapped.error().to_string());
  out.key_generated = gen.correlation_generated();
  // Values fixed when a journaled call was accepted replace what was just generated.
  for (const auto& kv : req.fixed) {
    const auto& fields = op->request.fields;
    const auto it = std::find_if(fields.begin(), fields.end(),
                                 [&](const codecs::field_spec& f) { return f.name == kv.key(); });
    if (it == fields.end() || !kv.value().is_string()) continue;  // the profile changed since
    const auto i = static_cast<std::size_t>(it - fields.begin());
    out.request.set(i, kv.value().get_string());
    if (correlation == &*it) out.key_generated = false;
  }
  // Checked here, so that a value that does not fit its layout is invalid_field (422) whatever
  // the state of the upstreams. A frame whose key the connection assigns is encoded there, once:
  // here only the fields are checked.
  thread_local codecs::byte_buffer payload;
  // With session sequence numbers the frame is stamped and encoded as it is written.
  codecs::result<void> encoded =
      out.key_generated || profile.session.sequence.enabled
          ? codecs::encode_payload(profile, op->request, out.request, payload)
          : codecs::encode_message(profile, op->request, out.request, payload, out.frame);
  if (!encoded) return make_error_result(call_code::invalid_field, encoded.error().to_string());
  out.bundle = std::move(bundle);
  return std::nullopt;
}

call_result rejection_result(const codecs::operation& op, const codecs::record& reply) {
  call_result r;
  r.data = codecs::map_reply(op.reply, reply, false);
  r.code = call_code::rejected;
  r.status = op.result.rejected_status;
  if (op.result.field) r.legacy_code = std::string(reply.get(*op.result.field));
  if (op.result.message_field) r.message = std::string(reply.get(*op.result.message_field));
  if (r.message.empty())
    for (const auto& [code, name] : op.result.code_names)
      if (code == r.legacy_code) r.message = name;
  if (r.message.empty())
    r.message = "the host answered with a " + op.name +
                (r.legacy_code.empty() ? std::string() : " (code " + r.legacy_code + ")");
  return r;
}

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

std::shared_ptr<call_trace> make_trace(const mapped_request& call, const codecs::record* reply) {
  auto tr = std::make_shared<call_trace>();
  tr->profile = call.bundle->profile;
  tr->op = call.op;
  tr->request = call.request;
  if (reply) {
    tr->reply = *reply;
    tr->has_reply = true;
  }
  return tr;
}

}  // namespace dragoman::bridge
