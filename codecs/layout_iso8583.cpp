// ISO 8583 layout: MTI, bitmaps and data elements (n, an, ans, b, z; fixed, LLVAR, LLLVAR).
// Its configuration reader (dictionary, field numbers) is in layout_iso8583_config.cpp.
#include "codecs/layout_iso8583_impl.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::codecs {

namespace {

namespace json = boost::json;

using namespace iso8583_detail;

constexpr char hex_lower[] = "0123456789abcdef";
constexpr char hex_upper[] = "0123456789ABCDEF";

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// The wire byte of a digit character ('0'..'9', or '=' in track 2 data) in ASCII or EBCDIC.
byte char_byte(digit_encoding e, char c) noexcept {
  if (e == digit_encoding::ebcdic)
    return c == '=' ? byte{0x7E} : static_cast<byte>(0xF0 + (c - '0'));
  return static_cast<byte>(c);
}

// The character of a wire digit byte, or 0 when it is not one (z also allows '=').
char byte_char(digit_encoding e, byte b, bool allow_separator) noexcept {
  if (e == digit_encoding::ebcdic) {
    if (b >= 0xF0 && b <= 0xF9) return static_cast<char>('0' + (b - 0xF0));
    if (allow_separator && b == 0x7E) return '=';
    return 0;
  }
  if (b >= '0' && b <= '9') return static_cast<char>(b);
  if (allow_separator && b == '=') return '=';
  return 0;
}

// A BCD nibble of a digit character; track 2's separator '=' is nibble D.
byte nibble_of(char c) noexcept {
  return c == '=' ? byte{0xD} : static_cast<byte>(c - '0');
}

std::string at(int field, std::size_t offset) {
  return " (field " + std::to_string(field) + " at offset " + std::to_string(offset) + ")";
}

class iso8583_layout final : public layout {
 public:
  iso8583_layout(std::shared_ptr<const dictionary> dict, std::vector<int> numbers,
                 std::vector<std::string> names)
      : dict_(std::move(dict)), numbers_(std::move(numbers)), names_(std::move(names)) {
    index_of_.fill(-1);
    for (std::size_t i = 0; i < numbers_.size(); ++i) {
      index_of_[static_cast<std::size_t>(numbers_[i])] = static_cast<int>(i);
      if (numbers_[i] > 0) order_.push_back(i);
    }
    std::sort(order_.begin(), order_.end(),
              [&](std::size_t a, std::size_t b) { return numbers_[a] < numbers_[b]; });
  }

  result<void> encode(const record& r, byte_buffer& out) const override {
    const std::size_t start = out.size();
    auto failed = [&](codec_error e) -> result<void> {
      out.resize(start);
      return e;
    };
    // MTI
    const int mti_index = index_of_[0];
    const std::string_view mti = r.get(static_cast<std::size_t>(mti_index));
    const std::string& mti_name = names_[static_cast<std::size_t>(mti_index)];
    if (!r.has(static_cast<std::size_t>(mti_index)))
      return failed(make_error(errc::missing_field, mti_name, "is required (field 0, the MTI)"));
    if (mti.size() != 4 || !std::all_of(mti.begin(), mti.end(), is_digit))
      return failed(
          make_error(errc::invalid_field, mti_name, "must be 4 digits (field 0, the MTI)"));
    put_digits(out, dict_->mti, mti, 0, false);

    // Bitmap: bit k (1-based, most significant first) announces field k.
    std::array<byte, 16> bitmap{};
    bool secondary = dict_->secondary_always;
    for (std::size_t idx : order_) {
      if (!r.has(idx)) continue;
      const int f = numbers_[idx];
      if (f > 64) secondary = true;
      bitmap[static_cast<std::size_t>(f - 1) / 8] |= static_cast<byte>(0x80 >> ((f - 1) % 8));
    }
    if (secondary) bitmap[0] |= 0x80;
    const std::size_t bitmap_bytes = secondary ? 16 : 8;
    for (std::size_t k = 0; k < bitmap_bytes; ++k) {
      if (dict_->bitmap_hex) {
        out.push_back(static_cast<byte>(hex_upper[bitmap[k] >> 4]));
        out.push_back(static_cast<byte>(hex_upper[bitmap[k] & 0xF]));
      } else {
        out.push_back(bitmap[k]);
      }
    }

    for (std::size_t idx : order_) {
      if (!r.has(idx)) continue;
      auto done = encode_element(numbers_[idx], names_[idx], r.get(idx), out);
      if (!done) return failed(std::move(done).error());
    }
    return {};
  }

