// A compiled profile as readable JSON, for `dragoman check` and /admin/profile: operations,
// fields with their layout attributes, stages and policies. Sensitive values are masked.
#include "codecs/profile.hpp"

namespace dragoman::codecs {

namespace json = boost::json;

namespace {
json::object describe_message(const message_def& msg) {
  json::object m = msg.codec ? msg.codec->describe() : json::object{};
  json::array fields;
  json::array dictionary;  // the names of the fields an open message takes beyond its list
  for (std::size_t i = 0; i < msg.fields.size(); ++i) {
    const field_spec& f = msg.fields[i];
    if (i >= msg.listed_fields) {
      dictionary.emplace_back(f.name);
      continue;
    }
    json::object o;
    o["name"] = f.name;
    if (!f.from.empty()) o["from"] = f.from;
    if (!f.to.empty()) o["to"] = f.to;
    if (!f.aliases.empty()) o["aliases"] = json::value_from(f.aliases);
    if (f.constant) o["value"] = f.sensitive ? "****" : *f.constant;
    if (f.default_value) o["default"] = f.sensitive ? "****" : *f.default_value;
    if (f.required) o["required"] = true;
    if (f.sensitive) o["sensitive"] = true;
    if (f.generate == generator_kind::counter) {
      o["generate"] = "counter";
      o["width"] = f.counter_width;
      if (f.origin == counter_origin::number)
        o["start"] = f.counter_start;
      else
        o["start"] = f.origin == counter_origin::clock ? "time" : "random";
      o["wrap"] = f.counter_wrap;
    } else if (f.generate == generator_kind::timestamp) {
      o["generate"] = "timestamp";
      o["format"] = f.timestamp_format;
      o["utc"] = f.timestamp_utc;
    }
    if (msg.codec)
      for (const auto& kv : msg.codec->describe_field(i)) o[kv.key()] = kv.value();
    fields.push_back(std::move(o));
  }
  m["fields"] = std::move(fields);
  m["unknown_fields"] = msg.unknown == unknown_fields::ignore       ? "ignore"
                        : msg.unknown == unknown_fields::dictionary ? "dictionary"
                                                                    : "reject";
  if (!dictionary.empty()) m["dictionary_fields"] = std::move(dictionary);
  json::object match;
  for (const auto& [idx, value] : msg.match) match[msg.fields[idx].name] = value;
  m["match"] = std::move(match);
  if (msg.correlation_field) m["correlation_field"] = msg.fields[*msg.correlation_field].name;
  return m;
}
}  // namespace

json::object profile::describe() const {
  json::object o;
  o["name"] = name;
  if (!description.empty()) o["description"] = description;
  o["framing"] = framing ? framing->describe() : json::object{};
  o["charset"] = text_charset ? std::string(text_charset->name()) : std::string();
  o["checksum"] = checksum ? json::value(checksum->describe()) : json::value("none");
  if (length) o["length"] = length->describe();
  o["correlation"] = {{"mode", correlation.mode == correlation_mode::field     ? "field"
                               : correlation.mode == correlation_mode::ordered ? "ordered"
                                                                               : "sequential"},
                      {"field", correlation.field},
                      {"also", json::value_from(correlation.also)}};
  if (correlation.max_in_flight > 0)
    o["correlation"].as_object()["max_in_flight"] = correlation.max_in_flight;
  json::array eps;
  for (const auto& e : upstream.endpoints) eps.emplace_back(e);
  o["upstream"] = {{"endpoints", std::move(eps)},
                   {"connect_timeout_ms", upstream.connect_timeout.count()},
                   {"connections", upstream.connections},
                   {"max_timeout_ms", upstream.max_timeout.count()}};
  if (upstream.tls.enabled) {
    const auto& t = upstream.tls;
    json::object tls{{"min_version", t.min_version}};
    for (auto [key, value] : {std::pair<const char*, const std::string*>{"ca", &t.ca},
                              {"cert", &t.cert},
                              {"key", &t.key},
                              {"server_name", &t.server_name},
                              {"ciphers", &t.ciphers}})
      if (!value->empty()) tls[key] = *value;
    o["upstream"].as_object()["tls"] = std::move(tls);
  }
  json::object sess;
  auto op_name = [&](const std::optional<std::size_t>& i) -> json::value {
    return i ? json::value(operations[*i].name) : json::value(nullptr);
  };
  sess["sign_on"] = op_name(session.sign_on);
  sess["sign_off"] = op_name(session.sign_off);
  sess["echo"] = op_name(session.echo);
  sess["heartbeat_interval_ms"] = session.echo ? session.heartbeat_interval.count() : 0;
  sess["echo_timeout_ms"] = session.echo_timeout.count();
  json::array answer;
  for (auto i : session.answer) answer.emplace_back(operations[i].name);
  sess["answer"] = std::move(answer);
  json::array internal;
  for (const auto& op : operations)
    if (op.internal) internal.emplace_back(op.name);
  sess["internal"] = std::move(internal);
  if (session.unrecognised) sess["unrecognised"] = {{"reply_with", op_name(session.unrecognised)}};
  auto op_names = [&](const std::vector<std::size_t>& idx) {
    json::array a;
    for (auto i : idx) a.emplace_back(operations[i].name);
    return a;
  };
  if (!session.consume.empty()) sess["consume"] = op_names(session.consume);
  if (!session.rejects.empty()) sess["rejects"] = op_names(session.rejects);
  if (session.sequence.enabled) {
    const auto& q = session.sequence;
    json::object seq{{"field", q.field}, {"state_file", q.state_file}};
    if (!q.reference.empty()) seq["reference"] = q.reference;
    if (!q.reset_field.empty()) seq["reset"] = {{"field", q.reset_field}, {"value", q.reset_value}};
    if (!q.possible_duplicate_field.empty())
      seq["possible_duplicate"] = {{"field", q.possible_duplicate_field},
                                   {"value", q.possible_duplicate_value}};
    if (q.resend_op) seq["resend_request"] = op_name(q.resend_op);
    if (q.reset_op) seq["sequence_reset"] = op_name(q.reset_op);
    if (q.too_low_op) seq["too_low"] = op_name(q.too_low_op);
    sess["sequence"] = std::move(seq);
  }
  o["session"] = std::move(sess);
  json::object ops;
  for (const auto& op : operations) {
    json::object d;
    d["idempotent"] = op.idempotent;
    if (op.internal) d["internal"] = true;
    if (op.receives()) {
      d["direction"] = op.dir == direction::inbound ? "inbound" : "both";
      json::object in;
      auto values = [&](const std::vector<reply_value>& vs) {
        json::object v;
        for (const auto& rv : vs) {
          const std::string& field = op.reply.fields[rv.field].name;
          if (rv.failure)
            v[field] = {{"from", "$failure"}};
          else if (rv.from)
            v[field] = {{"from", op.request.fields[*rv.from].name}};
          else
            v[field] = rv.text;
        }
        return v;
      };
      in["reply"] = values(op.inbound.reply);
      in["negative"] = op.inbound.negative ? json::value(values(op.inbound.negative_reply))
                                           : json::value(nullptr);
      if (op.inbound.dedupe_key.size() == 1) {
        in["dedupe_key"] = op.request.fields[op.inbound.dedupe_key.front()].name;
      } else if (!op.inbound.dedupe_key.empty()) {
        json::array keys;
        for (std::size_t i : op.inbound.dedupe_key) keys.emplace_back(op.request.fields[i].name);
        in["dedupe_key"] = std::move(keys);
        in["dedupe_window_ms"] = op.inbound.dedupe_window.count();
      }
      d["inbound"] = std::move(in);
    }
    d["timeout_ms"] = op.timeout.count();
    d["request"] = describe_message(op.request);
    d["reply"] = describe_message(op.reply);
    json::object res;
    if (op.result.field) {
      res["field"] = op.reply.fields[*op.result.field].name;
      json::array s;
      for (const auto& c : op.result.success) s.emplace_back(c);
      res["success"] = std::move(s);
      if (op.result.message_field)
        res["message_field"] = op.reply.fields[*op.result.message_field].name;
      res["rejected_status"] = op.result.rejected_status;
      if (!op.result.code_names.empty()) {
        json::object names;
        for (const auto& [code, text] : op.result.code_names) names[code] = text;
        res["codes"] = std::move(names);
      }
    }
    d["result"] = std::move(res);
    ops[op.name] = std::move(d);
  }
  o["operations"] = std::move(ops);
  return o;
}

}  // namespace dragoman::codecs
