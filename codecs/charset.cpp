// Charset stage: ascii, latin1, utf8 and the EBCDIC code pages, table-driven and allocation-lean.
#include "codecs/charset.hpp"

#include <array>
#include <cstdint>
#include <cstring>

namespace dragoman::codecs {

namespace tables {
#include "codecs/charset_tables.inc"

// Each EBCDIC table must be a permutation of U+0000..U+00FF, so that the reverse table is total.
constexpr bool is_permutation_of_latin1(const std::array<std::uint8_t, 256>& t) {
  std::array<bool, 256> seen{};
  for (std::uint8_t c : t) {
    if (seen[c]) return false;
    seen[c] = true;
  }
  return true;
}
static_assert(is_permutation_of_latin1(ebcdic_cp037_decode));
static_assert(is_permutation_of_latin1(ebcdic_cp500_decode));
static_assert(is_permutation_of_latin1(ebcdic_cp1047_decode));
}  // namespace tables

namespace {

constexpr std::uint64_t high_bits = 0x8080808080808080ULL;

// Length of the leading run of bytes below 0x80, eight at a time: most fields are plain ASCII.
std::size_t ascii_prefix(const byte* p, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w & high_bits) break;
  }
  while (i < n && p[i] < 0x80) ++i;
  return i;
}

// Copies the run of bytes below 0x80 at in[i] to w, for tables where they stand for themselves
// both ways; i and w move past it.
template <typename Out>
void copy_ascii_run(const byte* in, std::size_t n, std::size_t& i, Out*& w) noexcept {
  const std::size_t run = ascii_prefix(in + i, n - i);
  std::memcpy(w, in + i, run);
  w += run;
  i += run;
}

// One code point decoded from strict UTF-8 (no overlongs, surrogates or values past U+10FFFF,
// Unicode 15 table 3-7); length 0 means the bytes at that position are not UTF-8.
struct utf8_char {
  char32_t code = 0;
  std::size_t length = 0;
};

utf8_char decode_utf8(const byte* p, std::size_t n) noexcept {
  const byte b0 = p[0];
  if (b0 < 0x80) return {b0, 1};
  auto cont = [&](std::size_t i, byte lo = 0x80, byte hi = 0xBF) {
    return i < n && p[i] >= lo && p[i] <= hi;
  };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!cont(1)) return {};
    return {static_cast<char32_t>(((b0 & 0x1F) << 6) | (p[1] & 0x3F)), 2};
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const byte lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const byte hi = b0 == 0xED ? 0x9F : 0xBF;
    if (!cont(1, lo, hi) || !cont(2)) return {};
    return {static_cast<char32_t>(((b0 & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F)), 3};
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const byte lo = b0 == 0xF0 ? 0x90 : 0x80;
    const byte hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (!cont(1, lo, hi) || !cont(2) || !cont(3)) return {};
    return {static_cast<char32_t>(((b0 & 0x07) << 18) | ((p[1] & 0x3F) << 12) |
                                  ((p[2] & 0x3F) << 6) | (p[3] & 0x3F)),
            4};
  }
  return {};
}

constexpr char hex_digits[] = "0123456789ABCDEF";
constexpr char hex_lower[] = "0123456789abcdef";

std::string byte_hex(byte b) {
  return {'0', 'x', hex_lower[b >> 4], hex_lower[b & 0x0F]};
}

std::string code_point_name(char32_t c) {
  std::string s = "U+";
  int digits = c > 0xFFFFF ? 6 : c > 0xFFFF ? 5 : 4;
  for (int i = digits - 1; i >= 0; --i) s.push_back(hex_digits[(c >> (4 * i)) & 0x0F]);
  return s;
}

codec_error invalid_utf8(const byte* p, std::size_t offset) {
  return make_error(errc::unmappable_char, {},
                    "invalid UTF-8: byte " + byte_hex(p[offset]) + " at offset " +
                        std::to_string(offset) + " does not start a valid sequence");
}