  result<void> decode(byte_view payload, record& r) const override {
    std::size_t pos = 0;
    // MTI
    {
      const std::size_t n = dict_->mti == digit_encoding::bcd ? 2 : 4;
      if (payload.size() < n)
        return where_error(0, "truncated: the MTI needs " + std::to_string(n) + " bytes, " +
                                  std::to_string(payload.size()) + " left" + at(0, 0));
      std::string* slot = slot_for(0, r);
      if (slot) slot->clear();
      if (auto ok = get_digits(payload.subspan(0, n), dict_->mti, 4, false, false, 0, 0, slot); !ok)
        return ok;
      if (slot) r.set_present(static_cast<std::size_t>(index_of_[0]));
      pos = n;
    }
    // Bitmaps
    std::array<byte, 16> bitmap{};
    const std::size_t unit = dict_->bitmap_hex ? 2 : 1;
    for (std::size_t part = 0; part < 2; ++part) {
      if (part == 1 && !(bitmap[0] & 0x80)) break;
      const std::size_t n = 8 * unit;
      if (payload.size() - pos < n)
        return where_error(1, std::string(part == 0 ? "truncated: the primary bitmap"
                                                    : "truncated: the secondary bitmap") +
                                  " needs " + std::to_string(n) + " bytes, " +
                                  std::to_string(payload.size() - pos) + " left" + at(1, pos));
      for (std::size_t k = 0; k < 8; ++k) {
        if (dict_->bitmap_hex) {
          const int hi = hex_value(static_cast<char>(payload[pos + 2 * k]));
          const int lo = hex_value(static_cast<char>(payload[pos + 2 * k + 1]));
          if (hi < 0 || lo < 0)
            return where_error(
                1, "bad bitmap: not a hex digit" + at(1, pos + 2 * k + (hi < 0 ? 0 : 1)));
          bitmap[part * 8 + k] = static_cast<byte>(hi << 4 | lo);
        } else {
          bitmap[part * 8 + k] = payload[pos + k];
        }
      }
      pos += n;
    }
    // Data elements in number order.
    for (int f = 2; f <= max_field; ++f) {
      if (!(bitmap[static_cast<std::size_t>(f - 1) / 8] & (0x80 >> ((f - 1) % 8)))) continue;
      const element& e = dict_->elements[static_cast<std::size_t>(f)];
      if (!e.defined)
        return where_error(f, "bad bitmap: field " + std::to_string(f) +
                                  " is present but not in the dictionary" + at(f, pos));
      std::string* slot = slot_for(f, r);
      if (slot) slot->clear();
      auto done = decode_element(f, e, payload, pos, slot);
      if (!done) return done;
      if (slot) r.set_present(static_cast<std::size_t>(index_of_[static_cast<std::size_t>(f)]));
    }
    if (pos != payload.size())
      return make_error(errc::malformed, {},
                        std::to_string(payload.size() - pos) +
                            " unexpected bytes after the last field at offset " +
                            std::to_string(pos));
    return {};
  }

  json::object describe_field(std::size_t index) const override {
    json::object o;
    if (index >= numbers_.size()) return o;
    const int f = numbers_[index];
    o["field"] = f;
    if (f == 0) {
      o["type"] = "mti";
      o["encoding"] = name_of(digit_names, dict_->mti);
      return o;
    }
    const element& e = dict_->elements[static_cast<std::size_t>(f)];
    o["type"] = name_of(type_names, e.type);
    o["format"] = name_of(format_names, e.format);
    o[e.format == length_format::fixed ? "length" : "max_length"] = e.length;
    if (e.format != length_format::fixed) o["length_encoding"] = name_of(prefix_names, e.prefix);
    if (e.type == data_type::n || e.type == data_type::z) {
      o["numeric_encoding"] = name_of(digit_names, e.digits);
      if (e.digits == digit_encoding::bcd) o["bcd_pad"] = e.pad_right ? "right" : "left";
      o["digits"] = "as_written";  // no sign, no decimals: an identifier's digits, never trimmed
    }
    return o;
  }

