// The simulator's rules and answers without I/O: rules compiled from JSON, request matching and
// answer planning (reply record, wrong key, garbage).
#include "bridge/simulator_rules.hpp"

#include "codecs/json_text.hpp"

#include <cstdint>
#include <iterator>
#include <stdexcept>

namespace dragoman::bridge::sim {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view fault_names[] = {"delay", "no_answer", "close", "garbage", "wrong_key"};
constexpr fault_kind fault_values[] = {fault_kind::delay, fault_kind::no_answer, fault_kind::close,
                                       fault_kind::garbage, fault_kind::wrong_key};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\0')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  return s;
}

// "-0012.50" → "-12.5"; nullopt when not [sign] digits [. digits].
std::optional<std::string> normal_number(std::string_view s) {
  std::string sign;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    if (s.front() == '-') sign = "-";
    s.remove_prefix(1);
  }
  auto dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() && frac.empty()) return std::nullopt;
  for (char c : whole)
    if (c < '0' || c > '9') return std::nullopt;
  for (char c : frac)
    if (c < '0' || c > '9') return std::nullopt;
  while (!whole.empty() && whole.front() == '0') whole.remove_prefix(1);
  while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);
  if (whole.empty() && frac.empty()) return std::string("0");
  std::string out = sign;
  out.append(whole.empty() ? std::string_view("0") : whole);
  if (!frac.empty()) out.append(".").append(frac);
  return out;
}

std::optional<std::size_t> find_request_field(const codecs::message_def& m, std::string_view key) {
  for (std::size_t i = 0; i < m.fields.size(); ++i)
    if (m.fields[i].request_name() == key || m.fields[i].name == key) return i;
  return std::nullopt;
}

std::optional<std::size_t> find_reply_field(const codecs::message_def& m, std::string_view key) {
  for (std::size_t i = 0; i < m.fields.size(); ++i)
    if (m.fields[i].reply_name() == key || m.fields[i].name == key) return i;
  return std::nullopt;
}

std::string join_names(const std::vector<std::string_view>& names) {
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out.append(", ");
    out.append(n);
  }
  return out;
}

std::string field_names(const codecs::message_def& m, bool request) {
  std::vector<std::string_view> names;
  for (const auto& f : m.fields) names.push_back(request ? f.request_name() : f.reply_name());
  return join_names(names);
}

std::string op_names(const codecs::profile& p) {
  std::vector<std::string_view> names;
  for (const auto& op : p.operations) names.push_back(op.name);
  return join_names(names);
}

std::string fault_list() {
  std::vector<std::string_view> names(std::begin(fault_names), std::end(fault_names));
  return join_names(names);
}

std::size_t index_of(const codecs::profile& p, const codecs::operation& op) {
  return static_cast<std::size_t>(&op - p.operations.data());
}

// Calls fn(config_object) for each element of a rule array ("rules", "send"), reporting elements
// that are not objects with their path ("rules[3]").
template <class Fn>
void for_each_object(const json::array& array, std::string_view path, codecs::diagnostics& diag,
                     Fn&& fn) {
  for (std::size_t n = 0; n < array.size(); ++n) {
    std::string item_path = std::string(path) + "[" + std::to_string(n) + "]";
    const json::value& v = array[n];
    if (!v.is_object()) {
      diag.error(item_path, "must be an object");
      continue;
    }
    codecs::config_object cfg(v.get_object(), item_path, diag);
    fn(cfg);
  }
}

// The element's required "op", reported when unknown; null when absent or unknown.
const codecs::operation* require_op(const codecs::profile& p, codecs::config_object& cfg) {
  std::string op_name = cfg.require_string("op");
  if (op_name.empty()) return nullptr;
  const codecs::operation* op = p.find_operation(op_name);
  if (!op)
    cfg.diag().error(cfg.child_path("op"),
                     "unknown operation \"" + op_name + "\", must be one of " + op_names(p));
  return op;
}

// Field values of one message of op ({"account": "99"}, {"result": "51"}) by field name, as text;
// unknown names and values that are not scalars are reported with their path.
field_values read_values(const codecs::operation& op, bool request, const json::object& obj,
                         const std::string& path, codecs::diagnostics& diag) {
  const codecs::message_def& msg = request ? op.request : op.reply;
  field_values out;
  for (const auto& kv : obj) {
    std::string key_path = path + "." + std::string(kv.key());
    auto idx = request ? find_request_field(msg, kv.key()) : find_reply_field(msg, kv.key());
    if (!idx) {
      diag.error(key_path, std::string("unknown ") + (request ? "request" : "reply") +
                               " field of operation " + op.name + ", must be one of " +
                               field_names(msg, request));
      continue;
    }
    auto text = codecs::scalar_text(kv.value());
    if (!text) {
      diag.error(key_path, "must be a string, a number or a boolean");
      continue;
    }
    out.emplace_back(*idx, std::move(*text));
  }
  return out;
}

