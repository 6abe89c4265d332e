// Compiles a profile's JSON into immutable stage objects, reporting every mistake by path.
#include "codecs/profile.hpp"

#include "codecs/json_text.hpp"
#include "codecs/secret.hpp"

#include <algorithm>
#include <fstream>
#include <list>
#include <sstream>

namespace dragoman::codecs {

namespace json = boost::json;

namespace {

// Line and column (1-based) of a byte offset in text.
std::string position_of(std::string_view text, std::size_t offset) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

struct compiler {
  diagnostics& diag;
  const json::object& root;
  profile& out;
  unknown_fields default_unknown = unknown_fields::reject;  // the profile's "unknown_fields"
  std::list<json::object> synthetic_fields;                 // dictionary fields' configs
  // The operation being compiled: its own "correlation" (field mode), for its messages.
  struct {
    enum class kind { profile, operation, none, field } how = kind::profile;
    std::string field;
    std::string op_name;
  } op_correlation;

  void compile_field_common(config_object& f, field_spec& spec, std::size_t index) {
    spec.from = f.get_string("from");
    spec.to = f.get_string("to");
    spec.name = f.get_string("name");
    // "as": one name for the record, the request JSON and the reply JSON.
    if (auto as = f.get_optional_string("as")) {
      if (spec.name.empty()) spec.name = *as;
      if (spec.from.empty()) spec.from = *as;
      if (spec.to.empty()) spec.to = *as;
    }
    if (spec.name.empty()) {
      spec.name = !spec.from.empty() ? spec.from : spec.to;
      if (spec.name.empty()) {
        f.accept("name");
        diag.error(f.child_path("name"), "is required (or give \"from\" or \"to\")");
        spec.name = "field" + std::to_string(index);
      }
    }
    // "env:NAME" and "file:PATH" values are secrets (sign-on passwords, tokens): read here, and
    // the field is sensitive (masked in logs, traces and /admin/profile) whatever it says.
    bool secret = false;
    auto text_of = [&](std::string_view key, std::optional<std::string>& to) {
      const json::value* v = f.find(key);
      if (!v) return;
      auto t = scalar_text(*v);
      if (!t) {
        diag.error(f.child_path(key), "must be a string, number or boolean");
        return;
      }
      if (v->is_string() && is_secret_reference(*t)) {
        secret = true;
        std::string why;
        t = resolve_secret(*t, why);
        if (!t) {
          diag.error(f.child_path(key), why);
          return;
        }
      }
      to = std::move(t);
    };
    text_of("value", spec.constant);
    text_of("default", spec.default_value);
    spec.required = f.get_bool("required", false);
    spec.sensitive = f.get_bool("sensitive", false) || secret;
    auto kind = f.get_enum("json", {"string", "number", "boolean", "array"}, "string");
    spec.json = kind == "number"    ? field_spec::json_kind::number
                : kind == "boolean" ? field_spec::json_kind::boolean
                : kind == "array"   ? field_spec::json_kind::array
                                    : field_spec::json_kind::string;
    auto gen = f.get_enum("generate", {"counter", "timestamp"}, "");
    if (gen == "counter") {
      spec.generate = generator_kind::counter;
      spec.counter_width = static_cast<std::uint32_t>(f.get_int("width", 6, 1, 18));
      std::uint64_t max_for_width = 1;
      for (std::uint32_t i = 0; i < spec.counter_width; ++i) max_for_width *= 10;
      --max_for_width;
      // "start": a number, "time" (the default) or "random".
      spec.origin = counter_origin::clock;
      if (const json::value* s = f.find("start"); s && s->is_string()) {
        if (s->get_string() == "random")
          spec.origin = counter_origin::random;
        else if (s->get_string() != "time")
          diag.error(f.child_path("start"), "must be a number, \"time\" or \"random\"");
      } else if (s) {
        spec.origin = counter_origin::number;
        spec.counter_start = static_cast<std::uint64_t>(
            f.get_int("start", 1, 0, static_cast<std::int64_t>(max_for_width)));
      }
      spec.counter_wrap =
          static_cast<std::uint64_t>(f.get_int("wrap", static_cast<std::int64_t>(max_for_width), 0,
                                               static_cast<std::int64_t>(max_for_width)));
      if (spec.counter_wrap < spec.counter_start)
        diag.error(f.child_path("wrap"), "must be >= start");
      if (spec.origin == counter_origin::clock && spec.counter_width >= 10 && f.has("wrap"))
        diag.error(f.child_path("wrap"),
                   "does not apply to a \"time\" counter of 10 or more digits (its value uses "
                   "every digit): give \"start\" a number or \"random\" to bound it");
      spec.generator_slot = out.counter_count++;
    } else if (gen == "timestamp") {
      spec.generate = generator_kind::timestamp;
      spec.timestamp_format = f.get_string("format", "%Y%m%d%H%M%S");
      spec.timestamp_utc = f.get_bool("utc", true);
      if (spec.timestamp_format.empty()) diag.error(f.child_path("format"), "must not be empty");
    }
    if (spec.constant && spec.generate != generator_kind::none)
      diag.error(f.child_path("value"), "a field cannot be both constant and generated");
  }

