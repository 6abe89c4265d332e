// An operation's "compensation": the operation that undoes a call whose outcome is unknown (an
// ISO 8583 purchase's reversal), and its request built from the original request's values,
// declared in the profile (docs/journal.md, "Unknown outcomes").
#include "codecs/config.hpp"
#include "codecs/profile.hpp"

namespace dragoman::codecs {

namespace json = boost::json;

namespace {

// The original request's field an app or a generator gives the value of: by record name
// ("mti", "stan") or by the name the app knows it by.
std::optional<std::size_t> source_field(const message_def& m, std::string_view name) {
  if (auto i = m.index_of(name)) return i;
  const request_name* n = m.find_request_name(name);
  if (n && !n->object) return n->field;
  return std::nullopt;
}

std::string known_sources(const message_def& m) {
  std::string out;
  for (std::size_t i = 0; i < m.listed_fields && i < m.fields.size(); ++i)
    out += (out.empty() ? "" : ", ") + m.fields[i].name;
  return out;
}

// One part: "name" | {"from": "name", "width": N, "pad": "0"} | {"value": "text", "width"…}.
std::optional<compensation_spec::part> compile_part(const json::value& v, const std::string& path,
                                                    const operation& original, diagnostics& diag) {
  compensation_spec::part p;
  std::string from;
  if (v.is_string()) {
    from = std::string(v.get_string());
  } else if (v.is_object()) {
    config_object c(v.get_object(), path, diag);
    auto f = c.get_optional_string("from");
    auto text = c.get_optional_string("value");
    if (f.has_value() == text.has_value()) {
      diag.error(path, "needs one of \"from\" (a field of the original request) or \"value\"");
      c.accept_all();
      c.finish();
      return std::nullopt;
    }
    if (f) from = *f;
    if (text) p.text = *text;
    p.width = static_cast<std::size_t>(c.get_int("width", 0, 0, 999));
    const std::string pad = c.get_string("pad", "0");
    if (pad.size() != 1)
      diag.error(c.child_path("pad"), "must be one character");
    else
      p.pad = pad[0];
    if (c.has("pad") && p.width == 0) diag.error(c.child_path("pad"), "needs a width");
    if (text && p.width && p.text.size() > p.width)
      diag.error(c.child_path("value"), "is longer than its width " + std::to_string(p.width));
    c.finish();
    if (text) return p;
  } else {
    diag.error(path, "must be a field of the original request, {\"from\": …} or {\"value\": …}");
    return std::nullopt;
  }
  p.from = source_field(original.request, from);
  if (!p.from) {
    const std::string known = known_sources(original.request);
    diag.error(path, "no field named \"" + from + "\" in " + original.request.path +
                         (known.empty() ? std::string() : " (it has " + known + ")"));
    return std::nullopt;
  }
  return p;
}

bool names_compensation(const json::object& ops, const std::string& name) {
  const json::value* v = ops.if_contains(name);
  return v && v->is_object() && v->get_object().contains("compensation");
}

void compile_one(const json::object& c_obj, const std::string& path, operation& original,
                 const json::object& ops, profile& out, diagnostics& diag) {
  config_object c(c_obj, path, diag);
  compensation_spec& spec = original.compensation;
  spec.operation_name = c.require_string("operation");
  const operation* comp = nullptr;
  if (!spec.operation_name.empty()) {
    comp = out.find_operation(spec.operation_name);
    if (!comp) {
      diag.error(c.child_path("operation"), "no operation named \"" + spec.operation_name + "\"");
    } else if (comp->name == original.name) {
      diag.error(c.child_path("operation"), "an operation cannot compensate itself");
      comp = nullptr;
    } else if (comp->internal || comp->dir == direction::inbound) {
      diag.error(c.child_path("operation"),
                 "\"" + comp->name + "\" is not an operation dragoman may call");
      comp = nullptr;
    } else if (!comp->idempotent) {
      diag.error(c.child_path("operation"),
                 "\"" + comp->name +
                     "\" must be idempotent: a compensation is sent again until the host answers");
      comp = nullptr;
    } else if (names_compensation(ops, comp->name)) {
      diag.error(c.child_path("operation"),
                 "\"" + comp->name + "\" has a compensation of its own: one step at most");
      comp = nullptr;
    }
  }
  if (original.idempotent)
    diag.error(path,
               "an idempotent operation is sent again on an unknown outcome, not compensated");
  const json::object* fields = c.get_object("fields", true);
  c.finish();
  if (!comp || !fields) return;
  spec.operation = comp->index;
  const std::string fields_path = path + ".fields";
  for (const auto& kv : *fields) {
    const std::string at = fields_path + "." + std::string(kv.key());
    const request_name* target = comp->request.find_request_name(kv.key());
    if (!target || target->object) {
      const std::string known = comp->request.listed_request_names();
      diag.error(at, "\"" + comp->name + "\" has no request field named \"" +
                         std::string(kv.key()) + "\"" +
                         (known.empty() ? std::string() : " (it has " + known + ")"));
      continue;
    }
    compensation_spec::value v;
    v.target = std::string(kv.key());
    if (kv.value().is_array()) {
      const json::array& parts = kv.value().get_array();
      if (parts.empty()) diag.error(at, "must list at least one part");
      for (std::size_t i = 0; i < parts.size(); ++i)
        if (auto p = compile_part(parts[i], at + "[" + std::to_string(i) + "]", original, diag))
          v.parts.push_back(std::move(*p));
    } else if (auto p = compile_part(kv.value(), at, original, diag)) {
      v.single = kv.value().is_string();
      v.parts.push_back(std::move(*p));
    }
    spec.fields.push_back(std::move(v));
  }
  // Every field the compensation requires and cannot fill itself must be given.
  for (std::size_t i = 0; i < comp->request.listed_fields; ++i) {
    const field_spec& f = comp->request.fields[i];
    if (!f.required || f.constant || f.default_value || f.generate != generator_kind::none)
      continue;
    bool given = false;
    for (const auto& v : spec.fields) {
      const request_name* n = comp->request.find_request_name(v.target);
      given = given || (n && n->field == i);
    }
    if (!given)
      diag.error(fields_path, "the required field \"" + std::string(f.request_name()) + "\" of \"" +
                                  comp->name + "\" is not given");
  }
}

// The original request's value of field i, as text: a constant, a generated value pinned in
// fixed, the app's value (by its name or an alias), or the field's default. Nothing: absent.
std::optional<std::string> original_value(const message_def& m, std::size_t i,
                                          const json::object& data, const json::object& fixed) {
  const field_spec& f = m.fields[i];
  auto text = [](const json::value& v) {
    return v.is_string() ? std::string(v.get_string()) : json::serialize(v);
  };
  if (f.constant) return *f.constant;
  if (const json::value* v = fixed.if_contains(f.name)) return text(*v);
  auto at_path = [&](std::string_view path) -> const json::value* {
    const json::object* o = &data;
    for (;;) {
      const auto dot = path.find('.');
      const json::value* v = o->if_contains(path.substr(0, dot));
      if (!v || dot == std::string_view::npos) return v;
      o = v->if_object();
      if (!o) return nullptr;
      path.remove_prefix(dot + 1);
    }
  };
  if (const json::value* v = at_path(f.request_name()); v && !v->is_null()) return text(*v);
  for (const auto& alias : f.aliases)
    if (const json::value* v = at_path(alias); v && !v->is_null()) return text(*v);
  if (f.default_value) return *f.default_value;
  return std::nullopt;
}

void set_path(json::object& o, std::string_view path, std::string value) {
  json::object* at = &o;
  for (auto dot = path.find('.'); dot != std::string_view::npos; dot = path.find('.')) {
    json::value& next = (*at)[path.substr(0, dot)];
    if (!next.is_object()) next = json::object();
    at = &next.get_object();
    path.remove_prefix(dot + 1);
  }
  (*at)[path] = std::move(value);
}

}  // namespace

void compile_compensations(const json::object& ops, profile& out, diagnostics& diag) {
  for (operation& op : out.operations) {
    const json::value* v = ops.if_contains(op.name);
    const json::value* c =
        v && v->is_object() ? v->get_object().if_contains("compensation") : nullptr;
    if (!c) continue;
    const std::string path = "operations." + op.name + ".compensation";
    if (!c->is_object()) {
      diag.error(path, "must be an object: {\"operation\": …, \"fields\": {…}}");
      continue;
    }
    compile_one(c->get_object(), path, op, ops, out, diag);
  }
}

compensation_request build_compensation(const operation& original, const json::object& data,
                                        const json::object& fixed) {
  compensation_request out;
  for (const auto& v : original.compensation.fields) {
    std::string value;
    bool present = false;
    for (const auto& p : v.parts) {
      std::string piece = p.text;
      if (p.from) {
        auto got = original_value(original.request, *p.from, data, fixed);
        if (got) {
          piece = std::move(*got);
          present = true;
        }
      }
      if (p.width && piece.size() > p.width) {
        const std::string source =
            p.from ? original.request.fields[*p.from].name : std::string("its value");
        out.error = v.target + ": " + source + " is " + std::to_string(piece.size()) +
                    " characters, longer than its width " + std::to_string(p.width);
        return out;
      }
      if (p.width) piece.insert(0, p.width - piece.size(), p.pad);
      value += piece;
    }
    if (v.single && !present) continue;
    set_path(out.data, v.target, std::move(value));
  }
  return out;
}

}  // namespace dragoman::codecs