// "character 'é' (U+00E9) has no code in ascii"; control characters are shown by code point only.
codec_error unmappable(std::string_view utf8_bytes, char32_t c, std::string_view charset_name) {
  std::string m = "character ";
  const bool control = c < 0x20 || (c >= 0x7F && c <= 0x9F);
  if (!control) {
    m.push_back('\'');
    m.append(utf8_bytes);
    m.append("' (");
  }
  m.append(code_point_name(c));
  if (!control) m.push_back(')');
  m.append(" has no code in ");
  m.append(charset_name);
  return make_error(errc::unmappable_char, {}, std::move(m));
}

std::size_t count_code_points(std::string_view utf8) noexcept {
  std::size_t n = 0;
  for (unsigned char b : utf8) n += (b & 0xC0) != 0x80;
  return n;
}

// A charset whose characters are all in U+0000..U+00FF and take one byte each.
class single_byte_charset final : public charset {
 public:
  static constexpr std::uint16_t no_char = 0xFFFF;
  static constexpr std::int16_t no_byte = -1;

  // decode[b] is the code point of wire byte b, or no_char. ascii_identity means bytes below
  // 0x80 stand for themselves both ways, so runs of them are copied without lookups.
  single_byte_charset(std::string_view name, const std::array<std::uint16_t, 256>& decode,
                      bool ascii_identity)
      : name_(name), decode_(decode), ascii_identity_(ascii_identity) {
    encode_.fill(no_byte);
    for (std::size_t b = 0; b < 256; ++b)
      if (decode_[b] != no_char) encode_[decode_[b]] = static_cast<std::int16_t>(b);
    for (std::size_t b = 0; b < 256; ++b) {
      const std::uint16_t c = decode_[b];
      if (c == no_char) {
        utf8_[b] = {0, 0, 0};
      } else if (c < 0x80) {
        utf8_[b] = {1, static_cast<char>(c), 0};
      } else {
        utf8_[b] = {2, static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
      }
    }
  }

  std::string_view name() const noexcept override { return name_; }
  bool single_byte() const noexcept override { return true; }

  result<void> encode(std::string_view utf8, byte_buffer& out) const override {
    const byte* in = reinterpret_cast<const byte*>(utf8.data());
    const std::size_t n = utf8.size();
    const std::size_t start = out.size();
    // Never more wire bytes than UTF-8 bytes: size once, write through a pointer, trim after.
    out.resize(start + n);
    byte* w = out.data() + start;
    std::size_t i = 0;
    while (i < n) {
      if (ascii_identity_) {
        copy_ascii_run(in, n, i, w);
        if (i == n) break;
      }
      if (in[i] < 0x80 && encode_[in[i]] != no_byte) {
        *w++ = static_cast<byte>(encode_[in[i]]);
        ++i;
        continue;
      }
      const utf8_char ch = decode_utf8(in + i, n - i);
      if (ch.length == 0) {
        out.resize(start);
        return invalid_utf8(in, i);
      }
      const int b = ch.code < 256 ? encode_[ch.code] : no_byte;
      if (b == no_byte) {
        out.resize(start);
        return unmappable(utf8.substr(i, ch.length), ch.code, name_);
      }
      *w++ = static_cast<byte>(b);
      i += ch.length;
    }
    out.resize(static_cast<std::size_t>(w - out.data()));
    return {};
  }

  result<void> decode(byte_view wire, std::string& utf8) const override {
    const byte* in = wire.data();
    const std::size_t n = wire.size();
    const std::size_t start = utf8.size();
    utf8.resize(start + 2 * n);  // at most two UTF-8 bytes per character below U+0100
    char* w = utf8.data() + start;
    std::size_t i = 0;
    while (i < n) {
      if (ascii_identity_) {
        copy_ascii_run(in, n, i, w);
        if (i == n) break;
      }
      const auto& u = utf8_[in[i]];
      if (u[0] == 0) {
        utf8.resize(start);
        return make_error(errc::unmappable_char, {},
                          "byte " + byte_hex(in[i]) + " at offset " + std::to_string(i) +
                              " is not " + std::string(name_));
      }
      w[0] = u[1];
      w[1] = u[2];
      w += u[0];
      ++i;
    }
    utf8.resize(static_cast<std::size_t>(w - utf8.data()));
    return {};
  }

  std::size_t wire_length(std::string_view utf8) const noexcept override {
    return count_code_points(utf8);
  }

  int encode_char(char32_t c) const noexcept override { return c < 256 ? encode_[c] : no_byte; }

 private:
  std::string_view name_;
  std::array<std::uint16_t, 256> decode_;
  std::array<std::int16_t, 256> encode_;       // code point U+0000..U+00FF -> wire byte
  std::array<std::array<char, 3>, 256> utf8_;  // wire byte -> {length, UTF-8 bytes}
  bool ascii_identity_;
};

class utf8_charset final : public charset {
 public:
  std::string_view name() const noexcept override { return "utf8"; }
  bool single_byte() const noexcept override { return false; }

