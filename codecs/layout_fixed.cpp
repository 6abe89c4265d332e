// Fixed layout: fixed-width fields (alpha, numeric, zoned, packed, binary, hex) at fixed offsets.
// Its configuration reader is in layout_fixed_config.cpp.
#include "codecs/layout_fixed_impl.hpp"
#include "codecs/layout_impl.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::codecs {

namespace {

using namespace fixed_detail;

constexpr char hex_digits[] = "0123456789abcdef";

codec_error field_error(errc code, const fixed_field& f, std::string message) {
  return make_error(code, f.name, std::move(message));
}

std::string offset_text(std::size_t offset) {
  return " at offset " + std::to_string(offset);
}

class fixed_layout final : public layout {
 public:
  fixed_layout(std::vector<fixed_field> fields, std::size_t length, const charset* cs,
               std::string pad_text, bool allow_trailing,
               std::vector<std::unique_ptr<charset_digits>> digit_tables)
      : fields_(std::move(fields)),
        length_(length),
        cs_(cs),
        pad_text_(std::move(pad_text)),
        allow_trailing_(allow_trailing),
        digit_tables_(std::move(digit_tables)) {}

  result<void> encode(const record& r, byte_buffer& out) const override {
    out.reserve(out.size() + length_);
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      const fixed_field& f = fields_[i];
      const std::string_view v = r.get(i);
      result<void> done;
      switch (f.type) {
        case field_type::alpha:
          done = encode_alpha(f, v, out);
          break;
        case field_type::numeric:
          done = encode_numeric(f, v, out);
          break;
        case field_type::zoned:
          done = encode_zoned(f, v, out);
          break;
        case field_type::packed:
          done = encode_packed(f, v, out);
          break;
        case field_type::binary:
          done = encode_binary(f, v, out);
          break;
        case field_type::hex:
          done = encode_hex(f, v, out);
          break;
      }
      if (!done) return done;
    }
    return {};
  }

