// Random valid records for any compiled message, derived from its layout's describe() and
// describe_field() attributes, and the normal form decoding gives each value back in
// (docs/profiles.md, "Round trips"). Used by roundtrip_test.cpp.
#pragma once

#include "codecs/decimal.hpp"
#include "codecs/profile.hpp"
#include "codecs/record.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace roundtrip {

namespace json = boost::json;
namespace dc = dragoman::codecs;

// A value of a record slot: absent, or present with text.
using value = std::optional<std::string>;

inline std::string str_of(const json::object& o, std::string_view key, std::string_view fallback) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string(fallback);
}
inline std::size_t size_of(const json::object& o, std::string_view key, std::size_t fallback) {
  const json::value* v = o.if_contains(key);
  return v && v->is_number() ? v->to_number<std::size_t>() : fallback;
}
inline bool bool_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}

// The pieces of one message a generator needs, read once from the compiled message.
struct message_shape {
  std::string layout;                // fixed, iso8583, template, delimited, binary
  json::object layout_attrs;         // describe()
  std::vector<json::object> fields;  // describe_field(i)
  // template: per alternative, the fields its placeholders name, the counted ones, the set ones.
  struct alt {
    std::vector<std::size_t> placed;
    std::vector<std::size_t> counted;                           // read by a byte count: any bytes
    std::vector<std::pair<std::size_t, std::size_t>> count_of;  // (count field, counted field)
    std::vector<std::pair<std::size_t, std::string>> sets;
  };
  std::vector<alt> alts;
};

inline std::optional<std::size_t> index_by_name(const dc::message_def& m, std::string_view name) {
  for (std::size_t i = 0; i < m.fields.size(); ++i)
    if (m.fields[i].name == name) return i;
  return std::nullopt;
}

// Placeholders of a template text: {name}, {len:name}, {name:count}; "{{" is a brace.
inline void read_template(const dc::message_def& m, std::string_view text, message_shape::alt& a) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{') continue;
    if (i + 1 < text.size() && text[i + 1] == '{') {
      ++i;
      continue;
    }
    const std::size_t close = text.find('}', i);
    if (close == std::string_view::npos) return;
    std::string_view body = text.substr(i + 1, close - i - 1);
    i = close;
    if (body.starts_with("len:")) {
      if (auto f = index_by_name(m, body.substr(4))) a.counted.push_back(*f);
      continue;
    }
    const auto colon = body.find(':');
    auto f = index_by_name(m, body.substr(0, colon));
    if (!f) continue;
    a.placed.push_back(*f);
    if (colon != std::string_view::npos) {
      a.counted.push_back(*f);
      if (auto c = index_by_name(m, body.substr(colon + 1))) a.count_of.emplace_back(*c, *f);
    }
  }
}

inline message_shape shape_of(const dc::message_def& m) {
  message_shape s;
  s.layout_attrs = m.codec->describe();
  s.layout = str_of(s.layout_attrs, "type", "");
  for (std::size_t i = 0; i < m.fields.size(); ++i) s.fields.push_back(m.codec->describe_field(i));
  if (s.layout == "template") {
    std::vector<json::object> alts;
    if (const json::value* t = s.layout_attrs.if_contains("template"); t && t->is_string())
      alts.push_back(json::object{{"template", *t}});
    if (const json::value* list = s.layout_attrs.if_contains("alternatives");
        list && list->is_array())
      for (const auto& a : list->get_array()) alts.push_back(a.as_object());
    for (const auto& a : alts) {
      message_shape::alt alt;
      read_template(m, str_of(a, "template", ""), alt);
      if (const json::value* set = a.if_contains("set"); set && set->is_object())
        for (const auto& kv : set->get_object())
          if (auto f = index_by_name(m, kv.key()))
            alt.sets.emplace_back(*f, std::string(kv.value().as_string()));
      s.alts.push_back(std::move(alt));
    }
  }
  return s;
}

