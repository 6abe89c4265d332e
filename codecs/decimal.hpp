// Canonical decimal text, zoned overpunch and packed (COMP-3) digits, shared by the layouts.
#pragma once

#include "codecs/bytes.hpp"
#include "codecs/charset.hpp"

#include <array>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace dragoman::codecs::decimal {

// Why a canonical decimal text does not fit a field; message() words it for an invalid_field.
enum class status {
  ok,
  not_numeric,        // not [sign] digits [. digits]
  sign_not_allowed,   // a sign on an unsigned field
  too_many_decimals,  // non-zero digits beyond the implied decimals
  out_of_range,       // more integer digits than the field holds, or beyond a binary range
};

// "must be numeric", "must not have a sign", "has more than 2 decimals", "out of range ..."
std::string message(status s, int decimals, std::size_t digits);

// The largest number of digits the layouts handle (packed 16 bytes = 31 digits, plus slack).
inline constexpr std::size_t max_digits = 40;

// Converts canonical decimal text ("-12.5", "42", "+0.50", ".5"; empty means zero) into exactly
// `digits` ASCII digits of the unscaled value with `decimals` implied decimals ("12.5", 2, 8 ->
// "00001250"). Excess fraction digits are accepted only when they are zeros. A negative zero is
// reported as not negative. `out` must hold `digits` characters.
status to_digits(std::string_view text, int decimals, bool allow_sign, char* out,
                 std::size_t digits, bool& negative) noexcept;

// The unscaled value as an integer magnitude (for binary fields); out_of_range beyond 2^64-1.
status to_integer(std::string_view text, int decimals, bool allow_sign, std::uint64_t& magnitude,
                  bool& negative) noexcept;

// Appends the canonical text of ASCII digits with implied decimals: leading zeros dropped, exactly
// `decimals` fraction digits, '-' only for a non-zero negative ("0001250", 2 -> "12.50").
void append_canonical(std::string& out, std::string_view digits, int decimals, bool negative);
// The same for an integer magnitude.
void append_canonical(std::string& out, std::uint64_t magnitude, int decimals, bool negative);

// How a decoded number is given to the app. as_written: every digit as on the wire, leading zeros
// kept ("000001"), for identifiers (traces, account numbers); canonical: append_canonical, for
// amounts. Either way exactly `decimals` fraction digits and '-' only for a non-zero negative.
enum class digits_style { as_written, canonical };
inline constexpr std::string_view digits_style_names[] = {"as_written", "canonical"};
// The default: an unsigned number without decimals is an identifier, anything else an amount.
constexpr digits_style default_digits_style(bool is_signed, int decimals) noexcept {
  return !is_signed && decimals == 0 ? digits_style::as_written : digits_style::canonical;
}
// Appends the text of ASCII digits with implied decimals in the given style.
void append_digits(std::string& out, std::string_view digits, int decimals, bool negative,
                   digits_style style);
// The integer digits canonical decimal text is written with, leading zeros included ("007.5" ->
// 3, "-.5" -> 0): what an as_written field keeps on the wire where its pad is not '0'.
std::size_t written_integer_digits(std::string_view text) noexcept;

// Zoned decimal sign overpunch on the last digit, as text characters (IBM Enterprise COBOL zoned
// decimal: zone C positive, D negative; in EBCDIC these characters are exactly bytes C0-C9 and
// D0-D9): positive {ABCDEFGHI, negative }JKLMNOPQR.
char overpunch(int digit, bool negative) noexcept;
// Reads a last zoned character: a plain digit (positive) or an overpunched one; false otherwise.
bool unpunch(char c, int& digit, bool& negative) noexcept;

// Packed decimal (COMP-3): 2*size-1 digits then a sign nibble. Sign nibbles as IBM writes them.
inline constexpr byte packed_positive = 0xC;
inline constexpr byte packed_negative = 0xD;
inline constexpr byte packed_unsigned = 0xF;

// Writes out.size() bytes from 2*out.size()-1 ASCII digits and a sign nibble.
void encode_packed(const char* digits, byte sign_nibble, std::span<byte> out) noexcept;

enum class packed_status { ok, bad_digit, bad_sign };
// Reads 2*in.size()-1 digits into `digits`. Accepts sign nibbles A, C, E, F (positive) and B, D
// (negative), as IBM hardware does. On failure bad_offset is the index of the offending byte.
packed_status decode_packed(byte_view in, char* digits, bool& negative,
                            std::size_t& bad_offset) noexcept;

// The wire bytes of digits, signs, the decimal point, space and the zoned overpunch characters
// in one single-byte-per-digit charset, and a reverse table from wire byte to what it means.
struct charset_digits {
  static constexpr signed char positive_base = 10;  // reverse: 10 + d for {ABCDEFGHI
  static constexpr signed char negative_base = 20;  // reverse: 20 + d for }JKLMNOPQR
  static constexpr signed char minus_code = 30;
  static constexpr signed char plus_code = 31;
  static constexpr signed char point_code = 32;
  static constexpr signed char space_code = 33;

  const charset* cs = nullptr;
  byte digit[10] = {};
  byte positive[10] = {};
  byte negative[10] = {};
  byte minus = 0, plus = 0, point = 0, space = 0;
  std::array<signed char, 256> reverse{};  // 0..9 a digit, the codes above, -1 anything else
};
// False when the charset lacks one of those characters.
bool make_charset_digits(const charset* cs, charset_digits& out);

}  // namespace dragoman::codecs::decimal
