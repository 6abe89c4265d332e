// What flat delimited lines and the segment model share: reading the message's delimiters and
// escape, writing and reading escaped text (single-character and HL7 styles) and numbers.
#include "codecs/delimited_text.hpp"

#include "codecs/layout_impl.hpp"

#include <cstdint>
#include <string>
#include <utility>

namespace dragoman::codecs::delimited_detail {

namespace {

using decimal::charset_digits;

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

// Repetitions and subcomponents exist only in segments; a flat line's terminator does not.
void check_delimiter_use(config_object& m, const delimiters& d) {
  if (d.segment.empty()) {
    if (!d.repetition.empty())
      m.diag().error(m.child_path("repetition_separator"), "needs segment_separator");
    if (!d.subcomponent.empty())
      m.diag().error(m.child_path("subcomponent_separator"), "needs segment_separator");
  } else if (!d.terminator.empty()) {
    m.diag().error(m.child_path("terminator"),
                   "is not used with segment_separator (every segment ends with it)");
  }
}

// Two levels with one separator could not be told apart on decode.
void check_distinct(config_object& m, const delimiters& d) {
  const std::pair<std::string_view, const std::string*> seps[] = {
      {"separator", &d.separator},
      {"component_separator", &d.component},
      {"repetition_separator", &d.repetition},
      {"subcomponent_separator", &d.subcomponent},
      {"segment_separator", &d.segment}};
  for (std::size_t a = 1; a < std::size(seps); ++a) {
    for (std::size_t b = 0; b < a; ++b) {
      if (seps[a].second->empty() || *seps[a].second != *seps[b].second) continue;
      m.diag().error(m.child_path(seps[a].first), "must differ from " + std::string(seps[b].first));
      break;
    }
  }
}

// The HL7 style always has an escape character (default '\'); the other only when configured.
void read_escape(config_object& m, const charset* cs, delimiters& d) {
  d.hl7 = m.get_enum("escape_style", {"char", "hl7"}, "char") == "hl7";
  if (!m.has("escape") && !d.hl7) return;
  std::string text;
  d.escape = layout_detail::read_char_key(m, "escape", "\\", cs, text);
  const char e = static_cast<char>(d.escape);
  if (d.escape >= 0 &&
      (d.separator.find(e) != std::string::npos || d.component.find(e) != std::string::npos ||
       d.terminator.find(e) != std::string::npos || d.repetition.find(e) != std::string::npos ||
       d.subcomponent.find(e) != std::string::npos || d.segment.find(e) != std::string::npos)) {
    m.diag().error(m.child_path("escape"), "must differ from the separators and terminator");
  }
}

codec_error too_long(std::string_view name, std::size_t max_length, std::size_t chars) {
  return make_error(errc::invalid_field, std::string(name),
                    "is " + std::to_string(chars) + " characters, longer than its max_length " +
                        std::to_string(max_length));
}

// Longest sequence hl7_sequence writes: escape, letter, 16 bytes as hex, escape.
constexpr std::size_t max_hl7_sequence = 3 + 2 * 16;

// HL7 2.7 escape sequences for the n structural bytes at `at`: \F\ \S\ \R\ \T\ \E\, other
// structural bytes (segment end, terminator) as \Xhh..\. Returns the length written to seq.
std::size_t hl7_sequence(const hl7_codes& codes, byte esc, char kind, const byte* at, std::size_t n,
                         byte* seq) {
  std::size_t len = 0;
  seq[len++] = esc;
  switch (kind) {
    case 'F':
      seq[len++] = codes.F;
      break;
    case 'S':
      seq[len++] = codes.S;
      break;
    case 'R':
      seq[len++] = codes.R;
      break;
    case 'T':
      seq[len++] = codes.T;
      break;
    case 'E':
      seq[len++] = codes.E;
      break;
    default:
      seq[len++] = codes.X;
      for (std::size_t k = 0; k < n && k < 16; ++k) {
        seq[len++] = codes.hex_digit[at[k] >> 4];
        seq[len++] = codes.hex_digit[at[k] & 0xF];
      }
  }
  seq[len++] = esc;
  return len;
}

// The escape sequence in[k..j] (both ends the escape character). Unknown sequences (\H\, \N\,
// \.br\, \Cxxyy\ ...) are kept as they are.
template <class Flush>
result<void> decode_hl7_sequence(const hl7_codes& codes, const delimiters& d, byte_view in,
                                 std::size_t k, std::size_t j, Flush& flush) {
  const byte_view body = in.subspan(k + 1, j - k - 1);
  if (body.size() == 1) {
    const byte c = body[0];
    const std::string* seq = c == codes.F   ? &d.separator
                             : c == codes.S ? &d.component
                             : c == codes.T ? &d.subcomponent
                             : c == codes.R ? &d.repetition
                                            : nullptr;
    if (seq && !seq->empty()) return flush(as_bytes(*seq), k);
    if (c == codes.E) return flush(in.subspan(k, 1), k);
  } else if (body.size() >= 3 && body[0] == codes.X && body.size() % 2 == 1 &&
             body.size() <= 1 + 2 * 64) {
    byte bytes[64];
    std::size_t n = 0;
    bool ok = true;
    for (std::size_t h = 1; h + 1 < body.size(); h += 2) {
      const int hi = codes.hex_value[body[h]];
      const int lo = codes.hex_value[body[h + 1]];
      if (hi < 0 || lo < 0) {
        ok = false;
        break;
      }
      bytes[n++] = static_cast<byte>(hi << 4 | lo);
    }
    if (ok) return flush(byte_view(bytes, n), k);
  }
  return flush(in.subspan(k, j + 1 - k), k);
}

}  // namespace

text_options read_text_options(layout_context& ctx) {
  config_object& m = ctx.message;
  text_options o;
  o.cs = layout_detail::resolve_charset(m, ctx.default_charset);
  delimiters& d = o.d;
  d.separator = read_delimiter(m, "separator", o.cs, true);
  d.component = read_delimiter(m, "component_separator", o.cs, false);
  d.terminator = read_delimiter(m, "terminator", o.cs, false);
  d.segment = read_delimiter(m, "segment_separator", o.cs, false);
  d.repetition = read_delimiter(m, "repetition_separator", o.cs, false);
  d.subcomponent = read_delimiter(m, "subcomponent_separator", o.cs, false);
  check_delimiter_use(m, d);
  check_distinct(m, d);
  read_escape(m, o.cs, d);
  o.have_digits = decimal::make_charset_digits(o.cs, o.digits);
  return o;
}

hl7_codes read_hl7_codes(config_object& m, const charset* cs, bool hl7) {
  hl7_codes codes;
  codes.hex_value.fill(-1);
  if (!hl7) return codes;
  bool ok = true;
  auto code = [&](char c, byte& out) {
    const int w = cs->encode_char(static_cast<char32_t>(c));
    if (w < 0)
      ok = false;
    else
      out = static_cast<byte>(w);
  };
  code('F', codes.F);
  code('S', codes.S);
  code('T', codes.T);
  code('R', codes.R);
  code('E', codes.E);
  code('X', codes.X);
  static constexpr char hex[] = "0123456789ABCDEF";
  for (int k = 0; k < 16; ++k) {
    code(hex[k], codes.hex_digit[static_cast<std::size_t>(k)]);
    codes.hex_value[codes.hex_digit[static_cast<std::size_t>(k)]] = static_cast<signed char>(k);
    // Readers accept lower-case hex digits too.
    const int lower = cs->encode_char(static_cast<char32_t>(k < 10 ? hex[k] : 'a' + (k - 10)));
    if (lower >= 0) codes.hex_value[static_cast<std::size_t>(lower)] = static_cast<signed char>(k);
  }
  if (!ok)
    m.diag().error(m.child_path("escape_style"),
                   "charset " + std::string(cs->name()) + " cannot write HL7 escape sequences");
  return codes;
}

void read_value_format(config_object& c, const text_options& o, value_format& f) {
  f.numeric = c.get_enum("type", {"text", "numeric"}, "text") == "numeric";
  if (f.numeric) {
    f.decimals = static_cast<int>(c.get_int("decimals", 0, 0, 30));
    f.is_signed = c.get_bool("signed", false);
    f.implied = c.get_bool("implied_decimals", false);
    f.style = layout_detail::read_digits_style(c, f.is_signed, f.decimals);
    if (!o.have_digits) {
      c.diag().error(c.child_path("type"),
                     "charset " + std::string(o.cs->name()) + " has no digits or sign characters");
    }
  }
  if (auto max = c.get_optional_int("max_length", 1, 1 << 20))
    f.max_length = static_cast<std::size_t>(*max);
}

void refuse_keys(config_object& c, std::initializer_list<std::string_view> keys,
                 std::string_view reason) {
  for (std::string_view key : keys) {
    if (!c.has(key)) continue;
    c.accept(key);
    c.diag().error(c.child_path(key), std::string(reason));
  }
}

std::string wire_text(const charset* cs, std::string_view text) {
  byte_buffer wire;
  if (!cs->encode(text, wire)) return {};
  return std::string(as_chars(wire));
}

result<void> text_codec::encode_text(std::string_view name, std::size_t max_length,
                                     std::string_view v, byte_buffer& out) const {
  if (max_length) {
    const std::size_t chars = cs_->wire_length(v);
    if (chars > max_length) return too_long(name, max_length, chars);
  }
  const std::size_t start = out.size();
  auto done = cs_->encode(v, out);
  if (!done) {
    out.resize(start);
    codec_error e = std::move(done).error();
    e.where = std::string(name);
    return e;
  }
  // Escapes are found in the wire bytes: a separator may be a byte the charset maps a character to.
  // Only a byte that starts a delimiter, the escape or (HL7) a control byte can begin a sequence
  // to escape: the others are passed over with one test instead of a comparison per delimiter.
  std::uint64_t may_start[4] = {0, 0, 0, 0};
  auto mark = [&](unsigned b) { may_start[b >> 6] |= std::uint64_t{1} << (b & 63); };
  for (const std::string* seq : {&d_.separator, &d_.component, &d_.repetition, &d_.subcomponent,
                                 &d_.terminator, &d_.segment})
    if (!seq->empty()) mark(static_cast<unsigned char>((*seq)[0]));
  if (d_.escape >= 0) mark(static_cast<unsigned>(d_.escape));
  if (d_.hl7 && d_.escape >= 0) {
    may_start[0] |= 0xFFFFFFFFu;  // 0x00-0x1F
    mark(0x7F);
  }
  for (std::size_t i = start; i < out.size(); ++i) {
    if (!(may_start[out[i] >> 6] >> (out[i] & 63) & 1)) continue;
    char kind = 0;
    std::size_t n = d_.special_at(out, i, out.size(), &kind);
    // HL7 text carries no control bytes: they are hex escapes (\X0B\), so that a value can never
    // hold what ends a segment or an MLLP block (0B, 1C) for a receiver that splits on it.
    if (n == 0 && d_.hl7 && d_.escape >= 0 && (out[i] < 0x20 || out[i] == 0x7F)) {
      n = 1;
      kind = 'X';
    }
    if (n == 0) continue;
    if (d_.escape < 0) {
      const std::string seq(reinterpret_cast<const char*>(out.data() + i), n);
      out.resize(start);
      return make_error(errc::invalid_field, std::string(name),
                        "contains the separator " + layout_detail::quote_bytes(seq) +
                            " and the layout has no escape");
    }
    if (!d_.hl7) {
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(i), static_cast<byte>(d_.escape));
      i += n;  // past the escape and the sequence (the loop adds the last one)
      continue;
    }
    byte seq[max_hl7_sequence];
    const std::size_t len =
        hl7_sequence(codes_, static_cast<byte>(d_.escape), kind, out.data() + i, n, seq);
    const auto at = out.begin() + static_cast<std::ptrdiff_t>(i);
    out.erase(at, at + static_cast<std::ptrdiff_t>(n));
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(i), seq, seq + len);
    i += len - 1;
  }
  return {};
}