class generator {
 public:
  explicit generator(std::uint64_t seed) : rng_(seed) {}

  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool coin() { return below(2) == 0; }
  // A length in [lo, hi], at a limit half the time.
  std::size_t length(std::size_t lo, std::size_t hi) {
    if (hi <= lo) return lo;
    switch (below(4)) {
      case 0:
        return lo;
      case 1:
        return hi;
      default:
        return lo + below(hi - lo + 1);
    }
  }
  std::string from(std::string_view alphabet, std::size_t n) {
    std::string out;
    for (std::size_t k = 0; k < n; ++k) out.push_back(alphabet[below(alphabet.size())]);
    return out;
  }
  std::string digits(std::size_t n) { return from("0123456789", n); }
  // UTF-8 text of n bytes (the layouts' limits count bytes) from letters, digits, `extra` and,
  // when allowed, two-byte é.
  std::string text(std::size_t n, std::string_view extra, bool multibyte) {
    static constexpr std::string_view base = "ABCXYZabcxyz019";
    std::string out;
    while (out.size() < n) {
      const bool room = multibyte && n - out.size() >= 2;
      const std::uint64_t r = below(base.size() + extra.size() + (room ? 1 : 0));
      if (r < base.size())
        out.push_back(base[r]);
      else if (r < base.size() + extra.size())
        out.push_back(extra[r - base.size()]);
      else
        out.append("\xc3\xa9");
    }
    return out;
  }

 private:
  std::mt19937_64 rng_;
};

// A decimal number with up to `whole` integer digits (at least one) and exactly `decimals`
// fraction digits, negative when allowed and drawn.
inline std::string number_text(generator& g, std::size_t whole, int decimals,
                               bool can_be_negative) {
  std::string out;
  if (can_be_negative && g.coin()) out.push_back('-');
  out += g.digits(g.length(1, std::max<std::size_t>(whole, 1)));
  if (decimals > 0) out += "." + g.digits(static_cast<std::size_t>(decimals));
  return out;
}

// The text a number decodes to in its digits style: canonical, or the integer digits as written
// zero-padded to `width` integer digits (0: as many as written).
inline std::string number_normal(std::string_view v, int decimals, bool as_written,
                                 std::size_t width) {
  char buf[dc::decimal::max_digits];
  bool negative = false;
  const std::size_t n = dc::decimal::max_digits;
  if (dc::decimal::to_digits(v, decimals, true, buf, n, negative) != dc::decimal::status::ok)
    return std::string(v);
  std::size_t whole = std::max<std::size_t>(dc::decimal::written_integer_digits(v), 1);
  if (width) whole = std::max(whole, width);
  const std::size_t keep = std::min(n, whole + static_cast<std::size_t>(decimals));
  std::string out;
  dc::decimal::append_digits(
      out, std::string_view(buf + n - keep, keep), decimals, negative,
      as_written ? dc::decimal::digits_style::as_written : dc::decimal::digits_style::canonical);
  return out;
}

inline std::string strip(std::string v, char pad, bool from_left) {
  if (from_left) {
    v.erase(0, v.find_first_not_of(pad) == std::string::npos ? v.size() : v.find_first_not_of(pad));
  } else {
    while (!v.empty() && v.back() == pad) v.pop_back();
  }
  return v;
}

// ---- fixed ---------------------------------------------------------------------------------

inline value fixed_value(generator& g, const json::object& a) {
  const std::string type = str_of(a, "type", "alpha");
  const std::size_t len = size_of(a, "length", 1);
  const int dec = static_cast<int>(size_of(a, "decimals", 0));
  const bool sign = bool_of(a, "signed");
  if (type == "alpha") {
    const bool multibyte = str_of(a, "charset", "") == "utf8";
    std::string v = g.text(g.length(0, len), " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", false);
    if (multibyte && len >= 2 && g.coin()) v = "\xc3\xa9" + v.substr(0, len - 2);
    return v;
  }
  if (type == "numeric" || type == "zoned")
    return number_text(g, len - static_cast<std::size_t>(dec), dec, sign);
  if (type == "packed")
    return number_text(g, 2 * len - 1 - static_cast<std::size_t>(dec), dec, sign);
  if (type == "binary") {
    const unsigned bits = static_cast<unsigned>(8 * len - (sign ? 1 : 0));
    std::uint64_t u = g.below(UINT64_MAX);
    if (bits < 64) u &= (std::uint64_t{1} << bits) - 1;
    std::string out;
    dc::decimal::append_canonical(out, u, dec, sign && g.coin());
    return out;
  }
  return g.from("0123456789abcdef", 2 * g.length(0, len));  // hex
}

