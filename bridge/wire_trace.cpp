// Wire traces: masked re-encoding of a call's records and hex dumps of every stage.
#include "bridge/wire_trace.hpp"

#include "bridge/log.hpp"
#include "codecs/bytes.hpp"

namespace dragoman::bridge {

namespace json = boost::json;

namespace {

bool all_of(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Collects each stage's bytes as a hex dump.
class stage_collector final : public codecs::trace_sink {
 public:
  void stage(std::string_view name, codecs::byte_view bytes) override {
    json::object s;
    s["stage"] = name;
    s["length"] = bytes.size();
    s["hex"] = codecs::hex_dump(bytes);
    stages.push_back(std::move(s));
  }
  json::array stages;
};

}  // namespace

std::string shaped_mask(std::string_view value, int level) {
  std::string out(value.size(), '0');
  if (level >= 1) return out;
  if (all_of(value, is_digit)) {
    if (value.size() >= 12) {
      out.replace(0, 6, value.substr(0, 6));
      out.replace(value.size() - 4, 4, value.substr(value.size() - 4));
    }
    return out;
  }
  if (all_of(value, is_hex)) return out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (is_digit(c))
      out[i] = '0';
    else if (c == '=' || c == '^' || c == ' ')
      out[i] = c;
    else
      out[i] = '*';
  }
  return out;
}

codecs::record masked_record(const codecs::message_def& msg, const codecs::record& r, int level) {
  codecs::record m = r;
  for (std::size_t i = 0; i < msg.fields.size() && i < r.size(); ++i) {
    if (!msg.fields[i].sensitive || !r.has(i)) continue;
    if (level >= 2)
      m.clear(i);
    else
      m.set(i, shaped_mask(r.get(i), level));
  }
  return m;
}

json::object trace_message(const codecs::profile& p, const codecs::message_def& msg,
                           const codecs::record& r) {
  json::object o;
  o["record"] = codecs::map_reply(msg, r, true, true);
  bool any_sensitive = false;
  for (std::size_t i = 0; i < msg.fields.size() && i < r.size(); ++i)
    any_sensitive = any_sensitive || (msg.fields[i].sensitive && r.has(i));
  std::string last_error;
  // A mask that keeps the value's shape first; simpler ones when the layout refuses it.
  for (int level = 0; level <= 2; ++level) {
    if (level > 0 && !any_sensitive) break;
    codecs::record m = any_sensitive ? masked_record(msg, r, level) : r;
    stage_collector sink;
    codecs::byte_buffer payload, frame;
    auto res = codecs::encode_message(p, msg, m, payload, frame, &sink);
    if (res) {
      o["stages"] = std::move(sink.stages);
      if (level == 2) o["note"] = "sensitive fields left out: no mask fits their layout";
      return o;
    }
    last_error = res.error().to_string();
  }
  o["error"] = "could not re-encode the masked record: " + last_error;
  return o;
}

json::object build_wire_trace(const call_trace& t) {
  json::object o;
  if (!t.profile || !t.op) return o;
  o["request"] = trace_message(*t.profile, t.op->request, t.request);
  if (t.has_reply) o["reply"] = trace_message(*t.profile, t.op->reply, t.reply);
  return o;
}

void write_wire_trace(std::string_view door, std::string_view request_id, std::string_view op,
                      const call_result& r) {
  if (!log::enabled(log::level::info)) return;
  json::object o;
  o["door"] = door;
  o["request_id"] = request_id;
  o["op"] = op;
  o["endpoint"] = r.endpoint;
  o["attempts"] = r.attempts;
  o["code"] = to_string(r.code);
  if (r.trace && r.trace->op) {
    for (auto& kv : build_wire_trace(*r.trace)) o[kv.key()] = std::move(kv.value());
  } else {
    o["note"] = "no records to trace: the call did not reach the wire";
  }
  log::info("wire_trace", o);
}

}  // namespace dragoman::bridge
