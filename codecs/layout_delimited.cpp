// Delimited layout: one line of separated fields and components, with escapes (CSV/HL7-like).
#include "codecs/decimal.hpp"
#include "codecs/layout.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::codecs {

// Shared layout helpers, defined in layout.cpp.
namespace layout_detail {
const charset* resolve_charset(config_object& cfg, const charset* fallback);
int read_char_key(config_object& cfg, std::string_view key, std::string_view fallback,
                  const charset* cs, std::string& text);
std::string quote_bytes(std::string_view text);
}  // namespace layout_detail

namespace {

using decimal::charset_digits;

// The wire bytes that structure a line. The HL7 segment model adds a segment terminator and a
// repetition separator here; the scanner below already handles any number of levels, each one
// a separator searched for within the span of the level above.
struct delimiters {
  std::string separator;  // between fields
  std::string component;  // between components of a field; empty when not configured
  int escape = -1;        // wire byte that makes the next separator (or itself) literal
  std::string terminator;

  static bool match(byte_view in, std::size_t i, std::size_t limit, std::string_view seq) {
    if (seq.empty() || limit - i < seq.size()) return false;
    return std::equal(seq.begin(), seq.end(), in.begin() + static_cast<std::ptrdiff_t>(i),
                      [](char a, byte b) { return static_cast<byte>(a) == b; });
  }

  // Length of the structural sequence starting at i (which a value must escape), or 0.
  std::size_t special_at(byte_view in, std::size_t i, std::size_t limit) const {
    std::size_t n = 0;
    if (match(in, i, limit, separator)) n = separator.size();
    if (match(in, i, limit, component)) n = std::max(n, component.size());
    if (match(in, i, limit, terminator)) n = std::max(n, terminator.size());
    if (escape >= 0 && in[i] == static_cast<byte>(escape)) n = std::max<std::size_t>(n, 1);
    return n;
  }

  // Bytes an escape at i covers: the structural sequence after it, or one byte.
  std::size_t escaped_length(byte_view in, std::size_t i, std::size_t limit) const {
    if (i + 1 >= limit) return limit - i;  // a dangling escape is kept literally
    const std::size_t n = special_at(in, i + 1, limit);
    return 1 + (n ? n : 1);
  }

  // End of the token that starts at `start` and ends before `seq` or at `limit`.
  std::size_t find_end(byte_view in, std::size_t start, std::size_t limit,
                       std::string_view seq) const {
    std::size_t i = start;
    while (i < limit) {
      if (escape >= 0 && in[i] == static_cast<byte>(escape)) {
        i += escaped_length(in, i, limit);
      } else if (match(in, i, limit, seq)) {
        return i;
      } else {
        ++i;
      }
    }
    return limit;
  }
};

struct delimited_field {
  std::string name;
  std::size_t position = 0;
  int component = -1;  // -1: the whole field
  bool numeric = false;
  int decimals = 0;
  bool is_signed = false;
  bool implied = false;        // numeric digits without a decimal point
  std::size_t max_length = 0;  // characters; 0 for no limit
};

class delimited_layout final : public layout {
 public:
  delimited_layout(std::vector<delimited_field> fields, std::vector<std::size_t> order,
                   delimiters d, const charset* cs, const charset_digits& digits)
      : fields_(std::move(fields)),
        order_(std::move(order)),
        d_(std::move(d)),
        cs_(cs),
        digits_(digits) {}

  result<void> encode(const record& r, byte_buffer& out) const override {
    std::size_t position = 0;
    int component = 0;
    for (std::size_t i : order_) {
      const delimited_field& f = fields_[i];
      while (position < f.position) {
        append(out, d_.separator);
        ++position;
        component = 0;
      }
      while (component < f.component) {
        append(out, d_.component);
        ++component;
      }
      auto done = f.numeric ? encode_number(f, r.get(i), out) : encode_text(f, r.get(i), out);
      if (!done) return done;
    }
    append(out, d_.terminator);
    return {};
  }