inline value fixed_normal(const json::object& a, const value& v) {
  const std::string type = str_of(a, "type", "alpha");
  const std::size_t len = size_of(a, "length", 1);
  const int dec = static_cast<int>(size_of(a, "decimals", 0));
  const bool right = str_of(a, "align", "left") == "right";
  if (type == "alpha") {
    const std::string pad = str_of(a, "pad", " ");
    return strip(v.value_or(""), pad.empty() ? ' ' : pad[0], right);
  }
  if (type == "hex") {
    static constexpr char hex[] = "0123456789abcdef";
    const std::size_t b = size_of(a, "pad_byte", 0);
    std::string pad{hex[b >> 4 & 0xF], hex[b & 0xF]};
    std::string out = v.value_or("");
    std::string fill;
    for (std::size_t k = out.size() / 2; k < len; ++k) fill += pad;
    return right ? fill + out : out + fill;
  }
  const bool as_written = str_of(a, "digits", "canonical") == "as_written";
  std::size_t width = 0;  // zero-filled digits take the field's width
  if (type == "zoned" || (type == "numeric" && str_of(a, "pad", "0") == "0"))
    width = len - static_cast<std::size_t>(dec);
  if (type == "packed") width = 2 * len - 1 - static_cast<std::size_t>(dec);
  return number_normal(v.value_or("0"), dec, as_written, width);
}

// ---- ISO 8583 ------------------------------------------------------------------------------

inline value iso_value(generator& g, const json::object& a) {
  const std::string type = str_of(a, "type", "n");
  const bool fixed = str_of(a, "format", "fixed") == "fixed";
  const std::size_t max = size_of(a, fixed ? "length" : "max_length", 1);
  if (type == "mti") return g.digits(4);
  if (type == "n") return g.digits(g.length(fixed ? 1 : 0, max));
  if (type == "z") return g.from("0123456789=", fixed ? max : g.length(0, max));
  if (type == "b") return g.from("0123456789abcdef", 2 * (fixed ? max : g.length(0, max)));
  if (type == "an") return g.text(g.length(0, max), " ", false);
  return g.text(g.length(0, max), " !\"#%&'()*+,-./:;<=>?@[\\]^_`{|}~", false);  // ans
}

inline value iso_normal(const json::object& a, const value& v) {
  if (!v) return v;
  const std::string type = str_of(a, "type", "n");
  const bool fixed = str_of(a, "format", "fixed") == "fixed";
  if (!fixed) return v;
  const std::size_t len = size_of(a, "length", 1);
  if (type == "n" && v->size() < len) return std::string(len - v->size(), '0') + *v;
  if (type == "an" || type == "ans") return strip(*v, ' ', false);
  return v;
}

// ---- delimited (flat and segments) ---------------------------------------------------------

// Text with every separator and the escape character in it, to exercise escaping.
inline value delimited_value(generator& g, const json::object& a) {
  const std::size_t max = size_of(a, "max_length", 40);
  if (str_of(a, "type", "text") == "numeric") {
    const int dec = static_cast<int>(size_of(a, "decimals", 0));
    return number_text(g, 12, dec, bool_of(a, "signed"));
  }
  // Control characters too: a segment end or an MLLP frame byte inside a value must be escaped.
  return g.text(g.length(0, max), std::string_view(" |^~&\\-\r\n\t\x0b\x1c"), true);
}

inline value delimited_normal(const json::object& a, const value& v) {
  if (!v || v->empty()) return std::nullopt;  // an empty field is an absent one
  if (str_of(a, "type", "text") != "numeric") return v;
  return number_normal(*v, static_cast<int>(size_of(a, "decimals", 0)),
                       str_of(a, "digits", "canonical") == "as_written", 0);
}