result<void> text_codec::encode_number(const value_format& f, std::string_view v,
                                       byte_buffer& out) const {
  if (v.empty()) return {};  // absent: an empty field
  char buf[decimal::max_digits];
  bool negative = false;
  const auto s = decimal::to_digits(v, f.decimals, f.is_signed, buf, decimal::max_digits, negative);
  if (s != decimal::status::ok) {
    return make_error(errc::invalid_field, f.name,
                      decimal::message(s, f.decimals, decimal::max_digits));
  }
  const std::size_t whole_end = decimal::max_digits - static_cast<std::size_t>(f.decimals);
  std::size_t first = 0;
  std::size_t keep_from = f.implied ? decimal::max_digits - 1 : whole_end - 1;
  if (f.style == decimal::digits_style::as_written) {  // the zeros the value was written with
    const std::size_t written = std::max<std::size_t>(decimal::written_integer_digits(v), 1);
    keep_from = std::min(keep_from, whole_end - std::min(written, whole_end));
  }
  while (first < keep_from && buf[first] == '0') ++first;
  const std::size_t chars =
      (negative ? 1 : 0) + (decimal::max_digits - first) + (!f.implied && f.decimals > 0 ? 1 : 0);
  if (f.max_length && chars > f.max_length) return too_long(f.name, f.max_length, chars);
  if (negative) out.push_back(digits_.minus);
  for (std::size_t k = first; k < decimal::max_digits; ++k) {
    if (k == whole_end && !f.implied) out.push_back(digits_.point);
    out.push_back(digits_.digit[buf[k] - '0']);
  }
  return {};
}