  void compile_message(const json::object& obj, const std::string& path, bool is_request,
                       unknown_fields unknown, message_def& msg) {
    msg.path = path;
    msg.is_request = is_request;
    msg.unknown = unknown;
    config_object m(obj, path, diag);
    const std::string type = layout_type(m);
    std::vector<config_object> field_cfgs;
    std::vector<std::string> names;
    const json::array* listed = compile_fields(m, msg, field_cfgs, names);
    msg.listed_fields = msg.fields.size();
    if (unknown == unknown_fields::dictionary && listed && !type.empty())
      open_to_dictionary(m, type, *listed, msg, field_cfgs, names);
    msg.index_request_names();
    if (!type.empty() && field_cfgs.size() == msg.fields.size() && !field_cfgs.empty()) {
      layout_context ctx{m, field_cfgs, names,
                         out.text_charset ? out.text_charset : find_charset("ascii"), root};
      msg.codec = make_layout(type, ctx);
      if (!msg.codec && diag.ok()) diag.error(m.child_path("layout"), "could not be built");
    }
    // An unknown layout is the mistake: the keys of the intended layout are not unknown.
    const auto layouts = layout_names();
    if (std::find(layouts.begin(), layouts.end(), type) == layouts.end()) {
      m.accept_all();
      for (auto& fc : field_cfgs) fc.accept_all();
    }
    for (auto& fc : field_cfgs) fc.finish();
    compile_match(m, msg);
    if (out.correlation.mode == correlation_mode::field && !out.correlation.field.empty())
      compile_correlation(m, msg);
    // The reply's result rule is read by the caller before finish().
    if (!is_request) {
      m.accept("result");
    }
    m.finish();
  }

  // The message's "layout", else the profile's; reported when neither is given.
  std::string layout_type(config_object& m) {
    std::string type = m.get_string("layout");
    if (type.empty()) {
      if (auto it = root.if_contains("layout"); it && it->is_string())
        type = std::string(it->get_string());
    }
    if (type.empty()) {
      m.accept("layout");
      diag.error(m.child_path("layout"), "is required");
    }
    return type;
  }

  // "unknown_fields": "dictionary": the fields of the layout's dictionary that the message does
  // not list join it after the listed ones, and every field takes its dictionary names too.
  void open_to_dictionary(config_object& m, const std::string& type, const json::array& listed,
                          message_def& msg, std::vector<config_object>& field_cfgs,
                          std::vector<std::string>& names) {
    auto dict = layout_dictionary_fields(type, listed, root);
    if (!dict) {
      diag.error(m.path(),
                 "\"unknown_fields\": \"dictionary\" needs a layout with a dictionary "
                 "(iso8583), not \"" +
                     type + "\"");
      return;
    }
    if (field_cfgs.size() != listed.size()) return;  // a listed field was not an object: reported
    for (auto& extra : dict->extra) {
      const json::object& kept = synthetic_fields.emplace_back(std::move(extra));
      field_cfgs.emplace_back(kept, m.child_path("dictionary"), diag);
      field_spec spec;
      compile_field_common(field_cfgs.back(), spec, msg.fields.size());
      names.push_back(spec.name);
      msg.fields.push_back(std::move(spec));
    }
    for (std::size_t i = 0; i < msg.fields.size() && i < dict->aliases.size(); ++i)
      for (auto& alias : dict->aliases[i])
        if (alias != msg.fields[i].from) msg.fields[i].aliases.push_back(std::move(alias));
  }

