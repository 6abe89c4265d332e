// Template layout: a message is text made from a template with {field} placeholders (memcached's
// text protocol and other line protocols), decoded by matching the template or its alternatives.
#include "codecs/layout.hpp"
#include "codecs/layout_impl.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::codecs {

namespace {

enum class value_type { text, token, number };
constexpr std::string_view type_names[] = {"text", "token", "number"};

struct template_field {
  std::string name;
  value_type type = value_type::text;
  const charset* cs = nullptr;
  std::size_t max_length = 0;  // 0: no limit
  bool is_signed = true;       // number: a leading '-' or '+' is allowed
  std::optional<std::size_t> length_from;
  std::string length_from_name;  // for describe
};

enum class seg_kind : unsigned char { literal, field, length_of };
enum class count_kind : unsigned char { none, field, length_segment };

struct segment {
  seg_kind kind = seg_kind::literal;
  std::string literal;    // literal: wire bytes
  std::size_t field = 0;  // field: the field; length_of: whose length
  count_kind count = count_kind::none;
  std::size_t count_from = 0;  // count field index, or the {len:} segment's index
  // field: this field is the count of a later counted placeholder of target (written from its
  // length when the record has no value for it).
  std::optional<std::size_t> counts;
};

// Placeholders per template; counts of {len:} segments live in a stack array of this size.
constexpr std::size_t max_segments = 64;

struct alternative {
  std::string text;  // as written, for describe and messages
  std::vector<segment> segs;
  std::vector<std::pair<std::size_t, std::string>> sets;
  std::vector<std::size_t> needs;  // fields a record must have for encode to choose this
};

// Why an alternative did not match, without building strings on the data path.
enum class miss_kind { literal, literal_not_found, short_block, bad_count, bad_value, trailing };

struct miss {
  std::size_t alt = 0;
  std::size_t seg = 0;
  std::size_t offset = 0;
  miss_kind kind = miss_kind::literal;
  std::uint64_t count = 0;       // short_block: bytes needed
  const char* reason = nullptr;  // bad_value: the type check's reason
  std::string detail;            // bad_value: the charset's reason (rare, so a string is fine)
};

std::string quote(std::string_view s) {
  return layout_detail::quote_bytes(s);
}

bool parse_count(std::string_view text, std::uint64_t& n) noexcept {
  if (text.empty() || text.size() > 19) return false;
  n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

// Checks a value against its field's type and limit; returns the reason or nullptr.
const char* check_value(const template_field& f, std::string_view v, std::size_t wire_length) {
  if (f.max_length && wire_length > f.max_length) return "longer than max_length";
  switch (f.type) {
    case value_type::text:
      return nullptr;
    case value_type::token:
      if (v.empty()) return "must not be empty";
      for (char c : v) {
        const auto b = static_cast<unsigned char>(c);
        if (b <= 0x20 || b == 0x7F) return "must not contain spaces or control characters";
      }
      return nullptr;
    case value_type::number: {
      std::size_t i = 0;
      if (f.is_signed && !v.empty() && (v[0] == '-' || v[0] == '+')) i = 1;
      if (i == v.size()) return "must be a number";
      for (; i < v.size(); ++i)
        if (v[i] < '0' || v[i] > '9') return "must be a number";
      return nullptr;
    }
  }
  return nullptr;
}

class template_layout final : public layout {
 public:
  template_layout(std::vector<template_field> fields, std::vector<alternative> alts,
                  const charset* cs, bool single)
      : fields_(std::move(fields)), alts_(std::move(alts)), cs_(cs), single_(single) {}

  result<void> encode(const record& r, byte_buffer& out) const override {
    const alternative* chosen = nullptr;
    for (const auto& a : alts_) {
      if (fits(a, r)) {
        chosen = &a;
        break;
      }
    }
    if (!chosen) {
      if (alts_.size() != 1) {
        const alternative& a = alts_.front();
        for (std::size_t f : a.needs)
          if (!r.has(f))
            return make_error(errc::invalid_field, fields_[f].name,
                              "is required: no template alternative fits the record (the first, " +
                                  quote(a.text) + ", needs it)");
        return make_error(errc::invalid_field, {},
                          "no template alternative fits the record's fields and \"set\" values");
      }
      chosen = &alts_.front();
      for (std::size_t f : chosen->needs)
        if (!r.has(f))
          return make_error(errc::invalid_field, fields_[f].name,
                            "is required by the template " + quote(chosen->text));
    }
    const std::size_t start = out.size();
    auto done = write(*chosen, r, out);
    if (!done) out.resize(start);
    return done;
  }

  result<void> decode(byte_view payload, record& r) const override {
    std::optional<miss> best;
    miss m;
    for (std::size_t a = 0; a < alts_.size(); ++a) {
      for (std::size_t i = 0; i < r.size(); ++i) r.clear(i);
      m.alt = a;
      if (match(alts_[a], payload, r, m)) {
        for (const auto& [f, v] : alts_[a].sets) r.set(f, v);
        return {};
      }
      if (!best || m.offset > best->offset) best = m;
    }
    for (std::size_t i = 0; i < r.size(); ++i) r.clear(i);
    return describe_miss(*best, payload);
  }

  boost::json::object describe_field(std::size_t index) const override {
    boost::json::object o;
    if (index >= fields_.size()) return o;
    const template_field& f = fields_[index];
    o["type"] = type_names[static_cast<int>(f.type)];
    o["charset"] = f.cs->name();
    if (f.max_length) o["max_length"] = f.max_length;
    if (f.type == value_type::number) o["signed"] = f.is_signed;
    if (f.length_from) o["length_from"] = f.length_from_name;
    return o;
  }

  boost::json::object describe() const override {
    boost::json::object o;
    o["type"] = "template";
    o["charset"] = cs_->name();
    if (single_) {
      o["template"] = alts_.front().text;
      return o;
    }
    boost::json::array alts;
    for (const auto& a : alts_) {
      boost::json::object ao;
      ao["template"] = a.text;
      if (!a.sets.empty()) {
        boost::json::object s;
        for (const auto& [f, v] : a.sets) s[fields_[f].name] = v;
        ao["set"] = std::move(s);
      }
      alts.push_back(std::move(ao));
    }
    o["alternatives"] = std::move(alts);
    return o;
  }

 private:
  bool fits(const alternative& a, const record& r) const {
    for (std::size_t f : a.needs)
      if (!r.has(f)) return false;
    for (const auto& [f, v] : a.sets)
      if (r.has(f) && r.get(f) != v) return false;
    return true;
  }

  result<void> write_text(const template_field& f, std::string_view v, byte_buffer& out) const {
    auto done = f.cs->encode(v, out);
    if (!done) {
      codec_error e = std::move(done).error();
      e.where = f.name;
      return e;
    }
    return {};
  }

  static void append_decimal(std::uint64_t n, char (&buf)[24], std::string_view& text) {
    auto res = std::to_chars(buf, buf + sizeof buf, n);
    text = std::string_view(buf, static_cast<std::size_t>(res.ptr - buf));
  }

  result<void> write(const alternative& a, const record& r, byte_buffer& out) const {
    for (std::size_t s = 0; s < a.segs.size(); ++s) {
      const segment& seg = a.segs[s];
      switch (seg.kind) {
        case seg_kind::literal:
          append(out, seg.literal);
          break;
        case seg_kind::length_of: {
          const template_field& target = fields_[seg.field];
          char buf[24];
          std::string_view digits;
          append_decimal(target.cs->wire_length(r.get(seg.field)), buf, digits);
          if (auto done = cs_->encode(digits, out); !done) {
            codec_error e = std::move(done).error();
            e.where = target.name;
            return e;
          }
          break;
        }
        case seg_kind::field: {
          const template_field& f = fields_[seg.field];
          char buf[24];
          std::string_view v = r.get(seg.field);
          if (seg.counts) {
            const std::size_t length = fields_[*seg.counts].cs->wire_length(r.get(*seg.counts));
            std::string_view computed;
            append_decimal(length, buf, computed);
            if (!r.has(seg.field)) {
              v = computed;
            } else if (v != computed) {
              return make_error(errc::invalid_field, f.name,
                                "is " + std::string(v) + " but " + fields_[*seg.counts].name +
                                    " is " + std::to_string(length) + " bytes");
            }
          }
          if (const char* why = check_value(f, v, f.cs->wire_length(v))) {
            std::string message = why;
            if (f.max_length && std::strcmp(why, "longer than max_length") == 0)
              message = "is " + std::to_string(f.cs->wire_length(v)) +
                        " characters, longer than max_length " + std::to_string(f.max_length);
            return make_error(errc::invalid_field, f.name, std::move(message));
          }
          const std::size_t start = out.size();
          if (auto done = write_text(f, v, out); !done) return done;
          // Unless counted, a value ends at the next literal: it must not contain it.
          if (seg.count == count_kind::none && s + 1 < a.segs.size() &&
              a.segs[s + 1].kind == seg_kind::literal) {
            const std::string& lit = a.segs[s + 1].literal;
            const auto it = std::search(out.begin() + static_cast<long>(start), out.end(),
                                        lit.begin(), lit.end());
            if (it != out.end())
              return make_error(errc::invalid_field, f.name,
                                "must not contain " + quote(lit) +
                                    " (it ends the value in the template " + quote(a.text) + ")");
          }
          break;
        }
      }
    }
    return {};
  }

  // Matches one alternative; on failure fills m (except m.alt).
  bool match(const alternative& a, byte_view payload, record& r, miss& m) const {
    std::array<std::uint64_t, max_segments> lengths{};
    const std::size_t size = payload.size();
    std::size_t pos = 0;
    auto fail = [&](std::size_t seg, std::size_t offset, miss_kind kind) {
      m.seg = seg;
      m.offset = offset;
      m.kind = kind;
      return false;
    };
    for (std::size_t s = 0; s < a.segs.size(); ++s) {
      const segment& seg = a.segs[s];
      if (seg.kind == seg_kind::literal) {
        const std::string& lit = seg.literal;
        if (size - pos < lit.size() || std::memcmp(payload.data() + pos, lit.data(), lit.size()))
          return fail(s, pos, miss_kind::literal);
        pos += lit.size();
        continue;
      }
      // Where the value ends: by count, at the next literal, or at the end of the payload.
      std::size_t end = size;
      if (seg.count != count_kind::none) {
        std::uint64_t n = 0;
        if (seg.count == count_kind::length_segment) {
          n = lengths[seg.count_from];
        } else if (!parse_count(r.get(seg.count_from), n)) {
          return fail(s, pos, miss_kind::bad_count);
        }
        if (n > size - pos) {
          m.count = n;
          return fail(s, pos, miss_kind::short_block);
        }
        end = pos + static_cast<std::size_t>(n);
      } else if (s + 1 < a.segs.size()) {
        const std::string& lit = a.segs[s + 1].literal;  // compile ensures a literal follows
        const auto it = std::search(payload.begin() + static_cast<long>(pos), payload.end(),
                                    lit.begin(), lit.end());
        if (it == payload.end()) return fail(s + 1, pos, miss_kind::literal_not_found);
        end = static_cast<std::size_t>(it - payload.begin());
      }
      const byte_view wire = payload.subspan(pos, end - pos);
      if (seg.kind == seg_kind::length_of) {
        if (!parse_count(as_chars(wire), lengths[s])) return fail(s, pos, miss_kind::bad_value);
      } else {
        const template_field& f = fields_[seg.field];
        std::string& slot = r.slot(seg.field);
        slot.clear();
        auto done = f.cs->decode(wire, slot);
        if (!done) {
          m.reason = nullptr;
          m.detail = std::move(done).error().message;
          return fail(s, pos, miss_kind::bad_value);
        }
        if (const char* why = check_value(f, slot, wire.size())) {
          m.reason = why;
          return fail(s, pos, miss_kind::bad_value);
        }
        r.set_present(seg.field);
      }
      pos = end;
    }
    if (pos != size) return fail(a.segs.size(), pos, miss_kind::trailing);
    return true;
  }

  codec_error describe_miss(const miss& m, byte_view payload) const {
    const alternative& a = alts_[m.alt];
    std::string where;
    std::string what;
    const std::string at = " at offset " + std::to_string(m.offset);
    switch (m.kind) {
      case miss_kind::literal: {
        const std::string& lit = a.segs[m.seg].literal;
        const std::size_t n = std::min(payload.size() - m.offset, lit.size());
        what = "expected " + quote(lit) + at + ", found " +
               (n ? quote(as_chars(payload.subspan(m.offset, n))) : std::string("the end"));
        break;
      }
      case miss_kind::literal_not_found:
        where = fields_[a.segs[m.seg - 1].field].name;
        what = "expected " + quote(a.segs[m.seg].literal) + " after the value starting" + at;
        break;
      case miss_kind::short_block:
        where = fields_[a.segs[m.seg].field].name;
        what = "expected " + std::to_string(m.count) + " bytes" + at + ", got " +
               std::to_string(payload.size() - m.offset);
        break;
      case miss_kind::bad_count:
        where = fields_[a.segs[m.seg].count_from].name;
        what = "is not a byte count (for " + fields_[a.segs[m.seg].field].name + at + ")";
        break;
      case miss_kind::bad_value:
        where = fields_[a.segs[m.seg].field].name;
        what = a.segs[m.seg].kind == seg_kind::length_of ? "length must be a number" + at
                                                         : (m.reason ? m.reason : m.detail) + at;
        break;
      case miss_kind::trailing:
        what = "unexpected bytes after the template" + at;
        break;
    }
    if (alts_.size() > 1)
      what = "matches none of the " + std::to_string(alts_.size()) + " alternatives; alternative " +
             std::to_string(m.alt) + " " + quote(a.text) +
             " got furthest: " + (where.empty() ? "" : where + " ") + what;
    return make_error(errc::malformed, alts_.size() > 1 ? std::string() : where, std::move(what));
  }

  std::vector<template_field> fields_;
  std::vector<alternative> alts_;
  const charset* cs_;
  bool single_;
};

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
  const std::string type = c.get_enum("type", {"text", "token", "number"}, "text");
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
  return std::make_unique<template_layout>(std::move(fields), std::move(alts), msg_cs, single);
}

}  // namespace dragoman::codecs
