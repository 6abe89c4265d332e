// The "session" section: sign-on, sign-off, heartbeats, answers, consumed and rejecting
// messages, the answer to unrecognised frames, and the sequence numbers (FIX's MsgSeqNum) with
// the fields they name found in every message (docs/profiles.md, "session").
#include "codecs/config.hpp"
#include "codecs/profile.hpp"

#include <algorithm>

namespace dragoman::codecs {

namespace json = boost::json;

namespace {

// An operation named in session.sequence whose request has the named fields (its reply too, when
// the peer sends it and it may read as the reply).
std::optional<std::size_t> sequence_operation(config_object& c, const profile& out,
                                              std::initializer_list<const std::string*> fields,
                                              diagnostics& diag) {
  const std::string name = c.require_string("operation");
  if (name.empty()) return std::nullopt;
  auto it = std::find_if(out.operations.begin(), out.operations.end(),
                         [&](const operation& op) { return op.name == name; });
  if (it == out.operations.end()) {
    diag.error(c.child_path("operation"), "no operation named \"" + name + "\"");
    return std::nullopt;
  }
  for (const std::string* f : fields)
    if (!f->empty() && !it->request.index_of(*f))
      diag.error(c.child_path("operation"),
                 "operation \"" + name + "\" has no request field \"" + *f + "\"");
  return static_cast<std::size_t>(it - out.operations.begin());
}

// The recovery keys of session.sequence: possible_duplicate, resend_request, sequence_reset,
// too_low.
void compile_recovery(config_object& qc, profile& out, diagnostics& diag) {
  auto& q = out.session.sequence;
  if (const json::object* d = qc.get_object("possible_duplicate")) {
    config_object dc(*d, qc.child_path("possible_duplicate"), diag);
    q.possible_duplicate_field = dc.require_string("field");
    q.possible_duplicate_value = dc.require_string("value");
    dc.finish();
  }
  if (const json::object* r = qc.get_object("resend_request")) {
    config_object rc(*r, qc.child_path("resend_request"), diag);
    q.resend_begin = rc.require_string("begin");
    q.resend_end = rc.require_string("end");
    q.resend_end_value = rc.get_string("to_the_end", "0");
    q.resend_op = sequence_operation(rc, out, {&q.resend_begin, &q.resend_end}, diag);
    rc.finish();
  }
  if (const json::object* r = qc.get_object("sequence_reset")) {
    config_object rc(*r, qc.child_path("sequence_reset"), diag);
    q.reset_new_number = rc.require_string("new_number");
    if (const json::object* g = rc.get_object("gap_fill")) {
      config_object gc(*g, rc.child_path("gap_fill"), diag);
      q.gap_fill_field = gc.require_string("field");
      q.gap_fill_value = gc.require_string("value");
      gc.finish();
    }
    q.reset_op = sequence_operation(rc, out, {&q.reset_new_number, &q.gap_fill_field}, diag);
    rc.finish();
  }
  if (const json::object* t = qc.get_object("too_low")) {
    config_object tc(*t, qc.child_path("too_low"), diag);
    q.too_low_text = tc.get_string("text");
    q.too_low_op = sequence_operation(tc, out, {&q.too_low_text}, diag);
    tc.finish();
  }
  if (qc.has("resend_request") && (!qc.has("sequence_reset") || q.gap_fill_field.empty()))
    diag.error(qc.child_path("resend_request"),
               "needs \"sequence_reset\" with \"gap_fill\" (the answer to the peer's resend "
               "request)");
}

}  // namespace

// "sequence": {"field", "reference", "stamp_time", "state_file", "reset": {"field", "value"},
// "possible_duplicate", "resend_request", "sequence_reset", "too_low"}.
void compile_sequence(const json::object& obj, profile& out, diagnostics& diag) {
  config_object qc(obj, "session.sequence", diag);
  auto& q = out.session.sequence;
  q.enabled = true;
  q.field = qc.require_string("field");
  q.reference = qc.get_string("reference");
  q.state_file = qc.get_string("state_file");
  if (const json::array* a = qc.get_array("stamp_time")) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (!(*a)[i].is_string())
        diag.error(qc.child_path("stamp_time") + "[" + std::to_string(i) + "]",
                   "must be a field name");
      else
        q.stamp_time.emplace_back((*a)[i].get_string());
    }
  }
  if (const json::object* r = qc.get_object("reset")) {
    config_object rc(*r, qc.child_path("reset"), diag);
    q.reset_field = rc.require_string("field");
    q.reset_value = rc.require_string("value");
    rc.finish();
  }
  compile_recovery(qc, out, diag);
  qc.finish();
  if (q.field.empty()) return;
  bool anywhere = false;
  for (auto& op : out.operations) {
    for (message_def* msg : {&op.request, &op.reply}) {
      msg->sequence_field = msg->index_of(q.field);
      anywhere = anywhere || msg->sequence_field.has_value();
      if (!q.reference.empty()) msg->reference_field = msg->index_of(q.reference);
      if (!q.reset_field.empty()) msg->reset_field = msg->index_of(q.reset_field);
      if (!q.possible_duplicate_field.empty())
        msg->possible_duplicate_field = msg->index_of(q.possible_duplicate_field);
      msg->stamp_time_fields.clear();
      for (const auto& name : q.stamp_time) {
        // Only where the field is generated: a reply read from the peer has its own.
        auto idx = msg->index_of(name);
        if (idx && msg->fields[*idx].generate == generator_kind::timestamp)
          msg->stamp_time_fields.push_back(*idx);
      }
    }
  }
  if (!anywhere) diag.error(qc.child_path("field"), "no message has a field \"" + q.field + "\"");
  if (!q.reset_field.empty() && out.session.sign_on &&
      !out.operations[*out.session.sign_on].request.reset_field)
    diag.error(qc.child_path("reset") + ".field",
               "the sign-on request has no field \"" + q.reset_field + "\"");
}