  json::object describe() const override {
    json::object o;
    o["type"] = "iso8583";
    o["mti_encoding"] = name_of(digit_names, dict_->mti);
    o["bitmap_encoding"] = dict_->bitmap_hex ? "hex" : "binary";
    o["secondary_bitmap"] = dict_->secondary_always ? "always" : "auto";
    o["length_encoding"] = name_of(prefix_names, dict_->prefix);
    o["numeric_encoding"] = name_of(digit_names, dict_->digits);
    o["charset"] = dict_->cs->name();
    return o;
  }

 private:
  std::string* slot_for(int field, record& r) const {
    const int idx = index_of_[static_cast<std::size_t>(field)];
    return idx < 0 ? nullptr : &r.slot(static_cast<std::size_t>(idx));
  }

  // A decode error about a field: `where` is its record name, or "field N" when not mapped.
  codec_error where_error(int field, std::string message) const {
    const int idx = index_of_[static_cast<std::size_t>(field)];
    std::string where = idx >= 0     ? names_[static_cast<std::size_t>(idx)]
                        : field == 1 ? std::string("bitmap")
                                     : "field " + std::to_string(field);
    return make_error(errc::malformed, std::move(where), std::move(message));
  }

  // Writes `zeros` leading '0' digits then the characters of v (digits, or '=' in track 2).
  static void put_digits(byte_buffer& out, digit_encoding enc, std::string_view v,
                         std::size_t zeros, bool pad_right) {
    const std::size_t total = zeros + v.size();
    auto digit_at = [&](std::size_t k) { return k < zeros ? '0' : v[k - zeros]; };
    if (enc != digit_encoding::bcd) {
      for (std::size_t k = 0; k < total; ++k) out.push_back(char_byte(enc, digit_at(k)));
      return;
    }
    const bool odd = total % 2 != 0;
    // Nibble sequence: an odd count gets a 0 nibble in front, or an F nibble behind.
    const std::size_t lead = odd && !pad_right ? 1 : 0;
    const std::size_t nibbles = total + (odd ? 1 : 0);
    for (std::size_t k = 0; k < nibbles; k += 2) {
      auto nib = [&](std::size_t j) -> byte {
        if (j < lead) return 0x0;
        if (j - lead >= total) return 0xF;
        return nibble_of(digit_at(j - lead));
      };
      out.push_back(static_cast<byte>(nib(k) << 4 | nib(k + 1)));
    }
  }

  // Reads `count` digit characters from wire bytes into slot (or only checks them when slot is
  // null). `base` is the offset of `in` in the payload, for messages.
  result<void> get_digits(byte_view in, digit_encoding enc, std::size_t count, bool allow_separator,
                          bool pad_right, int field, std::size_t base, std::string* slot) const {
    if (enc != digit_encoding::bcd) {
      for (std::size_t k = 0; k < count; ++k) {
        const char c = byte_char(enc, in[k], allow_separator);
        if (!c) return where_error(field, "not a digit" + at(field, base + k));
        if (slot) slot->push_back(c);
      }
      return {};
    }
    const bool odd = count % 2 != 0;
    const std::size_t lead = odd && !pad_right ? 1 : 0;
    const std::size_t nibbles = count + (odd ? 1 : 0);
    for (std::size_t j = 0; j < nibbles; ++j) {
      const byte b = in[j / 2];
      const byte nib = j % 2 == 0 ? static_cast<byte>(b >> 4) : static_cast<byte>(b & 0xF);
      const bool pad = j < lead || j - lead >= count;
      if (pad) {
        if (nib != 0x0 && nib != 0xF)
          return where_error(field, "bad BCD pad nibble" + at(field, base + j / 2));
        continue;
      }
      if (nib <= 9) {
        if (slot) slot->push_back(static_cast<char>('0' + nib));
      } else if (allow_separator && nib == 0xD) {
        if (slot) slot->push_back('=');
      } else {
        return where_error(field, "bad BCD digit nibble" + at(field, base + j / 2));
      }
    }
    return {};
  }

  static std::size_t prefix_bytes(const element& e) {
    const std::size_t digits = e.format == length_format::llvar ? 2 : 3;
    switch (e.prefix) {
      case prefix_encoding::ascii:
      case prefix_encoding::ebcdic:
        return digits;
      case prefix_encoding::bcd:
      case prefix_encoding::binary:
        return digits == 2 ? 1 : 2;
    }
    return digits;
  }