// Reads reply values ({"result": "51", ...}) of one operation, reporting bad keys and types, and
// checks that each value fits its field by encoding it into an otherwise empty record.
field_values compile_reply_values(const codecs::operation& op, const json::object& obj,
                                  const std::string& path, codecs::diagnostics& diag) {
  field_values out = read_values(op, false, obj, path, diag);
  if (!op.reply.codec) return out;
  for (const auto& [idx, text] : out) {
    codecs::record r;
    r.reset(op.reply.fields.size());
    for (std::size_t i = 0; i < op.reply.fields.size(); ++i)
      if (op.reply.fields[i].constant) r.set(i, *op.reply.fields[i].constant);
    r.set(idx, text);
    codecs::byte_buffer scratch;
    auto res = op.reply.codec->encode(r, scratch);
    if (!res && res.error().where == op.reply.fields[idx].name)
      diag.error(path + "." + std::string(op.reply.fields[idx].reply_name()), res.error().message);
  }
  return out;
}

// A rule's `when` ({"account": "99"}): request fields and the values they must match.
field_values compile_when(const codecs::operation& op, const json::object& when,
                          const std::string& path, codecs::diagnostics& diag) {
  return read_values(op, true, when, path, diag);
}

void compile_fault(codecs::config_object& cfg, compiled_rule& rule) {
  const json::value* f = cfg.find("fault");
  if (!f) return;
  if (!f->is_string()) {
    cfg.diag().error(cfg.child_path("fault"), "must be a string, one of " + fault_list());
    return;
  }
  std::string_view name = f->get_string();
  for (std::size_t i = 0; i < std::size(fault_names); ++i)
    if (fault_names[i] == name) {
      rule.fault = fault_values[i];
      return;
    }
  cfg.diag().error(cfg.child_path("fault"),
                   "unknown fault \"" + std::string(name) + "\", must be one of " + fault_list());
}

// delay_ms, garbage and times: they only make sense once the fault is known.
void compile_fault_options(codecs::config_object& cfg, compiled_rule& rule) {
  auto delay = cfg.get_optional_int("delay_ms", 0, 3600000);
  if (delay)
    rule.delay = milliseconds(*delay);
  else if (rule.fault == fault_kind::delay && !cfg.has("delay_ms"))
    cfg.diag().error(cfg.child_path("delay_ms"), "is required with fault \"delay\"");
  if (cfg.has("garbage")) {
    std::string g = cfg.get_enum("garbage", {"framed", "unframed"}, "framed");
    rule.garbage = g == "unframed" ? garbage_kind::unframed : garbage_kind::framed;
    if (rule.fault != fault_kind::garbage)
      cfg.diag().error(cfg.child_path("garbage"), "only applies to fault \"garbage\"");
  }
  if (auto times = cfg.get_optional_int("times", 1, INT64_MAX))
    rule.times = static_cast<std::uint64_t>(*times);
}

compiled_rule compile_rule(const codecs::profile& p, codecs::config_object& cfg) {
  compiled_rule rule;
  const codecs::operation* op = require_op(p, cfg);
  if (op) rule.op_index = index_of(p, *op);
  if (const json::object* when = cfg.get_object("when"); when && op)
    rule.when = compile_when(*op, *when, cfg.child_path("when"), cfg.diag());
  if (const json::object* reply = cfg.get_object("reply"); reply && op)
    rule.reply = compile_reply_values(*op, *reply, cfg.child_path("reply"), cfg.diag());
  compile_fault(cfg, rule);
  compile_fault_options(cfg, rule);
  cfg.finish();
  return rule;
}

}  // namespace

std::vector<compiled_rule> compile_rules(const codecs::profile& p, const json::array& rules,
                                         codecs::diagnostics& diag) {
  std::vector<compiled_rule> out;
  for_each_object(rules, "rules", diag,
                  [&](codecs::config_object& cfg) { out.push_back(compile_rule(p, cfg)); });
  return out;
}

std::vector<field_values> compile_defaults(const codecs::profile& p, const json::object& defaults,
                                           codecs::diagnostics& diag) {
  std::vector<field_values> out(p.operations.size());
  for (const auto& kv : defaults) {
    std::string path = "defaults." + std::string(kv.key());
    const codecs::operation* op = p.find_operation(kv.key());
    if (!op) {
      diag.error(path, "unknown operation \"" + std::string(kv.key()) + "\", must be one of " +
                           op_names(p));
      continue;
    }
    if (!kv.value().is_object()) {
      diag.error(path, "must be an object of reply fields");
      continue;
    }
    out[index_of(p, *op)] = compile_reply_values(*op, kv.value().get_object(), path, diag);
  }
  return out;
}