result<void> text_codec::decode_value(const delimiters& d, const value_format& f, byte_view in,
                                      std::size_t b, std::size_t e, record& r,
                                      std::size_t i) const {
  if (f.numeric) return decode_number(f, in, b, e, r, i);
  std::string& slot = r.slot(i);
  slot.clear();
  if (auto ok = decode_text(d, f.name, in, b, e, slot); !ok) return ok;
  r.set_present(i);
  return {};
}

result<void> text_codec::decode_text(const delimiters& d, std::string_view name, byte_view in,
                                     std::size_t b, std::size_t e, std::string& out) const {
  auto flush = [&](byte_view bytes, std::size_t offset) -> result<void> {
    if (bytes.empty()) return {};
    auto done = cs_->decode(bytes, out);
    if (done) return {};
    codec_error err = std::move(done).error();
    err.code = errc::malformed;
    err.where = std::string(name);
    err.message += " in field at offset " + std::to_string(offset);
    return err;
  };
  auto flush_range = [&](std::size_t from, std::size_t to) {
    return flush(in.subspan(from, to - from), from);
  };
  std::size_t segment = b;
  if (d.escape >= 0 && !d.hl7) {
    for (std::size_t k = b; k < e;) {
      if (in[k] != static_cast<byte>(d.escape)) {
        ++k;
        continue;
      }
      if (auto ok = flush_range(segment, k); !ok) return ok;
      const std::size_t n = d.escaped_length(in, k, e);
      // A dangling escape at the end stays as it is; otherwise drop it, keep what it covers.
      segment = n == 1 ? k : k + 1;
      k += n;
      if (auto ok = flush_range(segment, k); !ok) return ok;
      segment = k;
    }
  } else if (d.escape >= 0) {
    const auto esc = static_cast<byte>(d.escape);
    for (std::size_t k = b; k < e;) {
      if (in[k] != esc) {
        ++k;
        continue;
      }
      std::size_t j = k + 1;
      while (j < e && in[j] != esc) ++j;
      if (j >= e) break;  // no closing escape: the rest is literal
      if (auto ok = flush_range(segment, k); !ok) return ok;
      if (auto ok = decode_hl7_sequence(codes_, d, in, k, j, flush); !ok) return ok;
      k = j + 1;
      segment = k;
    }
  }
  return flush_range(segment, e);
}