namespace {

// An operation named by the session section; its request must be buildable without the app
// (every required field has a value, a default or a generator).
std::optional<std::size_t> session_operation(config_object& sc, std::string_view key,
                                             bool built_by_us, const profile& out,
                                             diagnostics& diag) {
  auto name = sc.get_optional_string(key);
  if (!name) return std::nullopt;
  std::string path = sc.child_path(key);
  auto it = std::find_if(out.operations.begin(), out.operations.end(),
                         [&](const operation& op) { return op.name == *name; });
  if (it == out.operations.end()) {
    diag.error(path, "no operation named \"" + *name + "\"");
    return std::nullopt;
  }
  if (built_by_us) {
    for (const auto& f : it->request.fields)
      if (f.required && !f.constant && !f.default_value && f.generate == generator_kind::none)
        diag.error(path, "operation \"" + *name + "\" requires field \"" +
                             std::string(f.request_name()) +
                             "\", which a session message cannot supply: give it a value or "
                             "a default");
  }
  return static_cast<std::size_t>(it - out.operations.begin());
}

// "unrecognised": {"reply_with": op, "reply": {field: value | {"from": field, "add": N}}}.
void compile_unrecognised(const json::object& obj, profile& out, diagnostics& diag) {
  config_object uc(obj, "session.unrecognised", diag);
  session_spec& s = out.session;
  if (!uc.has("reply_with")) {
    uc.accept("reply_with");
    diag.error(uc.child_path("reply_with"), "is required (the operation that answers)");
  }
  s.unrecognised = session_operation(uc, "reply_with", false, out, diag);
  const json::object* values = uc.get_object("reply");
  uc.finish();
  if (!values || !s.unrecognised) return;
  s.unrecognised_reply = compile_reply_values(*values, uc.child_path("reply"),
                                              out.operations[*s.unrecognised], false, diag);
}

// "unmatched_replies": {operation: inbound operation}: a reply of the first that answers no call
// is read again as the second's request and delivered to the app.
void compile_unmatched(const json::object& obj, profile& out, diagnostics& diag) {
  const std::string base = "session.unmatched_replies";
  auto find = [&](std::string_view n) -> operation* {
    auto it = std::find_if(out.operations.begin(), out.operations.end(),
                           [&](const operation& op) { return op.name == n; });
    return it == out.operations.end() ? nullptr : &*it;
  };
  for (const auto& kv : obj) {
    const std::string path = base + "." + std::string(kv.key());
    operation* from = find(kv.key());
    if (!from) {
      diag.error(path, "no operation named \"" + std::string(kv.key()) + "\"");
      continue;
    }
    if (!kv.value().is_string()) {
      diag.error(path, "must be the name of an inbound operation");
      continue;
    }
    operation* as = find(kv.value().get_string());
    if (!as)
      diag.error(path, "no operation named \"" + std::string(kv.value().get_string()) + "\"");
    else if (!as->receives())
      diag.error(path, "operation \"" + as->name +
                           "\" is not one the host sends (\"direction\": \"inbound\" or \"both\")");
    else {
      from->unmatched_as = as->index;
      as->reads_unmatched = true;
    }
  }
}

}  // namespace