  // The keys every layout shares, field by field; the layout reads its own from field_cfgs.
  const json::array* compile_fields(config_object& m, message_def& msg,
                                    std::vector<config_object>& field_cfgs,
                                    std::vector<std::string>& names) {
    const json::array* fields = m.get_array("fields", true);
    if (!fields) return nullptr;
    field_cfgs.reserve(fields->size());
    if (fields->empty()) diag.error(m.child_path("fields"), "must not be empty");
    for (std::size_t i = 0; i < fields->size(); ++i) {
      std::string fpath = m.child_path("fields") + "[" + std::to_string(i) + "]";
      if (!(*fields)[i].is_object()) {
        diag.error(fpath, "must be an object");
        continue;
      }
      field_cfgs.emplace_back((*fields)[i].get_object(), fpath, diag);
      field_spec spec;
      compile_field_common(field_cfgs.back(), spec, i);
      auto dup = std::find_if(msg.fields.begin(), msg.fields.end(),
                              [&](const field_spec& s) { return s.name == spec.name; });
      if (dup != msg.fields.end())
        diag.error(field_cfgs.back().child_path("name"),
                   "duplicate field name \"" + spec.name + "\"");
      names.push_back(spec.name);
      msg.fields.push_back(std::move(spec));
    }
    return fields;
  }

  // What recognises the message on decode: its "match" values, and only those. A constant
  // ("value") is what encode writes, not a condition on what is read: senders leave out or vary
  // fields a profile writes (HL7's MSH-18, a version), and such a message is still the message.
  void compile_match(config_object& m, message_def& msg) {
    if (const json::object* match = m.get_object("match")) {
      for (const auto& kv : *match) {
        auto idx = msg.index_of(kv.key());
        std::string mpath = m.child_path("match") + "." + std::string(kv.key());
        if (!idx) {
          diag.error(mpath, "no field named \"" + std::string(kv.key()) + "\"");
          continue;
        }
        auto t = scalar_text(kv.value());
        if (!t) {
          diag.error(mpath, "must be a string or number");
          continue;
        }
        msg.match.emplace_back(*idx, *t);
      }
    }
  }

  // Field mode: the key's fields in this message, the generated correlation.field first.
  void compile_correlation(config_object& m, message_def& msg) {
    using how = decltype(op_correlation.how);
    if (op_correlation.how == how::operation) {
      msg.correlation_constant = "\x1e" + op_correlation.op_name;
      return;
    }
    if (op_correlation.how == how::none) {
      msg.correlation_none = true;
      return;
    }
    const std::string& key_field =
        op_correlation.how == how::field ? op_correlation.field : out.correlation.field;
    msg.correlation_field = msg.index_of(key_field);
    if (!msg.correlation_field)
      diag.error(m.child_path("fields"),
                 "has no field \"" + key_field + "\" (" +
                     (op_correlation.how == how::field ? "the operation's correlation.field"
                                                       : "correlation.field") +
                     ")");
    else
      msg.correlation_key_fields.push_back(*msg.correlation_field);
    for (const auto& extra : out.correlation.also) {
      auto idx = msg.index_of(extra);
      if (!idx)
        diag.error(m.child_path("fields"), "has no field \"" + extra + "\" (correlation.also)");
      else
        msg.correlation_key_fields.push_back(*idx);
    }
  }

  void compile_result(const json::object& reply, const std::string& path, operation& op) {
    const json::value* v = reply.if_contains("result");
    if (!v) return;
    std::string rpath = path + ".result";
    if (!v->is_object()) {
      diag.error(rpath, "must be an object");
      return;
    }
    config_object r(v->get_object(), rpath, diag);
    std::string field = r.require_string("field");
    if (!field.empty()) {
      op.result.field = op.reply.index_of(field);
      if (!op.result.field)
        diag.error(r.child_path("field"), "no reply field named \"" + field + "\"");
    }
    // No "success": every reply is a rejection (a session.rejects operation's).
    if (const json::array* s = r.get_array("success")) {
      for (std::size_t i = 0; i < s->size(); ++i) {
        auto t = scalar_text((*s)[i]);
        if (!t)
          diag.error(r.child_path("success") + "[" + std::to_string(i) + "]", "must be a string");
        else
          op.result.success.push_back(*t);
      }
      if (s->empty()) diag.error(r.child_path("success"), "must not be empty");
    }
    if (auto mf = r.get_optional_string("message_field")) {
      op.result.message_field = op.reply.index_of(*mf);
      if (!op.result.message_field)
        diag.error(r.child_path("message_field"), "no reply field named \"" + *mf + "\"");
    }
    if (const json::object* names = r.get_object("codes")) {
      for (const auto& kv : *names) {
        if (!kv.value().is_string())
          diag.error(r.child_path("codes") + "." + std::string(kv.key()), "must be a string");
        else
          op.result.code_names.emplace_back(std::string(kv.key()),
                                            std::string(kv.value().get_string()));
      }
    }
    op.result.rejected_status = static_cast<int>(r.get_int("rejected_status", 422, 200, 599));
    if (op.result.rejected_status != 200 && op.result.rejected_status != 422)
      diag.error(r.child_path("rejected_status"), "must be 200 or 422");
    r.finish();
  }