std::vector<send_rule> compile_sends(const codecs::profile& p, const json::array& sends,
                                     codecs::diagnostics& diag) {
  std::vector<send_rule> out;
  for_each_object(sends, "send", diag, [&](codecs::config_object& cfg) {
    send_rule rule;
    if (const codecs::operation* op = require_op(p, cfg)) {
      rule.op_index = index_of(p, *op);
      // Our own requests have no app to fill them: refuse an op that needs one now, not on the
      // first tick.
      codecs::counter_generation_context gen(p);
      codecs::record r;
      json::object none;
      if (auto mapped = codecs::map_request(op->request, none, gen, r); !mapped)
        diag.error(cfg.child_path("op"),
                   "its request cannot be built without the app: " + mapped.error().to_string());
    }
    rule.every = milliseconds(cfg.get_int("every_ms", 1000, 10, 3600000));
    cfg.finish();
    out.push_back(rule);
  });
  return out;
}

compiled_rules compile_simulator_rules(const codecs::profile& p, const json::object& root_json) {
  codecs::diagnostics diag;
  codecs::config_object root(root_json, "", diag);
  compiled_rules out;
  if (const json::array* rules = root.get_array("rules"))
    out.rules = compile_rules(p, *rules, diag);
  if (const json::object* defaults = root.get_object("defaults"))
    out.defaults = compile_defaults(p, *defaults, diag);
  else
    out.defaults.resize(p.operations.size());
  if (const json::array* sends = root.get_array("send")) out.sends = compile_sends(p, *sends, diag);
  root.finish();
  if (diag.ok()) return out;
  std::string message = "simulator rules: ";
  for (std::size_t i = 0; i < diag.errors().size(); ++i) {
    if (i) message.append("; ");
    message.append(diag.errors()[i]);
  }
  throw std::runtime_error(message);
}

bool values_match(std::string_view actual, std::string_view expected) {
  actual = trim(actual);
  expected = trim(expected);
  if (actual == expected) return true;
  auto a = normal_number(actual);
  auto b = normal_number(expected);
  return a && b && *a == *b;
}

void alter_key(std::string& key) {
  if (key.empty()) {
    key = "1";
    return;
  }
  char& c = key.back();
  if (c >= '0' && c <= '9')
    c = static_cast<char>('0' + (c - '0' + 1) % 10);
  else if (c == 'Z' || c == 'z')
    c = static_cast<char>(c - 25);
  else if ((c >= 'A' && c <= 'Y') || (c >= 'a' && c <= 'y'))
    c = static_cast<char>(c + 1);
  else
    c = '0';
}

rule_book::rule_book(compiled_rules rules)
    : rules_(std::move(rules)), hits_(new std::atomic<std::uint64_t>[rules_.rules.size() + 1]) {
  for (std::size_t i = 0; i <= rules_.rules.size(); ++i) hits_[i] = 0;
}

const compiled_rule* rule_book::match(std::size_t op_index, const codecs::record& request) {
  for (std::size_t i = 0; i < rules_.rules.size(); ++i) {
    const compiled_rule& r = rules_.rules[i];
    if (r.op_index != op_index) continue;
    bool ok = true;
    for (const auto& [idx, value] : r.when)
      if (!values_match(request.get(idx), value)) ok = false;
    if (!ok) continue;
    if (r.times && hits_[i].fetch_add(1, std::memory_order_relaxed) >= *r.times) continue;
    return &r;
  }
  return nullptr;
}

