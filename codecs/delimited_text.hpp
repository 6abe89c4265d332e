// Internal to the delimited layouts (flat lines and segments): delimiters, escapes in both styles,
// numbers and the message keys both models read. Not part of the codecs interface.
#pragma once

#include "codecs/decimal.hpp"
#include "codecs/layout.hpp"

#include <boost/json/object.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace dragoman::codecs::delimited_detail {

// The wire bytes that structure a message. Each level is a separator searched for within the
// span of the level above: segment, field, repetition, component, subcomponent.
struct delimiters {
  std::string separator;     // between fields
  std::string component;     // between components of a field; empty when not configured
  std::string repetition;    // between repetitions of a field (segment model)
  std::string subcomponent;  // between subcomponents of a component (segment model)
  std::string segment;       // ends every segment; empty: one flat line
  std::string terminator;    // flat line only
  int escape = -1;           // wire byte of the escape character
  bool hl7 = false;          // escape sequences (\F\ ...) instead of escaping the next byte

  static bool match(byte_view in, std::size_t i, std::size_t limit, std::string_view seq) {
    if (seq.empty() || limit - i < seq.size()) return false;
    return std::equal(seq.begin(), seq.end(), in.begin() + static_cast<std::ptrdiff_t>(i),
                      [](char a, byte b) { return static_cast<byte>(a) == b; });
  }

  // Length of the structural sequence starting at i (which a value must escape), or 0; kind is
  // its HL7 escape letter: F S R T E, or X for bytes written as hex (segment end, terminator).
  std::size_t special_at(byte_view in, std::size_t i, std::size_t limit,
                         char* kind = nullptr) const {
    std::size_t n = 0;
    char k = 0;
    auto take = [&](std::string_view seq, char letter) {
      if (seq.size() > n && match(in, i, limit, seq)) {
        n = seq.size();
        k = letter;
      }
    };
    take(separator, 'F');
    take(component, 'S');
    take(repetition, 'R');
    take(subcomponent, 'T');
    take(terminator, 'X');
    take(segment, 'X');
    if (escape >= 0 && n == 0 && in[i] == static_cast<byte>(escape)) {
      n = 1;
      k = 'E';
    }
    if (kind) *kind = k;
    return n;
  }

  // Bytes a single-character escape at i covers: the structural sequence after it, or one byte.
  std::size_t escaped_length(byte_view in, std::size_t i, std::size_t limit) const {
    if (i + 1 >= limit) return limit - i;  // a dangling escape is kept literally
    const std::size_t n = special_at(in, i + 1, limit);
    return 1 + (n ? n : 1);
  }

  // End of the token that starts at `start` and ends before `seq` or at `limit`. HL7 escape
  // sequences never contain a separator, so only the single-character style protects one.
  std::size_t find_end(byte_view in, std::size_t start, std::size_t limit,
                       std::string_view seq) const {
    std::size_t i = start;
    while (i < limit) {
      if (!hl7 && escape >= 0 && in[i] == static_cast<byte>(escape)) {
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

// Wire bytes of the characters of HL7 escape sequences, from the layout's charset.
struct hl7_codes {
  byte F = 'F', S = 'S', T = 'T', R = 'R', E = 'E', X = 'X';
  std::array<byte, 16> hex_digit{};
  std::array<signed char, 256> hex_value{};
};

// How one value is written, whichever model places it: text or a number, and its limits.
struct value_format {
  std::string name;  // the record name, for errors
  bool numeric = false;
  int decimals = 0;
  bool is_signed = false;
  bool implied = false;  // numeric digits without a decimal point
  decimal::digits_style style = decimal::digits_style::canonical;  // numeric
  std::size_t max_length = 0;                                      // characters; 0 for no limit
};

// What the message keys both models share say: charset, delimiters, escape, digits.
struct text_options {
  const charset* cs = nullptr;
  delimiters d;
  decimal::charset_digits digits;
  bool have_digits = false;  // the charset can write numbers
  hl7_codes codes;
};

// Reads charset, the separators, escape and escape_style of the message, and checks how they
// combine; hl7 codes are read later (read_hl7_codes) so that mistakes keep their order.
text_options read_text_options(layout_context& ctx);
// The escape-sequence characters in the charset; an error on escape_style when it lacks them.
hl7_codes read_hl7_codes(config_object& m, const charset* cs, bool hl7);
// Reads the value keys of a field (type, decimals, signed, implied_decimals, max_length).
void read_value_format(config_object& c, const text_options& o, value_format& f);
// Refuses each of keys that is present (a key of the other model) with the same reason.
void refuse_keys(config_object& c, std::initializer_list<std::string_view> keys,
                 std::string_view reason);
// Text in the charset's wire bytes, or "" when the charset cannot write it.
std::string wire_text(const charset* cs, std::string_view text);

// Writes and reads values between delimiters: escapes in the layout's style, the charset, digits.
class text_codec {
 public:
  explicit text_codec(text_options o)
      : d_(std::move(o.d)), cs_(o.cs), digits_(o.digits), codes_(o.codes) {}

  const delimiters& delims() const noexcept { return d_; }

  result<void> encode_value(const value_format& f, std::string_view v, byte_buffer& out) const {
    return f.numeric ? encode_number(f, v, out) : encode_text(f.name, f.max_length, v, out);
  }
  // Appends v through the charset with every structural sequence escaped.
  result<void> encode_text(std::string_view name, std::size_t max_length, std::string_view v,
                           byte_buffer& out) const;
  // Sets record slot i from wire bytes [b, e) split with d (the message's own delimiters).
  result<void> decode_value(const delimiters& d, const value_format& f, byte_view in, std::size_t b,
                            std::size_t e, record& r, std::size_t i) const;
  // Appends the text of wire bytes [b, e) with escapes removed.
  result<void> decode_text(const delimiters& d, std::string_view name, byte_view in, std::size_t b,
                           std::size_t e, std::string& out) const;

  // "type" and the delimiters, in the order describe() has always listed them; charset is
  // added last by the caller, after the model's own keys.
  boost::json::object describe() const;
  std::string_view charset_name() const noexcept { return cs_->name(); }
  // A field's value attributes (type, decimals, ..., max_length).
  static void describe_value(const value_format& f, boost::json::object& o);

 private:
  result<void> encode_number(const value_format& f, std::string_view v, byte_buffer& out) const;
  result<void> decode_number(const value_format& f, byte_view in, std::size_t b, std::size_t e,
                             record& r, std::size_t i) const;

  delimiters d_;
  const charset* cs_;
  decimal::charset_digits digits_;
  hl7_codes codes_;
};

}  // namespace dragoman::codecs::delimited_detail