void compile_session(const json::object& obj, profile& out, diagnostics& diag) {
  config_object sc(obj, "session", diag);
  session_spec& s = out.session;
  s.sign_on = session_operation(sc, "sign_on", true, out, diag);
  s.sign_off = session_operation(sc, "sign_off", true, out, diag);
  s.echo = session_operation(sc, "echo", true, out, diag);
  const auto heartbeat = sc.get_optional_int("heartbeat_interval_ms", 0, 86400000);
  s.heartbeat_interval = std::chrono::milliseconds(heartbeat.value_or(30000));
  std::int64_t echo_default = s.echo ? out.operations[*s.echo].timeout.count() : 5000;
  s.echo_timeout =
      std::chrono::milliseconds(sc.get_int("echo_timeout_ms", echo_default, 1, 3600000));
  auto names = [&](std::string_view key, std::vector<std::size_t>& into) -> bool {
    const json::array* a = sc.get_array(key);
    if (!a) return false;
    for (std::size_t i = 0; i < a->size(); ++i) {
      std::string path = sc.child_path(key) + "[" + std::to_string(i) + "]";
      if (!(*a)[i].is_string()) {
        diag.error(path, "must be an operation name");
        continue;
      }
      std::string_view n = (*a)[i].get_string();
      auto it = std::find_if(out.operations.begin(), out.operations.end(),
                             [&](const operation& op) { return op.name == n; });
      if (it == out.operations.end())
        diag.error(path, "no operation named \"" + std::string(n) + "\"");
      else
        into.push_back(static_cast<std::size_t>(it - out.operations.begin()));
    }
    return true;
  };
  names("answer", s.answer);
  names("consume", s.consume);
  names("rejects", s.rejects);
  if (const json::object* u = sc.get_object("unrecognised")) compile_unrecognised(*u, out, diag);
  if (const json::object* m = sc.get_object("unmatched_replies")) compile_unmatched(*m, out, diag);
  if (const json::object* q = sc.get_object("sequence")) compile_sequence(*q, out, diag);
  std::vector<std::size_t> internal;
  if (!names("internal", internal)) {
    // By default every operation the session uses is ours alone.
    for (auto idx : {s.sign_on, s.sign_off, s.echo, s.unrecognised, s.sequence.resend_op,
                     s.sequence.reset_op, s.sequence.too_low_op})
      if (idx) internal.push_back(*idx);
    internal.insert(internal.end(), s.answer.begin(), s.answer.end());
    internal.insert(internal.end(), s.consume.begin(), s.consume.end());
    internal.insert(internal.end(), s.rejects.begin(), s.rejects.end());
  }
  for (auto idx : internal) out.operations[idx].internal = true;
  if (heartbeat && *heartbeat > 0 && !s.echo)
    diag.error(sc.child_path("heartbeat_interval_ms"), "needs \"echo\" (the message to send)");
  sc.finish();
}

}  // namespace dragoman::codecs