  result<void> decode(byte_view payload, record& r) const override {
    std::size_t limit = payload.size();
    if (!d_.terminator.empty() && limit >= d_.terminator.size() &&
        delimiters::match(payload, limit - d_.terminator.size(), limit, d_.terminator)) {
      limit -= d_.terminator.size();
    }
    // One pass over the fields in position order; components are found within their field.
    std::size_t position = 0;
    std::size_t begin = 0;
    std::size_t end = d_.find_end(payload, 0, limit, d_.separator);
    for (std::size_t i : order_) {
      const delimited_field& f = fields_[i];
      while (position < f.position && end < limit) {
        begin = end + d_.separator.size();
        end = d_.find_end(payload, begin, limit, d_.separator);
        ++position;
      }
      if (position < f.position) {  // the line has fewer fields
        r.clear(i);
        continue;
      }
      std::size_t vb = begin;
      std::size_t ve = end;
      if (f.component >= 0) {
        ve = d_.find_end(payload, vb, end, d_.component);
        int c = 0;
        while (c < f.component && ve < end) {
          vb = ve + d_.component.size();
          ve = d_.find_end(payload, vb, end, d_.component);
          ++c;
        }
        if (c < f.component) {
          r.clear(i);
          continue;
        }
      }
      auto done = f.numeric ? decode_number(f, payload, vb, ve, r, i)
                            : decode_text(f, payload, vb, ve, r, i);
      if (!done) return done;
    }
    return {};
  }

  boost::json::object describe_field(std::size_t index) const override {
    boost::json::object o;
    if (index >= fields_.size()) return o;
    const delimited_field& f = fields_[index];
    o["position"] = f.position;
    if (f.component >= 0) o["component"] = f.component;
    o["type"] = f.numeric ? "numeric" : "text";
    if (f.numeric) {
      o["decimals"] = f.decimals;
      o["signed"] = f.is_signed;
      o["implied_decimals"] = f.implied;
    }
    if (f.max_length) o["max_length"] = f.max_length;
    return o;
  }

  boost::json::object describe() const override {
    boost::json::object o;
    o["type"] = "delimited";
    o["separator"] = layout_detail::quote_bytes(d_.separator);
    if (!d_.component.empty()) o["component_separator"] = layout_detail::quote_bytes(d_.component);
    if (d_.escape >= 0)
      o["escape"] = layout_detail::quote_bytes(std::string(1, static_cast<char>(d_.escape)));
    if (!d_.terminator.empty()) o["terminator"] = layout_detail::quote_bytes(d_.terminator);
    o["charset"] = cs_->name();
    return o;
  }

 private:
  static codec_error too_long(const delimited_field& f, std::size_t chars) {
    return make_error(errc::invalid_field, f.name,
                      "is " + std::to_string(chars) + " characters, longer than its max_length " +
                          std::to_string(f.max_length));
  }

  result<void> encode_text(const delimited_field& f, std::string_view v, byte_buffer& out) const {
    if (f.max_length) {
      const std::size_t chars = cs_->wire_length(v);
      if (chars > f.max_length) return too_long(f, chars);
    }
    const std::size_t start = out.size();
    auto done = cs_->encode(v, out);
    if (!done) {
      out.resize(start);
      codec_error e = std::move(done).error();
      e.where = f.name;
      return e;
    }
    for (std::size_t i = start; i < out.size(); ++i) {
      const std::size_t n = d_.special_at(out, i, out.size());
      if (n == 0) continue;
      if (d_.escape < 0) {
        const std::string seq(reinterpret_cast<const char*>(out.data() + i), n);
        out.resize(start);
        return make_error(errc::invalid_field, f.name,
                          "contains the separator " + layout_detail::quote_bytes(seq) +
                              " and the layout has no escape");
      }
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(i), static_cast<byte>(d_.escape));
      i += n;  // past the escape and the sequence (the loop adds the last one)
    }
    return {};
  }