  static unknown_fields read_unknown_fields(config_object& c, unknown_fields fallback) {
    auto v = c.get_enum("unknown_fields", {"reject", "ignore", "dictionary"},
                        fallback == unknown_fields::ignore       ? "ignore"
                        : fallback == unknown_fields::dictionary ? "dictionary"
                                                                 : "reject");
    return v == "ignore"       ? unknown_fields::ignore
           : v == "dictionary" ? unknown_fields::dictionary
                               : unknown_fields::reject;
  }

  void compile_operation(const std::string& name, const json::value& v) {
    std::string path = "operations." + name;
    if (!v.is_object()) {
      diag.error(path, "must be an object");
      return;
    }
    operation& op = out.operations.emplace_back();
    op.name = name;
    op.index = out.operations.size() - 1;
    config_object o(v.get_object(), path, diag);
    op.idempotent = o.get_bool("idempotent", false);
    op.timeout = std::chrono::milliseconds(o.get_int("timeout_ms", 5000, 1, 3600000));
    const unknown_fields unknown = read_unknown_fields(o, default_unknown);
    compile_operation_correlation(o, name);
    if (const json::object* req = o.get_object("request", true))
      compile_message(*req, o.child_path("request"), true, unknown, op.request);
    if (const json::object* rep = o.get_object("reply", true)) {
      compile_message(*rep, o.child_path("reply"), false, unknown, op.reply);
      compile_result(*rep, o.child_path("reply"), op);
    }
    compile_inbound(o, op, diag);
    compile_serialize_by(o, op, diag);
    compile_delivery(o, op, diag);
    o.accept("compensation");  // compile_compensations, once every operation is known
    o.finish();
  }

  // An operation's "correlation" (field mode only): "operation", "none" or {"field": name}.
  void compile_operation_correlation(config_object& o, const std::string& name) {
    using how = decltype(op_correlation.how);
    op_correlation = {};
    op_correlation.op_name = name;
    const json::value* v = o.find("correlation");
    if (!v) return;
    const std::string path = o.child_path("correlation");
    if (out.correlation.mode != correlation_mode::field) {
      diag.error(path, "applies to correlation mode \"field\" only");
      return;
    }
    if (v->is_string() && v->get_string() == "operation") {
      op_correlation.how = how::operation;
    } else if (v->is_string() && v->get_string() == "none") {
      op_correlation.how = how::none;
    } else if (v->is_object()) {
      config_object c(v->get_object(), path, diag);
      op_correlation.field = c.require_string("field");
      op_correlation.how = how::field;
      c.finish();
    } else {
      diag.error(path, "must be \"operation\", \"none\" or {\"field\": name}");
    }
  }

  void run() {
    config_object r(root, "", diag);
    out.name = r.require_string("name");
    out.description = r.get_string("description");
    r.accept("layout");      // a default layout type for every message
    r.accept("dictionary");  // layout-level definitions (e.g. ISO 8583 data elements)
    r.accept("$schema");
    default_unknown = read_unknown_fields(r, unknown_fields::reject);

    std::string cs = r.get_string("charset", "ascii");
    out.text_charset = find_charset(cs);
    if (!out.text_charset)
      diag.error("charset",
                 "unknown charset \"" + cs + "\", must be one of " + names_list(charset_names()));

    if (const json::object* f = r.get_object("framing", true)) {
      config_object fc(*f, "framing", diag);
      out.framing = make_framer(fc);
    }
    if (const json::value* c = r.find("checksum")) compile_checksum(*c);
    if (const json::object* l = r.get_object("length")) {
      config_object lc(*l, "length", diag);
      out.length = make_length_stage(lc);
    }
    if (const json::object* c = r.get_object("correlation")) compile_correlation_spec(*c);
    if (const json::object* u = r.get_object("upstream")) compile_upstream(*u, out, diag);
    if (const json::object* ops = r.get_object("operations", true)) {
      if (ops->empty()) diag.error("operations", "must define at least one operation");
      for (const auto& kv : *ops) compile_operation(std::string(kv.key()), kv.value());
    }
    check_upstream_pacing(out, diag);
    if (const json::object* ops = r.get_object("operations"))
      compile_compensations(*ops, out, diag);
    if (const json::object* s = r.get_object("session")) compile_session(*s, out, diag);
    r.finish();
  }

