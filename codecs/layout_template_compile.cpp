// Template layout, configuration side: reads the fields and compiles "template" or
// "alternatives" into segments, reporting every mistake by path.
#include "codecs/layout_impl.hpp"
#include "codecs/layout_template_impl.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dragoman::codecs {

namespace {

using namespace template_detail;

// Compiles one template text into segments; reports mistakes under path.
struct template_compiler {
  const std::vector<template_field>& fields;
  const std::vector<std::string>& names;
  const charset* cs;
  diagnostics& diag;

  std::optional<std::size_t> field_index(std::string_view name) const {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == name) return i;
    return std::nullopt;
  }

  bool add_literal(alternative& a, std::string& text, const std::string& path) {
    if (text.empty()) return true;
    byte_buffer wire;
    if (auto done = cs->encode(text, wire); !done) {
      diag.error(path, "literal " + quote(text) + ": " + done.error().message);
      return false;
    }
    if (!a.segs.empty() && a.segs.back().kind == seg_kind::literal) {
      a.segs.back().literal.append(as_chars(wire));
    } else {
      segment s;
      s.kind = seg_kind::literal;
      s.literal = std::string(as_chars(wire));
      a.segs.push_back(std::move(s));
    }
    text.clear();
    return true;
  }

  bool compile(const std::string& text, const std::string& path, alternative& a) {
    a.text = text;
    const std::size_t errors_before = diag.errors().size();
    std::string lit;
    std::size_t i = 0;
    while (i < text.size()) {
      const char c = text[i];
      if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
        lit.push_back(c);  // "{{" and "}}" stand for the brace itself
        i += 2;
        continue;
      }
      if (c == '}') {
        diag.error(path, "unmatched \"}\" at offset " + std::to_string(i) + " (write \"}}\")");
        return false;
      }
      if (c != '{') {
        lit.push_back(c);
        ++i;
        continue;
      }
      const std::size_t close = text.find('}', i);
      if (close == std::string::npos) {
        diag.error(path, "unclosed \"{\" at offset " + std::to_string(i) + " (write \"{{\")");
        return false;
      }
      if (!add_literal(a, lit, path)) return false;
      const std::string inner = text.substr(i + 1, close - i - 1);
      const std::string where = "placeholder {" + inner + "} at offset " + std::to_string(i);
      if (!add_placeholder(a, inner, where, path)) return false;
      i = close + 1;
    }
    if (!add_literal(a, lit, path)) return false;
    if (a.segs.empty()) diag.error(path, "must not be empty");
    // What encode needs from the record: every placeholder's field, except counts it computes.
    for (const auto& s : a.segs) {
      if (s.kind == seg_kind::literal || s.counts) continue;
      if (std::find(a.needs.begin(), a.needs.end(), s.field) == a.needs.end())
        a.needs.push_back(s.field);
    }
    return diag.errors().size() == errors_before;
  }

  // {name}, {name:count} or {len:name}. Mistakes are reported and the placeholder dropped, so
  // that the rest of the template is still checked; false only when compiling must stop.
  bool add_placeholder(alternative& a, const std::string& inner, const std::string& where,
                       const std::string& path) {
    segment s;
    const std::size_t colon = inner.find(':');
    std::string name = inner.substr(0, colon);
    std::string arg = colon == std::string::npos ? std::string() : inner.substr(colon + 1);
    if (colon != std::string::npos && name == "len") {
      s.kind = seg_kind::length_of;
      name = arg;
      arg.clear();
    } else {
      s.kind = seg_kind::field;
    }
    auto idx = field_index(name);
    if (!idx) {
      diag.error(path, where + ": no field named \"" + name + "\"");
      return true;
    }
    s.field = *idx;
    if (s.kind == seg_kind::field &&
        !find_count(a, s, colon != std::string::npos, arg, where, path))
      return true;
    // Without a count, the previous value would have no end.
    if (!a.segs.empty() && a.segs.back().kind != seg_kind::literal &&
        a.segs.back().count == count_kind::none) {
      diag.error(path, where + " follows another placeholder without a literal between them");
    }
    a.segs.push_back(std::move(s));
    if (a.segs.size() > max_segments) {
      diag.error(path, "has more than " + std::to_string(max_segments) + " segments");
      return false;
    }
    return true;
  }

  // How a field placeholder's value ends when it is counted: by a count field named in the
  // placeholder or by the field's length_from, or by an earlier {len:} of the same field. False
  // (reported) when the named count field does not exist.
  bool find_count(alternative& a, segment& s, bool named, const std::string& arg,
                  const std::string& where, const std::string& path) {
    std::optional<std::size_t> counter;
    if (named) {
      counter = field_index(arg);
      if (!counter) {
        diag.error(path, where + ": no field named \"" + arg + "\"");
        return false;
      }
    } else if (fields[s.field].length_from) {
      counter = fields[s.field].length_from;
    }
    // A {len:X} earlier in the template counts X.
    for (std::size_t k = 0; !counter && k < a.segs.size(); ++k) {
      if (a.segs[k].kind == seg_kind::length_of && a.segs[k].field == s.field) {
        s.count = count_kind::length_segment;
        s.count_from = k;
      }
    }
    if (counter) link_count_field(a, s, *counter, where, path);
    return true;
  }

  // The count field must be a number placeholder earlier in the template, which then knows it
  // counts this one (encode writes it from the value's length).
  void link_count_field(alternative& a, segment& s, std::size_t counter, const std::string& where,
                        const std::string& path) {
    std::optional<std::size_t> at;
    for (std::size_t k = 0; k < a.segs.size(); ++k)
      if (a.segs[k].kind == seg_kind::field && a.segs[k].field == counter) at = k;
    if (!at) {
      diag.error(path, where + ": its count field \"" + names[counter] +
                           "\" must appear in a placeholder before it");
    } else if (fields[counter].type != value_type::number) {
      diag.error(path, where + ": its count field \"" + names[counter] +
                           "\" must have \"type\": \"number\"");
    } else {
      s.count = count_kind::field;
      s.count_from = counter;
      a.segs[*at].counts = s.field;
    }
  }
};