  result<void> encode_number(const delimited_field& f, std::string_view v, byte_buffer& out) const {
    if (v.empty()) return {};  // absent: an empty field
    char buf[decimal::max_digits];
    bool negative = false;
    const auto s =
        decimal::to_digits(v, f.decimals, f.is_signed, buf, decimal::max_digits, negative);
    if (s != decimal::status::ok) {
      return make_error(errc::invalid_field, f.name,
                        decimal::message(s, f.decimals, decimal::max_digits));
    }
    const std::size_t whole_end = decimal::max_digits - static_cast<std::size_t>(f.decimals);
    std::size_t first = 0;
    const std::size_t keep_from = f.implied ? decimal::max_digits - 1 : whole_end - 1;
    while (first < keep_from && buf[first] == '0') ++first;
    const std::size_t chars =
        (negative ? 1 : 0) + (decimal::max_digits - first) + (!f.implied && f.decimals > 0 ? 1 : 0);
    if (f.max_length && chars > f.max_length) return too_long(f, chars);
    if (negative) out.push_back(digits_.minus);
    for (std::size_t k = first; k < decimal::max_digits; ++k) {
      if (k == whole_end && !f.implied) out.push_back(digits_.point);
      out.push_back(digits_.digit[buf[k] - '0']);
    }
    return {};
  }

  result<void> decode_text(const delimited_field& f, byte_view in, std::size_t b, std::size_t e,
                           record& r, std::size_t i) const {
    std::string& slot = r.slot(i);
    slot.clear();
    std::size_t segment = b;
    auto flush = [&](std::size_t from, std::size_t to) -> result<void> {
      if (from == to) return {};
      auto done = cs_->decode(in.subspan(from, to - from), slot);
      if (done) return {};
      codec_error err = std::move(done).error();
      err.code = errc::malformed;
      err.where = f.name;
      err.message += " in field at offset " + std::to_string(from);
      return err;
    };
    if (d_.escape >= 0) {
      for (std::size_t k = b; k < e;) {
        if (in[k] != static_cast<byte>(d_.escape)) {
          ++k;
          continue;
        }
        if (auto ok = flush(segment, k); !ok) return ok;
        const std::size_t n = d_.escaped_length(in, k, e);
        // A dangling escape at the end stays as it is; otherwise drop it, keep what it covers.
        segment = n == 1 ? k : k + 1;
        k += n;
        if (auto ok = flush(segment, k); !ok) return ok;
        segment = k;
      }
    }
    if (auto ok = flush(segment, e); !ok) return ok;
    r.set_present(i);
    return {};
  }

  result<void> decode_number(const delimited_field& f, byte_view in, std::size_t b, std::size_t e,
                             record& r, std::size_t i) const {
    if (b == e) {  // an empty numeric field has no value
      r.clear(i);
      return {};
    }
    char text[decimal::max_digits + 2];
    if (e - b > sizeof text) {
      return make_error(errc::malformed, f.name,
                        "more than " + std::to_string(decimal::max_digits) + " digits at offset " +
                            std::to_string(b));
    }
    std::size_t n = 0;
    for (std::size_t k = b; k < e; ++k) {
      const signed char c = digits_.reverse[in[k]];
      char ch = 0;
      if (c >= 0 && c <= 9) {
        ch = static_cast<char>('0' + c);
      } else if (c == charset_digits::minus_code && k == b) {
        ch = '-';
      } else if (c == charset_digits::plus_code && k == b) {
        ch = '+';
      } else if (c == charset_digits::point_code && !f.implied) {
        ch = '.';
      } else {
        return make_error(errc::malformed, f.name, "not a digit at offset " + std::to_string(k));
      }
      text[n++] = ch;
    }
    char buf[decimal::max_digits];
    bool negative = false;
    const int scale = f.implied ? 0 : f.decimals;
    const auto s = decimal::to_digits(std::string_view(text, n), scale, f.is_signed, buf,
                                      decimal::max_digits, negative);
    if (s != decimal::status::ok) {
      return make_error(
          errc::malformed, f.name,
          decimal::message(s, f.decimals, decimal::max_digits) + " at offset " + std::to_string(b));
    }
    std::string& slot = r.slot(i);
    slot.clear();
    decimal::append_canonical(slot, std::string_view(buf, decimal::max_digits), f.decimals,
                              negative);
    r.set_present(i);
    return {};
  }

  std::vector<delimited_field> fields_;
  std::vector<std::size_t> order_;  // field indices by (position, component)
  delimiters d_;
  const charset* cs_;
  charset_digits digits_;
};