  // "checksum": a name ("none" for none) or an object with its options.
  void compile_checksum(const json::value& c) {
    if (c.is_string()) {
      if (c.get_string() != "none") {
        json::object o{{"type", c.get_string()}};
        config_object cc(o, "checksum", diag);
        out.checksum = make_checksum(cc);
      }
    } else if (c.is_object()) {
      config_object cc(c.get_object(), "checksum", diag);
      out.checksum = make_checksum(cc);
    } else {
      diag.error("checksum", "must be a checksum name or an object");
    }
  }

  void compile_correlation_spec(const json::object& obj) {
    config_object cc(obj, "correlation", diag);
    auto mode = cc.get_enum("mode", {"sequential", "ordered", "field"}, "sequential");
    out.correlation.mode = mode == "field"     ? correlation_mode::field
                           : mode == "ordered" ? correlation_mode::ordered
                                               : correlation_mode::sequential;
    out.correlation.field = cc.get_string("field");
    out.correlation.max_in_flight =
        static_cast<std::size_t>(cc.get_int("max_in_flight", 0, 0, 1 << 20));
    if (out.correlation.mode == correlation_mode::sequential && cc.has("max_in_flight"))
      diag.error(cc.child_path("max_in_flight"),
                 "does not apply to mode \"sequential\" (one call in flight already)");
    if (const json::array* also = cc.get_array("also")) {
      for (std::size_t i = 0; i < also->size(); ++i) {
        if (!(*also)[i].is_string())
          diag.error(cc.child_path("also") + "[" + std::to_string(i) + "]", "must be a field name");
        else
          out.correlation.also.emplace_back((*also)[i].get_string());
      }
    }
    if (out.correlation.mode == correlation_mode::field && out.correlation.field.empty()) {
      cc.accept("field");
      diag.error(cc.child_path("field"), "is required when mode is \"field\"");
    }
    cc.finish();
  }
};

}  // namespace

std::optional<std::size_t> message_def::index_of(std::string_view field_name) const noexcept {
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name == field_name) return i;
  return std::nullopt;
}

const operation* profile::find_operation(std::string_view op_name) const noexcept {
  for (const auto& op : operations)
    if (op.name == op_name) return &op;
  return nullptr;
}

compile_output compile_profile(std::string_view text) {
  compile_output result;
  json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  opts.max_depth = 64;
  json::stream_parser parser({}, opts);
  boost::system::error_code ec;
  std::size_t consumed = parser.write_some(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    std::size_t where = consumed < text.size() ? consumed : text.size();
    std::string why = ec.message();
    if (where >= text.size()) why += " (the file ends too early)";
    result.errors.push_back(position_of(text, where) + ": " + why);
    return result;
  }
  json::value v = parser.release();
  if (!v.is_object()) {
    result.errors.push_back("(root): must be a JSON object");
    return result;
  }
  auto p = std::make_shared<profile>();
  p->source = std::move(v.get_object());
  diagnostics diag;
  compiler c{diag, p->source, *p, unknown_fields::reject, {}, {}};
  c.run();
  if (!diag.ok()) {
    result.errors = diag.errors();
    return result;
  }
  result.compiled = std::move(p);
  return result;
}

compile_output load_profile(const std::string& file_path) {
  std::ifstream in(file_path, std::ios::binary);
  if (!in) {
    compile_output r;
    r.errors.push_back(file_path + ": cannot be read");
    return r;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  compile_output r = compile_profile(ss.str());
  for (auto& e : r.errors) e = file_path + ": " + e;
  return r;
}

}  // namespace dragoman::codecs