std::optional<std::string> set_text(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_bool()) return std::string(v.get_bool() ? "true" : "false");
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  return std::nullopt;
}

template_field read_field(layout_context& ctx, std::size_t i, const charset* msg_cs) {
  config_object& c = ctx.fields[i];
  template_field f;
  f.name = i < ctx.field_names.size() ? ctx.field_names[i] : std::string();
  const std::size_t errors_before = c.diag().errors().size();
  const std::string type = c.get_enum("type", {"text", "token", "number"}, "text");
  // A wrong type is the mistake: the keys of the intended type are not unknown.
  if (c.diag().errors().size() != errors_before) c.accept_all();
  for (std::size_t t = 0; t < std::size(type_names); ++t)
    if (type_names[t] == type) f.type = static_cast<value_type>(t);
  f.cs = layout_detail::resolve_charset(c, msg_cs);
  f.max_length = static_cast<std::size_t>(c.get_int("max_length", 0, 0, 1 << 30));
  if (f.type == value_type::number) f.is_signed = c.get_bool("signed", true);
  if (auto lf = c.get_optional_string("length_from")) {
    auto it = std::find(ctx.field_names.begin(), ctx.field_names.end(), *lf);
    if (it == ctx.field_names.end())
      c.diag().error(c.child_path("length_from"), "no field named \"" + *lf + "\"");
    else if (static_cast<std::size_t>(it - ctx.field_names.begin()) == i)
      c.diag().error(c.child_path("length_from"), "must name another field");
    else {
      f.length_from = static_cast<std::size_t>(it - ctx.field_names.begin());
      f.length_from_name = *lf;
    }
  }
  return f;
}