// A separator written as text (through the charset) or as an array of raw byte values.
std::string read_delimiter(config_object& m, std::string_view key, const charset* cs,
                           bool required) {
  if (!m.has(key)) {
    m.accept(key);
    if (required) m.diag().error(m.child_path(key), "is required");
    return {};
  }
  const boost::json::value* v = m.raw().if_contains(key);
  auto bytes = m.get_bytes(key);
  if (!bytes) return {};
  if (bytes->empty()) {
    m.diag().error(m.child_path(key), "must not be empty");
    return {};
  }
  if (v && v->is_array()) return *bytes;
  byte_buffer wire;
  if (auto ok = cs->encode(*bytes, wire); !ok) {
    m.diag().error(m.child_path(key),
                   ok.error().message + " in charset " + std::string(cs->name()));
    return {};
  }
  return std::string(as_chars(wire));
}

}  // namespace

std::unique_ptr<layout> make_delimited_layout(layout_context& ctx) {
  config_object& m = ctx.message;
  const charset* cs = layout_detail::resolve_charset(m, ctx.default_charset);
  delimiters d;
  d.separator = read_delimiter(m, "separator", cs, true);
  d.component = read_delimiter(m, "component_separator", cs, false);
  d.terminator = read_delimiter(m, "terminator", cs, false);
  if (!d.component.empty() && d.component == d.separator) {
    m.diag().error(m.child_path("component_separator"), "must differ from separator");
  }
  if (m.has("escape")) {
    std::string text;
    d.escape = layout_detail::read_char_key(m, "escape", {}, cs, text);
    const char e = static_cast<char>(d.escape);
    if (d.escape >= 0 &&
        (d.separator.find(e) != std::string::npos || d.component.find(e) != std::string::npos ||
         d.terminator.find(e) != std::string::npos)) {
      m.diag().error(m.child_path("escape"), "must differ from the separators and terminator");
    }
  }
  charset_digits digits;
  const bool have_digits = decimal::make_charset_digits(cs, digits);

  std::vector<delimited_field> fields;
  fields.reserve(ctx.fields.size());
  for (std::size_t i = 0; i < ctx.fields.size(); ++i) {
    config_object& c = ctx.fields[i];
    delimited_field f;
    f.name = i < ctx.field_names.size() ? ctx.field_names[i] : std::string();
    f.position =
        static_cast<std::size_t>(c.get_int("position", static_cast<std::int64_t>(i), 0, 100000));
    if (auto comp = c.get_optional_int("component", 0, 1000)) {
      if (d.component.empty()) {
        c.diag().error(c.child_path("component"), "needs the message's component_separator");
      } else {
        f.component = static_cast<int>(*comp);
      }
    }
    f.numeric = c.get_enum("type", {"text", "numeric"}, "text") == "numeric";
    if (f.numeric) {
      f.decimals = static_cast<int>(c.get_int("decimals", 0, 0, 30));
      f.is_signed = c.get_bool("signed", false);
      f.implied = c.get_bool("implied_decimals", false);
      if (!have_digits) {
        c.diag().error(c.child_path("type"),
                       "charset " + std::string(cs->name()) + " has no digits or sign characters");
      }
    }
    if (auto max = c.get_optional_int("max_length", 1, 1 << 20))
      f.max_length = static_cast<std::size_t>(*max);
    fields.push_back(std::move(f));
  }

  std::vector<std::size_t> order(fields.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (fields[a].position != fields[b].position) return fields[a].position < fields[b].position;
    return fields[a].component < fields[b].component;
  });
  for (std::size_t k = 1; k < order.size(); ++k) {
    const delimited_field& prev = fields[order[k - 1]];
    const delimited_field& cur = fields[order[k]];
    if (prev.position != cur.position) continue;
    if (prev.component == cur.component || prev.component < 0) {
      config_object& c = ctx.fields[order[k]];
      c.diag().error(
          c.child_path(cur.component >= 0 ? "component" : "position"),
          "position " + std::to_string(cur.position) +
              (cur.component >= 0 ? " component " + std::to_string(cur.component) : std::string()) +
              " is already used by field \"" + prev.name + "\"");
    }
  }
  return std::make_unique<delimited_layout>(std::move(fields), std::move(order), std::move(d), cs,
                                            digits);
}

}  // namespace dragoman::codecs