  static void put_prefix(byte_buffer& out, const element& e, std::size_t count) {
    const std::size_t digits = e.format == length_format::llvar ? 2 : 3;
    switch (e.prefix) {
      case prefix_encoding::ascii:
      case prefix_encoding::ebcdic: {
        const digit_encoding enc =
            e.prefix == prefix_encoding::ascii ? digit_encoding::ascii : digit_encoding::ebcdic;
        std::size_t div = digits == 2 ? 10 : 100;
        for (; div > 0; div /= 10)
          out.push_back(char_byte(enc, static_cast<char>('0' + count / div % 10)));
        break;
      }
      case prefix_encoding::bcd:
        if (digits == 3) out.push_back(static_cast<byte>(count / 100));
        out.push_back(static_cast<byte>((count / 10 % 10) << 4 | count % 10));
        break;
      case prefix_encoding::binary:
        if (digits == 3) out.push_back(static_cast<byte>(count >> 8));
        out.push_back(static_cast<byte>(count & 0xFF));
        break;
    }
  }

  // The value of an LL/LLL length prefix, or an error naming the bad byte.
  result<std::size_t> get_prefix(const element& e, byte_view in, int field,
                                 std::size_t base) const {
    std::size_t count = 0;
    switch (e.prefix) {
      case prefix_encoding::ascii:
      case prefix_encoding::ebcdic: {
        const digit_encoding enc =
            e.prefix == prefix_encoding::ascii ? digit_encoding::ascii : digit_encoding::ebcdic;
        for (std::size_t k = 0; k < in.size(); ++k) {
          const char c = byte_char(enc, in[k], false);
          if (!c) return where_error(field, "bad length digits" + at(field, base + k));
          count = count * 10 + static_cast<std::size_t>(c - '0');
        }
        break;
      }
      case prefix_encoding::bcd:
        for (std::size_t k = 0; k < in.size(); ++k) {
          const byte hi = in[k] >> 4, lo = in[k] & 0xF;
          if (hi > 9 || lo > 9)
            return where_error(field, "bad length digits" + at(field, base + k));
          count = count * 100 + hi * 10u + lo;
        }
        break;
      case prefix_encoding::binary:
        for (byte b : in) count = count << 8 | b;
        break;
    }
    return count;
  }

  static bool an_char(char c) noexcept {
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == ' ';
  }

  result<void> encode_element(int f, const std::string& name, std::string_view v,
                              byte_buffer& out) const {
    const element& e = dict_->elements[static_cast<std::size_t>(f)];
    auto invalid = [&](std::string why) {
      return make_error(errc::invalid_field, name,
                        std::move(why) + " (field " + std::to_string(f) + ")");
    };
    const bool fixed = e.format == length_format::fixed;
    std::size_t count = 0;  // digits, characters or bytes, as the length prefix counts
    switch (e.type) {
      case data_type::n:
      case data_type::z: {
        const bool z = e.type == data_type::z;
        for (char c : v)
          if (!is_digit(c) && !(z && c == '='))
            return invalid(z ? "must be digits and '=' (track 2 data)" : "must be digits only");
        count = v.size();
        if (count > e.length)
          return invalid("is " + std::to_string(count) + " digits, longer than its " +
                         (fixed ? "length " : "maximum ") + std::to_string(e.length));
        if (fixed && z && count != e.length)
          return invalid("must be exactly " + std::to_string(e.length) + " characters");
        const std::size_t zeros = fixed ? e.length - count : 0;
        if (!fixed) put_prefix(out, e, count);
        put_digits(out, e.digits, v, zeros, e.pad_right);
        return {};
      }
      case data_type::b: {
        if (v.size() % 2 != 0 ||
            !std::all_of(v.begin(), v.end(), [](char c) { return hex_value(c) >= 0; }))
          return invalid("must be hex digits in pairs (raw bytes)");
        count = v.size() / 2;
        if (fixed && count != e.length)
          return invalid("is " + std::to_string(count) + " bytes, must be exactly " +
                         std::to_string(e.length) + " (" + std::to_string(2 * e.length) +
                         " hex digits)");
        if (count > e.length)
          return invalid("is " + std::to_string(count) + " bytes, longer than its maximum " +
                         std::to_string(e.length));
        if (!fixed) put_prefix(out, e, count);
        for (std::size_t k = 0; k < count; ++k)
          out.push_back(static_cast<byte>(hex_value(v[2 * k]) << 4 | hex_value(v[2 * k + 1])));
        return {};
      }
      case data_type::an:
      case data_type::ans: {
        if (e.type == data_type::an) {
          if (!std::all_of(v.begin(), v.end(), an_char))
            return invalid("must be letters, digits and spaces only (type an)");
        } else {
          for (char c : v) {
            const auto u = static_cast<unsigned char>(c);
            if (u < 0x20 || u == 0x7F) return invalid("must not contain control characters");
          }
        }
        count = dict_->cs->wire_length(v);
        if (count > e.length)
          return invalid("is " + std::to_string(count) + " characters, longer than its " +
                         (fixed ? "length " : "maximum ") + std::to_string(e.length));
        if (!fixed) put_prefix(out, e, count);
        const std::size_t before = out.size();
        auto done = dict_->cs->encode(v, out);
        if (!done) {
          codec_error err = std::move(done).error();
          err.where = name;
          err.message += " (field " + std::to_string(f) + ")";
          return err;
        }
        const std::size_t written = out.size() - before;
        if (written != count) return invalid("does not encode to one byte per character");
        if (fixed) out.insert(out.end(), e.length - count, dict_->space);
        return {};
      }
    }
    return {};
  }