  result<void> encode(std::string_view utf8, byte_buffer& out) const override {
    const byte* p = reinterpret_cast<const byte*>(utf8.data());
    if (auto bad = first_invalid(p, utf8.size()); bad != npos) return invalid_utf8(p, bad);
    append(out, utf8);
    return {};
  }

  result<void> decode(byte_view wire, std::string& utf8) const override {
    if (auto bad = first_invalid(wire.data(), wire.size()); bad != npos)
      return invalid_utf8(wire.data(), bad);
    utf8.append(as_chars(wire));
    return {};
  }

  std::size_t wire_length(std::string_view utf8) const noexcept override { return utf8.size(); }

  int encode_char(char32_t c) const noexcept override {
    return c < 0x80 ? static_cast<int>(c) : -1;
  }

 private:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  static std::size_t first_invalid(const byte* p, std::size_t n) noexcept {
    std::size_t i = 0;
    while (i < n) {
      i += ascii_prefix(p + i, n - i);
      if (i == n) break;
      const utf8_char ch = decode_utf8(p + i, n - i);
      if (ch.length == 0) return i;
      i += ch.length;
    }
    return npos;
  }
};

std::array<std::uint16_t, 256> widen(const std::array<std::uint8_t, 256>& t) {
  std::array<std::uint16_t, 256> r{};
  for (std::size_t i = 0; i < 256; ++i) r[i] = t[i];
  return r;
}

std::array<std::uint16_t, 256> identity_table(std::size_t count) {
  std::array<std::uint16_t, 256> r{};
  for (std::size_t i = 0; i < 256; ++i)
    r[i] = i < count ? static_cast<std::uint16_t>(i) : single_byte_charset::no_char;
  return r;
}

}  // namespace

const charset* find_charset(std::string_view name) noexcept {
  // Function-local statics: safe to call from other translation units' static initialisers.
  static const single_byte_charset ascii("ascii", identity_table(128), true);
  static const single_byte_charset latin1("latin1", identity_table(256), true);
  static const utf8_charset utf8;
  static const single_byte_charset cp037("ebcdic-cp037", widen(tables::ebcdic_cp037_decode), false);
  static const single_byte_charset cp500("ebcdic-cp500", widen(tables::ebcdic_cp500_decode), false);
  static const single_byte_charset cp1047("ebcdic-cp1047", widen(tables::ebcdic_cp1047_decode),
                                          false);
  static const std::array<const charset*, 6> all = {&ascii, &latin1, &utf8,
                                                    &cp037, &cp500,  &cp1047};
  for (const charset* c : all)
    if (c->name() == name) return c;
  return nullptr;
}

std::vector<std::string_view> charset_names() {
  return {"ascii", "latin1", "utf8", "ebcdic-cp037", "ebcdic-cp500", "ebcdic-cp1047"};
}

}  // namespace dragoman::codecs