  result<void> decode(byte_view payload, record& r) const override {
    if (payload.size() < length_) {
      for (const fixed_field& f : fields_) {
        if (f.offset + f.length > payload.size()) {
          return field_error(errc::malformed, f,
                             "expected " + std::to_string(length_) + " bytes, got " +
                                 std::to_string(payload.size()));
        }
      }
    }
    if (payload.size() > length_ && !allow_trailing_) {
      return make_error(errc::malformed, {},
                        "expected " + std::to_string(length_) + " bytes, got " +
                            std::to_string(payload.size()) + " (allow_trailing is false)");
    }
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      const fixed_field& f = fields_[i];
      const byte_view in = payload.subspan(f.offset, f.length);
      result<void> done;
      switch (f.type) {
        case field_type::alpha:
          done = decode_alpha(f, in, r, i);
          break;
        case field_type::numeric:
          done = decode_numeric(f, in, r, i);
          break;
        case field_type::zoned:
          done = decode_zoned(f, in, r, i);
          break;
        case field_type::packed:
          done = decode_packed(f, in, r, i);
          break;
        case field_type::binary:
          done = decode_binary(f, in, r, i);
          break;
        case field_type::hex:
          done = decode_hex(f, in, r, i);
          break;
      }
      if (!done) return done;
    }
    return {};
  }

  boost::json::object describe_field(std::size_t index) const override {
    boost::json::object o;
    if (index >= fields_.size()) return o;
    const fixed_field& f = fields_[index];
    o["length"] = f.length;
    o["type"] = type_names[static_cast<int>(f.type)];
    o["offset"] = f.offset;
    switch (f.type) {
      case field_type::alpha:
      case field_type::numeric:
        o["align"] = f.align_right ? "right" : "left";
        o["pad"] = f.pad_text;
        break;
      case field_type::hex:
        o["align"] = f.align_right ? "right" : "left";
        o["pad_byte"] = f.pad;
        break;
      case field_type::binary:
        o["byte_order"] = f.little_endian ? "little" : "big";
        break;
      default:
        break;
    }
    if (f.type != field_type::alpha && f.type != field_type::hex) {
      o["decimals"] = f.decimals;
      o["signed"] = f.is_signed;
    }
    if (f.type == field_type::packed) o["packed_digits"] = 2 * f.length - 1;
    if (f.type == field_type::numeric || f.type == field_type::zoned ||
        f.type == field_type::packed)
      o["digits"] = layout_detail::digits_style_name(f.style);
    if (f.type == field_type::alpha || f.type == field_type::numeric || f.type == field_type::zoned)
      o["charset"] = f.cs->name();
    return o;
  }

  boost::json::object describe() const override {
    boost::json::object o;
    o["type"] = "fixed";
    o["length"] = length_;
    o["charset"] = cs_->name();
    o["pad"] = pad_text_;
    o["allow_trailing"] = allow_trailing_;
    return o;
  }

 private:
  // Appends n bytes to be written through the returned pointer.
  static byte* grow(byte_buffer& out, std::size_t n) {
    const std::size_t start = out.size();
    out.resize(start + n);
    return out.data() + start;
  }

  static void append_pad(byte_buffer& out, byte pad, std::size_t n) {
    out.insert(out.end(), n, pad);
  }

  static result<void> encode_alpha(const fixed_field& f, std::string_view v, byte_buffer& out) {
    const std::size_t chars = f.cs->wire_length(v);
    if (chars > f.length) {
      return field_error(errc::invalid_field, f,
                         "is " + std::to_string(chars) + " characters, longer than its width " +
                             std::to_string(f.length));
    }
    const std::size_t start = out.size();
    if (f.align_right) append_pad(out, f.pad, f.length - chars);
    auto done = f.cs->encode(v, out);
    if (!done) {
      out.resize(start);
      codec_error e = std::move(done).error();
      e.where = f.name;
      return e;
    }
    const std::size_t written = out.size() - start;
    if (written > f.length) {  // wire_length and encode disagree: never overrun the next field
      out.resize(start);
      return field_error(errc::invalid_field, f,
                         "is " + std::to_string(written) + " bytes, longer than its width " +
                             std::to_string(f.length));
    }
    append_pad(out, f.pad, f.length - written);
    return {};
  }

  // The value's digits, exactly `digits` of them, or the reason it does not fit.
  static result<void> to_digits(const fixed_field& f, std::string_view v, char* buf,
                                std::size_t digits, bool allow_sign, bool& negative) {
    auto s = decimal::to_digits(v, f.decimals, allow_sign, buf, digits, negative);
    if (s == decimal::status::ok) return {};
    return field_error(errc::invalid_field, f, decimal::message(s, f.decimals, digits));
  }

  static result<void> encode_numeric(const fixed_field& f, std::string_view v, byte_buffer& out) {
    char buf[decimal::max_digits];
    bool negative = false;
    if (auto ok = to_digits(f, v, buf, f.length, false, negative); !ok) return ok;
    const charset_digits& d = *f.digits;
    std::size_t first = 0;
    if (f.pad != d.digit[0]) {  // a non-zero pad replaces the leading zeros
      std::size_t keep = 1;     // an as_written field keeps the zeros the value was written with
      if (f.style == decimal::digits_style::as_written)
        keep = std::max<std::size_t>(decimal::written_integer_digits(v), 1) +
               static_cast<std::size_t>(f.decimals);
      const std::size_t last = f.length - std::clamp<std::size_t>(keep, 1, f.length);
      while (first < last && buf[first] == '0') ++first;
    }
    byte* p = grow(out, f.length);
    if (f.align_right) p = std::fill_n(p, first, f.pad);
    for (std::size_t k = first; k < f.length; ++k) *p++ = d.digit[buf[k] - '0'];
    if (!f.align_right) std::fill_n(p, first, f.pad);
    return {};
  }

  static result<void> encode_zoned(const fixed_field& f, std::string_view v, byte_buffer& out) {
    char buf[decimal::max_digits];
    bool negative = false;
    if (auto ok = to_digits(f, v, buf, f.length, f.is_signed, negative); !ok) return ok;
    const charset_digits& d = *f.digits;
    byte* p = grow(out, f.length);
    for (std::size_t k = 0; k + 1 < f.length; ++k) *p++ = d.digit[buf[k] - '0'];
    const int last = buf[f.length - 1] - '0';
    *p = !f.is_signed ? d.digit[last] : negative ? d.negative[last] : d.positive[last];
    return {};
  }

  static result<void> encode_packed(const fixed_field& f, std::string_view v, byte_buffer& out) {
    char buf[decimal::max_digits];
    bool negative = false;
    const std::size_t digits = 2 * f.length - 1;
    if (auto ok = to_digits(f, v, buf, digits, f.is_signed, negative); !ok) return ok;
    const byte sign = !f.is_signed ? decimal::packed_unsigned
                      : negative   ? decimal::packed_negative
                                   : decimal::packed_positive;
    decimal::encode_packed(buf, sign, std::span<byte>(grow(out, f.length), f.length));
    return {};
  }

  static result<void> encode_binary(const fixed_field& f, std::string_view v, byte_buffer& out) {
    std::uint64_t magnitude = 0;
    bool negative = false;
    auto s = decimal::to_integer(v, f.decimals, f.is_signed, magnitude, negative);
    const unsigned bits = static_cast<unsigned>(f.length * 8);
    bool fits = s == decimal::status::ok;
    if (fits) {
      if (f.is_signed) {
        const std::uint64_t limit = std::uint64_t{1} << (bits - 1);  // 2^(bits-1)
        fits = negative ? magnitude <= limit : magnitude < limit;
      } else {
        fits = bits == 64 || magnitude < (std::uint64_t{1} << bits);
      }
    }
    if (!fits && (s == decimal::status::ok || s == decimal::status::out_of_range)) {
      return field_error(errc::invalid_field, f,
                         "out of range for a " + std::to_string(f.length) + "-byte " +
                             (f.is_signed ? "signed" : "unsigned") + " binary field");
    }
    if (s != decimal::status::ok) {
      return field_error(errc::invalid_field, f, decimal::message(s, f.decimals, 20));
    }
    const std::uint64_t u = negative ? ~magnitude + 1 : magnitude;
    byte* p = grow(out, f.length);
    for (std::size_t k = 0; k < f.length; ++k) {
      const std::size_t shift = 8 * (f.little_endian ? k : f.length - 1 - k);
      p[k] = static_cast<byte>(u >> shift);
    }
    return {};
  }

  static result<void> encode_hex(const fixed_field& f, std::string_view v, byte_buffer& out) {
    if (v.size() % 2 != 0) {
      return field_error(errc::invalid_field, f, "must be hex digits in pairs (raw bytes)");
    }
    const std::size_t n = v.size() / 2;
    if (n > f.length) {
      return field_error(
          errc::invalid_field, f,
          "is " + std::to_string(n) + " bytes, longer than its width " + std::to_string(f.length));
    }
    const std::size_t start = out.size();
    if (f.align_right) append_pad(out, f.pad, f.length - n);
    for (std::size_t k = 0; k < n; ++k) {
      const int hi = hex_value(v[2 * k]);
      const int lo = hex_value(v[2 * k + 1]);
      if (hi < 0 || lo < 0) {
        out.resize(start);
        return field_error(errc::invalid_field, f, "must be hex digits in pairs (raw bytes)");
      }
      out.push_back(static_cast<byte>(hi << 4 | lo));
    }
    if (!f.align_right) append_pad(out, f.pad, f.length - n);
    return {};
  }

  static result<void> decode_alpha(const fixed_field& f, byte_view in, record& r, std::size_t i) {
    std::size_t b = 0;
    std::size_t e = in.size();
    if (f.align_right) {
      while (b < e && in[b] == f.pad) ++b;
    } else {
      while (e > b && in[e - 1] == f.pad) --e;
    }
    std::string& slot = r.slot(i);
    slot.clear();
    auto done = f.cs->decode(in.subspan(b, e - b), slot);
    if (!done) {
      codec_error err = std::move(done).error();
      err.code = errc::malformed;
      err.where = f.name;
      err.message += offset_text(f.offset);
      return err;
    }
    r.set_present(i);
    return {};
  }

  // A numeric or zoned field of nothing but spaces is absent: hosts send that for "no value".
  static bool all_spaces(const fixed_field& f, byte_view in) {
    for (byte b : in)
      if (b != f.digits->space) return false;
    return true;
  }

  static codec_error not_a_digit(const fixed_field& f, std::size_t k) {
    return field_error(errc::malformed, f, "not a digit" + offset_text(f.offset + k));
  }

  static result<void> decode_numeric(const fixed_field& f, byte_view in, record& r, std::size_t i) {
    const charset_digits& d = *f.digits;
    std::size_t b = 0;
    std::size_t e = in.size();
    if (f.pad != d.digit[0]) {
      if (f.align_right) {
        while (b < e && in[b] == f.pad) ++b;
      } else {
        while (e > b && in[e - 1] == f.pad) --e;
      }
    }
    if (b == e || all_spaces(f, in)) {
      r.clear(i);
      return {};
    }
    char buf[decimal::max_digits];
    std::size_t n = 0;
    for (std::size_t k = b; k < e; ++k) {
      const signed char c = d.reverse[in[k]];
      if (c < 0 || c > 9) return not_a_digit(f, k);
      buf[n++] = static_cast<char>('0' + c);
    }
    std::string& slot = r.slot(i);
    slot.clear();
    decimal::append_digits(slot, std::string_view(buf, n), f.decimals, false, f.style);
    r.set_present(i);
    return {};
  }

  static result<void> decode_zoned(const fixed_field& f, byte_view in, record& r, std::size_t i) {
    const charset_digits& d = *f.digits;
    if (all_spaces(f, in)) {
      r.clear(i);
      return {};
    }
    char buf[decimal::max_digits];
    const std::size_t n = in.size();
    for (std::size_t k = 0; k + 1 < n; ++k) {
      const signed char c = d.reverse[in[k]];
      if (c < 0 || c > 9) return not_a_digit(f, k);
      buf[k] = static_cast<char>('0' + c);
    }
    const signed char c = d.reverse[in[n - 1]];
    bool negative = false;
    if (c >= 0 && c <= 9) {
      buf[n - 1] = static_cast<char>('0' + c);
    } else if (c >= charset_digits::positive_base && c < charset_digits::positive_base + 10) {
      buf[n - 1] = static_cast<char>('0' + c - charset_digits::positive_base);
    } else if (c >= charset_digits::negative_base && c < charset_digits::negative_base + 10) {
      if (!f.is_signed) {
        return field_error(errc::malformed, f,
                           "negative sign in an unsigned field" + offset_text(f.offset + n - 1));
      }
      buf[n - 1] = static_cast<char>('0' + c - charset_digits::negative_base);
      negative = true;
    } else {
      return field_error(errc::malformed, f,
                         "not a digit or signed digit" + offset_text(f.offset + n - 1));
    }
    std::string& slot = r.slot(i);
    slot.clear();
    decimal::append_digits(slot, std::string_view(buf, n), f.decimals, negative, f.style);
    r.set_present(i);
    return {};
  }

  static std::string hex_byte(byte b) {
    std::string s = "0x";
    s.push_back(hex_digits[b >> 4]);
    s.push_back(hex_digits[b & 0xF]);
    return s;
  }

  static result<void> decode_packed(const fixed_field& f, byte_view in, record& r, std::size_t i) {
    char buf[decimal::max_digits];
    bool negative = false;
    std::size_t bad = 0;
    switch (decimal::decode_packed(in, buf, negative, bad)) {
      case decimal::packed_status::ok:
        break;
      case decimal::packed_status::bad_digit:
        return field_error(
            errc::malformed, f,
            "bad packed digit nibble in byte " + hex_byte(in[bad]) + offset_text(f.offset + bad));
      case decimal::packed_status::bad_sign:
        return field_error(
            errc::malformed, f,
            "bad packed sign nibble in byte " + hex_byte(in[bad]) + offset_text(f.offset + bad));
    }
    if (negative && !f.is_signed) {
      return field_error(
          errc::malformed, f,
          "negative sign in an unsigned field" + offset_text(f.offset + in.size() - 1));
    }
    std::string& slot = r.slot(i);
    slot.clear();
    decimal::append_digits(slot, std::string_view(buf, 2 * in.size() - 1), f.decimals, negative,
                           f.style);
    r.set_present(i);
    return {};
  }

  static result<void> decode_binary(const fixed_field& f, byte_view in, record& r, std::size_t i) {
    std::uint64_t u = 0;
    const std::size_t n = in.size();
    for (std::size_t k = 0; k < n; ++k) {
      const byte b = in[f.little_endian ? n - 1 - k : k];
      u = u << 8 | b;
    }
    bool negative = false;
    const unsigned bits = static_cast<unsigned>(n * 8);
    if (f.is_signed && (u >> (bits - 1)) & 1) {
      negative = true;
      if (bits < 64) u |= ~std::uint64_t{0} << bits;  // sign-extend
      u = ~u + 1;                                     // magnitude
    }
    std::string& slot = r.slot(i);
    slot.clear();
    decimal::append_canonical(slot, u, f.decimals, negative);
    r.set_present(i);
    return {};
  }

  static result<void> decode_hex(const fixed_field&, byte_view in, record& r, std::size_t i) {
    std::string& slot = r.slot(i);
    slot.clear();
    for (byte b : in) {
      slot.push_back(hex_digits[b >> 4]);
      slot.push_back(hex_digits[b & 0xF]);
    }
    r.set_present(i);
    return {};
  }

  std::vector<fixed_field> fields_;
  std::size_t length_;
  const charset* cs_;
  std::string pad_text_;
  bool allow_trailing_;
  std::vector<std::unique_ptr<charset_digits>> digit_tables_;  // owned; fields point in
};

}  // namespace

namespace fixed_detail {

std::unique_ptr<layout> make_configured_fixed_layout(
    std::vector<fixed_field> fields, std::size_t length, const charset* cs, std::string pad_text,
    bool allow_trailing, std::vector<std::unique_ptr<charset_digits>> digit_tables) {
  return std::make_unique<fixed_layout>(std::move(fields), length, cs, std::move(pad_text),
                                        allow_trailing, std::move(digit_tables));
}

}  // namespace fixed_detail

}  // namespace dragoman::codecs