namespace {

// Filler for garbage candidates: high bytes, all ones, random, all zeros.
enum class fill_mode { high, ones, random, zeros };

codecs::byte_buffer filled(std::size_t len, fill_mode mode, std::minstd_rand& random) {
  codecs::byte_buffer b(len);
  for (auto& x : b) {
    switch (mode) {
      case fill_mode::high:
        x = static_cast<codecs::byte>(0x80 + random() % 0x7f);
        break;
      case fill_mode::ones:
        x = 0xff;
        break;
      case fill_mode::random:
        x = static_cast<codecs::byte>(random() & 0xff);
        break;
      case fill_mode::zeros:
        x = 0x00;
        break;
    }
  }
  return b;
}

// Bytes of the right frame shape that no message of the profile decodes.
codecs::byte_buffer framed_garbage(const codecs::profile& p, std::size_t payload_size,
                                   answer_scratch& scratch) {
  std::size_t len = payload_size == 0 ? 16 : payload_size;
  std::vector<codecs::byte_buffer> candidates;
  for (fill_mode mode : {fill_mode::high, fill_mode::ones, fill_mode::random, fill_mode::zeros})
    candidates.push_back(filled(len, mode, scratch.random));
  candidates.push_back(filled(len + 7, fill_mode::high, scratch.random));
  candidates.push_back(filled(len / 2 + 1, fill_mode::high, scratch.random));
  codecs::byte_buffer chosen = candidates.front();
  for (auto& c : candidates) {
    if (codecs::decode_payload(p, c, scratch.probe, codecs::decode_preference::replies_first))
      continue;
    chosen = std::move(c);
    break;
  }
  codecs::byte_buffer framed;
  if (p.framing->encode(chosen, framed)) return framed;
  return chosen;
}

// Bytes the framing itself refuses (or at least never completes into a frame).
codecs::byte_buffer unframed_garbage(const codecs::profile& p, answer_scratch& scratch) {
  std::vector<codecs::byte_buffer> candidates;
  for (fill_mode mode : {fill_mode::ones, fill_mode::zeros, fill_mode::random})
    candidates.push_back(filled(64, mode, scratch.random));
  std::optional<std::size_t> need_more;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    auto probe = p.framing->make_decoder();
    auto fr = probe->decode(candidates[i]);
    if (fr.status == codecs::frame_status::skip || fr.status == codecs::frame_status::fatal)
      return std::move(candidates[i]);
    if (fr.status == codecs::frame_status::need_more && !need_more) need_more = i;
  }
  return std::move(candidates[need_more.value_or(0)]);
}

// The op's "defaults" value for field i, if it has one.
const std::string* default_for(const field_values& defaults, std::size_t i) {
  for (const auto& [idx, value] : defaults)
    if (idx == i) return &value;
  return nullptr;
}

}  // namespace

void build_answer_record(const answer_input& in, codecs::generation_context& gen,
                         codecs::record& reply) {
  const codecs::message_def& msg = in.op.reply;
  codecs::build_reply(in.op, in.request, reply);
  if (in.rule)
    for (const auto& [idx, value] : in.rule->reply)
      if (!msg.fields[idx].constant) reply.set(idx, value);
  for (std::size_t i = 0; i < msg.fields.size(); ++i) {
    if (reply.has(i)) continue;
    const codecs::field_spec& f = msg.fields[i];
    if (const std::string* value = default_for(in.defaults, i))
      reply.set(i, *value);
    else if (f.generate == codecs::generator_kind::counter) {
      // Digits as written: at the counter's width, as the bridge writes its own counters.
      std::string& slot = reply.slot(i);
      slot.clear();
      codecs::format_counter(slot, gen.next_counter(f), f.counter_width);
      reply.set_present(i);
    } else if (f.default_value)
      reply.set(i, *f.default_value);
    // Otherwise absent: the layout writes its padding.
  }
  if (in.rule && in.rule->fault == fault_kind::wrong_key) {
    std::optional<std::size_t> key = msg.correlation_field;
    if (!key && !in.profile.correlation.field.empty())
      key = msg.index_of(in.profile.correlation.field);
    if (key) {
      std::string altered(reply.get(*key));
      alter_key(altered);
      reply.set(*key, altered);
    }
  }
}

codecs::byte_buffer make_garbage(const codecs::profile& p, garbage_kind kind,
                                 std::size_t payload_size, answer_scratch& scratch) {
  if (kind == garbage_kind::framed) return framed_garbage(p, payload_size, scratch);
  return unframed_garbage(p, scratch);
}

codecs::result<planned> plan_answer(const answer_input& in, codecs::generation_context& gen,
                                    answer_scratch& scratch) {
  const fault_kind fault = in.rule ? in.rule->fault : fault_kind::none;
  planned p;
  p.due = in.now + (in.rule ? in.rule->delay : milliseconds(0));
  if (fault == fault_kind::no_answer) {
    p.what = answer_action::skip;
    return p;
  }
  if (fault == fault_kind::close) {
    p.what = answer_action::close;
    return p;
  }
  build_answer_record(in, gen, scratch.reply);
  p.what = answer_action::send;
  auto res =
      codecs::encode_message(in.profile, in.op.reply, scratch.reply, scratch.payload, p.bytes);
  if (!res) return std::move(res).error();
  if (fault == fault_kind::garbage)
    p.bytes = make_garbage(in.profile, in.rule->garbage, scratch.payload.size(), scratch);
  return p;
}

}  // namespace dragoman::bridge::sim