// One entry of "alternatives": {"template": ..., "set": {field: value}}.
void read_alternative(layout_context& ctx, template_compiler& tc, const boost::json::value& entry,
                      const std::string& path, std::vector<alternative>& alts) {
  diagnostics& diag = ctx.message.diag();
  if (!entry.is_object()) {
    diag.error(path, "must be an object {\"template\": ..., \"set\": {...}}");
    return;
  }
  config_object ac(entry.get_object(), path, diag);
  alternative a;
  const std::string text = ac.require_string("template");
  const bool ok = ac.has("template") && tc.compile(text, ac.child_path("template"), a);
  if (const boost::json::object* set = ac.get_object("set")) {
    for (const auto& kv : *set) {
      const std::string spath = ac.child_path("set") + "." + std::string(kv.key());
      auto it = std::find(ctx.field_names.begin(), ctx.field_names.end(), kv.key());
      auto v = set_text(kv.value());
      if (it == ctx.field_names.end())
        diag.error(spath, "no field named \"" + std::string(kv.key()) + "\"");
      else if (!v)
        diag.error(spath, "must be a string, integer or boolean");
      else
        a.sets.emplace_back(static_cast<std::size_t>(it - ctx.field_names.begin()), *v);
    }
  }
  ac.finish();
  if (ok) alts.push_back(std::move(a));
}

// "template" (one alternative, single) or "alternatives", exactly one of them. Returns single.
bool read_templates(layout_context& ctx, template_compiler& tc, std::vector<alternative>& alts) {
  config_object& m = ctx.message;
  diagnostics& diag = m.diag();
  const bool has_template = m.has("template");
  if (has_template && m.has("alternatives")) {
    m.accept("template");
    m.accept("alternatives");
    diag.error(m.child_path("alternatives"), "cannot be given together with \"template\"");
  } else if (has_template) {
    alternative a;
    if (tc.compile(m.require_string("template"), m.child_path("template"), a))
      alts.push_back(std::move(a));
    return true;
  } else if (const boost::json::array* list = m.get_array("alternatives")) {
    if (list->empty()) diag.error(m.child_path("alternatives"), "must not be empty");
    for (std::size_t k = 0; k < list->size(); ++k)
      read_alternative(ctx, tc, (*list)[k],
                       m.child_path("alternatives") + "[" + std::to_string(k) + "]", alts);
  } else {
    m.accept("template");
    diag.error(m.child_path("template"), "is required (or \"alternatives\")");
  }
  return false;
}

// A field no template or "set" mentions is a typo waiting to happen.
void check_every_field_used(layout_context& ctx, const std::vector<template_field>& fields,
                            const std::vector<alternative>& alts) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    bool used = false;
    for (const auto& a : alts) {
      for (const auto& s : a.segs)
        if (s.kind != seg_kind::literal && s.field == i) used = true;
      for (const auto& [f, v] : a.sets)
        if (f == i) used = true;
    }
    if (!used)
      ctx.message.diag().error(
          ctx.fields[i].path(),
          "field \"" + fields[i].name + "\" appears in no template placeholder or \"set\"");
  }
}

}  // namespace

std::unique_ptr<layout> make_template_layout(layout_context& ctx) {
  diagnostics& diag = ctx.message.diag();
  const std::size_t errors_before = diag.errors().size();
  const charset* msg_cs = layout_detail::resolve_charset(ctx.message, ctx.default_charset);

  std::vector<template_field> fields;
  fields.reserve(ctx.fields.size());
  for (std::size_t i = 0; i < ctx.fields.size(); ++i) fields.push_back(read_field(ctx, i, msg_cs));

  template_compiler tc{fields, ctx.field_names, msg_cs, diag};
  std::vector<alternative> alts;
  const bool single = read_templates(ctx, tc, alts);
  if (diag.errors().size() > errors_before) return nullptr;
  check_every_field_used(ctx, fields, alts);
  if (diag.errors().size() > errors_before) return nullptr;
  return make_compiled_template_layout(std::move(fields), std::move(alts), msg_cs, single);
}

}  // namespace dragoman::codecs