// A repeating group: 1..3 objects, each with some of the group's component keys.
inline value group_value(generator& g, const json::object& a) {
  const std::string sequence = str_of(a, "sequence", "");
  json::array items;
  const std::size_t n = 1 + g.below(3);
  for (std::size_t k = 0; k < n; ++k) {
    json::object item;
    for (const auto& kv : a.at("components").as_object()) {
      if (kv.key() == sequence || g.below(3) == 0) continue;
      item[kv.key()] = g.text(g.length(1, 12), " |^~&\\-", true);
    }
    if (item.empty()) {  // at least one component, so the segment carries something
      for (const auto& kv : a.at("components").as_object())
        if (kv.key() != sequence) {
          item[kv.key()] = "X";
          break;
        }
    }
    items.push_back(std::move(item));
  }
  return json::serialize(items);
}

// The sequence component numbers the items from 1.
inline value group_normal(const json::object& a, const value& v) {
  if (!v) return v;
  json::value items = json::parse(*v);
  const std::string sequence = str_of(a, "sequence", "");
  std::size_t k = 0;
  for (auto& item : items.as_array())
    if (!sequence.empty()) item.as_object()[sequence] = std::to_string(++k);
  return json::serialize(items);
}

// ---- template ------------------------------------------------------------------------------

inline value template_value(generator& g, const json::object& a, bool counted) {
  const std::string type = str_of(a, "type", "text");
  const std::size_t max = size_of(a, "max_length", 40);
  if (type == "number") {
    std::string sign;
    if (bool_of(a, "signed") && g.coin()) sign = g.coin() ? "-" : "+";
    return sign + g.digits(g.length(1, std::min<std::size_t>(max, 12)));
  }
  if (type == "token") return g.text(g.length(1, max), "-_:.!", true);
  if (counted) return g.text(g.length(0, max), " \r\n-", true);
  return g.text(g.length(0, max), " -_:.", true);
}

// ---- a whole record --------------------------------------------------------------------------

// Fills r with a random valid record of m.
// ---- binary -------------------------------------------------------------------------------

// An integer field's value as the layout reads conditions: its digits, or its map's wire value.
inline std::optional<std::uint64_t> binary_wire(const json::object& a, const value& v) {
  if (!v) return std::uint64_t{0};
  if (const json::value* m = a.if_contains("map"); m && m->is_object())
    if (const json::value* w = m->get_object().if_contains(*v))
      return w->to_number<std::uint64_t>();
  std::uint64_t n = 0;
  auto r = std::from_chars(v->data(), v->data() + v->size(), n);
  if (r.ec != std::errc() || r.ptr != v->data() + v->size()) return std::nullopt;
  return n;
}

inline std::string binary_integer(generator& g, unsigned bits, bool is_signed) {
  std::uint64_t u = g.below(UINT64_MAX);
  switch (g.below(4)) {  // the limits often
    case 0:
      u = 0;
      break;
    case 1:
      u = UINT64_MAX;
      break;
    default:
      break;
  }
  if (!is_signed) return std::to_string(bits >= 64 ? u : u & ((std::uint64_t{1} << bits) - 1));
  const unsigned magnitude_bits = bits - 1;
  std::uint64_t mag = magnitude_bits >= 64 ? u : u & ((std::uint64_t{1} << magnitude_bits) - 1);
  if (g.coin()) return mag == 0 ? "0" : "-" + std::to_string(mag);
  return std::to_string(mag);
}