  result<void> decode_element(int f, const element& e, byte_view payload, std::size_t& pos,
                              std::string* slot) const {
    auto need = [&](std::size_t n, const char* what) -> result<void> {
      if (payload.size() - pos >= n) return {};
      return where_error(f, std::string("truncated: ") + what + " needs " + std::to_string(n) +
                                " bytes, " + std::to_string(payload.size() - pos) + " left" +
                                at(f, pos));
    };
    std::size_t count = e.length;
    if (e.format != length_format::fixed) {
      const std::size_t pb = prefix_bytes(e);
      if (auto ok = need(pb, "the length"); !ok) return ok;
      auto got = get_prefix(e, payload.subspan(pos, pb), f, pos);
      if (!got) return std::move(got).error();
      count = *got;
      if (count > e.length)
        return where_error(f, "length " + std::to_string(count) + " exceeds the maximum " +
                                  std::to_string(e.length) + at(f, pos));
      pos += pb;
    }
    switch (e.type) {
      case data_type::n:
      case data_type::z: {
        const std::size_t n = e.digits == digit_encoding::bcd ? (count + 1) / 2 : count;
        if (auto ok = need(n, "the value"); !ok) return ok;
        if (auto ok = get_digits(payload.subspan(pos, n), e.digits, count, e.type == data_type::z,
                                 e.pad_right, f, pos, slot);
            !ok)
          return ok;
        pos += n;
        return {};
      }
      case data_type::b: {
        if (auto ok = need(count, "the value"); !ok) return ok;
        if (slot) {
          for (std::size_t k = 0; k < count; ++k) {
            slot->push_back(hex_lower[payload[pos + k] >> 4]);
            slot->push_back(hex_lower[payload[pos + k] & 0xF]);
          }
        }
        pos += count;
        return {};
      }
      case data_type::an:
      case data_type::ans: {
        if (auto ok = need(count, "the value"); !ok) return ok;
        if (slot) {
          std::size_t len = count;
          // A fixed text field is padded with spaces; they are not part of the value.
          if (e.format == length_format::fixed)
            while (len > 0 && payload[pos + len - 1] == dict_->space) --len;
          auto done = dict_->cs->decode(payload.subspan(pos, len), *slot);
          if (!done) {
            codec_error err = std::move(done).error();
            err.code = errc::malformed;
            err.where = where_error(f, {}).where;
            err.message += at(f, pos);
            return err;
          }
        }
        pos += count;
        return {};
      }
    }
    return {};
  }

  std::shared_ptr<const dictionary> dict_;
  std::vector<int> numbers_;                   // record index -> field number (0 = MTI)
  std::vector<std::string> names_;             // record index -> record name
  std::vector<std::size_t> order_;             // record indices of data elements by number
  std::array<int, max_field + 1> index_of_{};  // field number -> record index, or -1
};

}  // namespace

namespace iso8583_detail {

std::unique_ptr<layout> make_compiled_iso8583_layout(std::shared_ptr<const dictionary> dict,
                                                     std::vector<int> numbers,
                                                     std::vector<std::string> names) {
  return std::make_unique<iso8583_layout>(std::move(dict), std::move(numbers), std::move(names));
}

}  // namespace iso8583_detail

}  // namespace dragoman::codecs