result<void> text_codec::decode_number(const value_format& f, byte_view in, std::size_t b,
                                       std::size_t e, record& r, std::size_t i) const {
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
  const std::string_view written(text, n);
  const auto s =
      decimal::to_digits(written, scale, f.is_signed, buf, decimal::max_digits, negative);
  if (s != decimal::status::ok) {
    return make_error(
        errc::malformed, f.name,
        decimal::message(s, f.decimals, decimal::max_digits) + " at offset " + std::to_string(b));
  }
  // as_written keeps the integer digits the wire had (implied decimals count among them).
  std::size_t from = 0;
  if (f.style == decimal::digits_style::as_written) {
    const std::size_t kept = decimal::written_integer_digits(written) +
                             (f.implied ? 0 : static_cast<std::size_t>(f.decimals));
    from = decimal::max_digits -
           std::min(std::max(kept, static_cast<std::size_t>(f.decimals) + 1), decimal::max_digits);
  }
  std::string& slot = r.slot(i);
  slot.clear();
  decimal::append_digits(slot, std::string_view(buf + from, decimal::max_digits - from), f.decimals,
                         negative, f.style);
  r.set_present(i);
  return {};
}

boost::json::object text_codec::describe() const {
  using layout_detail::quote_bytes;
  boost::json::object o;
  o["type"] = "delimited";
  o["separator"] = quote_bytes(d_.separator);
  if (!d_.component.empty()) o["component_separator"] = quote_bytes(d_.component);
  if (!d_.repetition.empty()) o["repetition_separator"] = quote_bytes(d_.repetition);
  if (!d_.subcomponent.empty()) o["subcomponent_separator"] = quote_bytes(d_.subcomponent);
  if (d_.escape >= 0) o["escape"] = quote_bytes(std::string(1, static_cast<char>(d_.escape)));
  if (d_.hl7) o["escape_style"] = "hl7";
  if (!d_.terminator.empty()) o["terminator"] = quote_bytes(d_.terminator);
  if (!d_.segment.empty()) o["segment_separator"] = quote_bytes(d_.segment);
  return o;
}

void text_codec::describe_value(const value_format& f, boost::json::object& o) {
  o["type"] = f.numeric ? "numeric" : "text";
  if (f.numeric) {
    o["decimals"] = f.decimals;
    o["signed"] = f.is_signed;
    o["implied_decimals"] = f.implied;
    o["digits"] = layout_detail::digits_style_name(f.style);
  }
  if (f.max_length) o["max_length"] = f.max_length;
}

}  // namespace dragoman::codecs::delimited_detail