// Values in field order, so that conditions ("when") are judged on the values before them.
// Derived fields (counts, lengths) are left to the layout: any value decodes back (`same`).
inline void binary_values(generator& g, const dc::message_def& m, const message_shape& s,
                          std::vector<value>& v, const std::vector<bool>& given) {
  for (std::size_t i = 0; i < m.fields.size(); ++i) {
    const json::object& a = s.fields[i];
    if (const json::value* w = a.if_contains("when"); w && w->is_object()) {
      const auto& [name, want] = *w->get_object().begin();
      auto idx = index_by_name(m, name);
      auto held = idx ? binary_wire(s.fields[*idx], v[*idx]) : std::nullopt;
      if (!held || *held != want.to_number<std::uint64_t>()) {
        if (const json::value* o = a.if_contains("otherwise"); o && o->is_string())
          v[i] = std::string(o->get_string());
        else
          v[i].reset();
        continue;
      }
    }
    if (given[i] || bool_of(a, "derived")) continue;
    const std::string type = str_of(a, "type", "uint");
    if (const json::value* map = a.if_contains("map"); map && map->is_object()) {
      const auto& names = map->get_object();
      auto it = names.begin() + static_cast<std::ptrdiff_t>(g.below(names.size()));
      v[i] = std::string(it->key());
      continue;
    }
    const unsigned bits = type == "bits" ? static_cast<unsigned>(size_of(a, "bits", 1))
                                         : static_cast<unsigned>(8 * size_of(a, "size", 1));
    if (type == "bytes") {
      const std::size_t n = a.contains("length_from") ? g.below(5) : size_of(a, "size", 1);
      v[i] = g.from("0123456789abcdef", 2 * n);
      continue;
    }
    if (!a.contains("items")) {
      v[i] = binary_integer(g, bits, type == "int");
      continue;
    }
    const bool bitmap = type == "bitmap";
    std::size_t count = g.below(6);
    if (bitmap && !a.contains("count_from")) count = 8 * g.below(3);  // whole bytes come back
    std::string text = "[";
    for (std::size_t k = 0; k < count; ++k) {
      if (k) text += ",";
      text += bitmap ? (g.coin() ? "true" : "false") : binary_integer(g, bits, type == "int");
    }
    v[i] = text + "]";
  }
}

inline void generate(generator& g, const dc::message_def& m, const message_shape& s,
                     dc::record& r) {
  const std::size_t n = m.fields.size();
  std::vector<value> v(n);
  std::vector<bool> given(n, false);  // constants and match values: exactly these
  for (std::size_t i = 0; i < n; ++i) {
    if (m.fields[i].constant) {
      v[i] = *m.fields[i].constant;
      given[i] = true;
    }
  }
  for (const auto& [i, text] : m.match) {
    v[i] = text;
    given[i] = true;
  }
  const message_shape::alt* alt = nullptr;
  if (s.layout == "template" && !s.alts.empty()) alt = &s.alts[g.below(s.alts.size())];
  if (s.layout == "binary") binary_values(g, m, s, v, given);
  for (std::size_t i = 0; i < n && s.layout != "binary"; ++i) {
    if (given[i]) continue;
    const json::object& a = s.fields[i];
    const bool optional = !m.fields[i].required;
    if (s.layout == "fixed") {
      v[i] = optional && g.below(5) == 0 ? value() : fixed_value(g, a);
    } else if (s.layout == "iso8583") {
      v[i] = str_of(a, "type", "") != "mti" && optional && g.coin() ? value() : iso_value(g, a);
    } else if (s.layout == "template") {
      const bool placed = std::find(alt->placed.begin(), alt->placed.end(), i) != alt->placed.end();
      const bool counted =
          std::find(alt->counted.begin(), alt->counted.end(), i) != alt->counted.end();
      if (placed || counted) v[i] = template_value(g, a, counted);
    } else if (a.contains("components")) {
      v[i] = optional && g.coin() ? value() : group_value(g, a);
    } else {
      v[i] = optional && g.coin() ? value() : delimited_value(g, a);
    }
  }
  if (alt) {
    for (const auto& [i, text] : alt->sets) v[i] = text;
    for (const auto& [count, counted] : alt->count_of)
      v[count] = std::to_string(v[counted] ? v[counted]->size() : 0);
  }
  r.reset(n);
  for (std::size_t i = 0; i < n; ++i)
    if (v[i]) r.set(i, *v[i]);
}

// What decoding gives back for the value of field i (documented normalisation).
inline value normal(const message_shape& s, std::size_t i, const value& v) {
  const json::object& a = s.fields[i];
  if (s.layout == "fixed") return fixed_normal(a, v);
  if (s.layout == "iso8583") return iso_normal(a, v);
  if (s.layout == "template" || s.layout == "binary") return v;
  if (a.contains("components")) return group_normal(a, v);
  return delimited_normal(a, v);
}

}  // namespace roundtrip
