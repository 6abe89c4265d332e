// Building a compensation's journal message (see the header).
#include "bridge/compensation.hpp"

namespace dragoman::bridge {

namespace json = boost::json;

bool needs_compensation(const codecs::operation& op, const call_result& r) noexcept {
  return op.compensation.operation.has_value() && !op.idempotent &&
         r.code == call_code::upstream_timeout && r.sent;
}

compensation_message make_compensation(call_engine& inner, const codecs::profile& profile,
                                       const codecs::operation& original, const json::object& data,
                                       const json::object& fixed, json::object compensates,
                                       std::int64_t now_ms) {
  compensation_message out;
  const auto& spec = original.compensation;
  if (!spec.operation || *spec.operation >= profile.operations.size()) {
    out.error = "the operation \"" + original.name + "\" has no compensation";
    return out;
  }
  out.op = &profile.operations[*spec.operation];
  auto built = codecs::build_compensation(original, data, fixed);
  if (!built.error.empty()) {
    out.error = "the " + out.op->name + " cannot be built: " + built.error;
    return out;
  }
  call_request req;
  req.op = out.op->name;
  req.data = std::move(built.data);
  json::object pinned;
  std::string control_id;
  if (auto refused = inner.prepare(req, pinned, control_id)) {
    out.error = "the " + out.op->name + " cannot be mapped: " + refused->message;
    return out;
  }
  compensates["operation"] = original.name;
  journal::new_message& m = out.message;
  m.operation = out.op->name;
  m.now_ms = now_ms;
  m.control_id = std::move(control_id);
  m.body = json::serialize(json::object{{"data", std::move(req.data)},
                                        {"fixed", std::move(pinned)},
                                        {"compensates", std::move(compensates)}});
  return out;
}

}  // namespace dragoman::bridge
