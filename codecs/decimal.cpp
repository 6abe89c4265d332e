// Canonical decimal text, zoned overpunch and packed (COMP-3) digits, shared by the layouts.
#include "codecs/decimal.hpp"

namespace dragoman::codecs::decimal {

namespace {
bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
}  // namespace

std::string message(status s, int decimals, std::size_t digits) {
  switch (s) {
    case status::ok:
      return {};
    case status::not_numeric:
      return "must be numeric";
    case status::sign_not_allowed:
      return "must not have a sign (the field is unsigned)";
    case status::too_many_decimals:
      if (decimals == 0) return "must be a whole number (the field has no decimals)";
      return "has more than the " + std::to_string(decimals) + " decimals allowed";
    case status::out_of_range: {
      std::size_t whole = digits > static_cast<std::size_t>(decimals)
                              ? digits - static_cast<std::size_t>(decimals)
                              : 0;
      return "out of range: at most " + std::to_string(whole) + " digits before the decimal point";
    }
  }
  return "must be numeric";
}

status to_digits(std::string_view text, int decimals, bool allow_sign, char* out,
                 std::size_t digits, bool& negative) noexcept {
  negative = false;
  std::size_t i = 0;
  const std::size_t n = text.size();
  bool minus = false;
  bool signed_text = false;
  if (i < n && (text[i] == '-' || text[i] == '+')) {
    minus = text[i] == '-';
    signed_text = true;
    ++i;
  }
  std::size_t int_begin = i;
  while (i < n && is_digit(text[i])) ++i;
  std::size_t int_end = i;
  std::size_t frac_begin = i;
  std::size_t frac_end = i;
  if (i < n && text[i] == '.') {
    frac_begin = ++i;
    while (i < n && is_digit(text[i])) ++i;
    frac_end = i;
  }
  if (i != n) return status::not_numeric;
  if (int_end == int_begin && frac_end == frac_begin && n != 0) return status::not_numeric;
  if (signed_text && !allow_sign) return status::sign_not_allowed;

  while (int_begin < int_end && text[int_begin] == '0') ++int_begin;
  const std::size_t dec = static_cast<std::size_t>(decimals);
  std::size_t frac_len = frac_end - frac_begin;
  if (frac_len > dec) {
    for (std::size_t k = frac_begin + dec; k < frac_end; ++k)
      if (text[k] != '0') return status::too_many_decimals;
    frac_len = dec;
  }
  const std::size_t int_len = int_end - int_begin;
  if (int_len + dec > digits) return status::out_of_range;

  std::size_t o = 0;
  for (std::size_t lead = digits - int_len - dec; o < lead; ++o) out[o] = '0';
  bool nonzero = false;
  for (std::size_t k = int_begin; k < int_end; ++k) {
    nonzero = true;  // leading zeros were stripped, so any digit left makes it non-zero
    out[o++] = text[k];
  }
  for (std::size_t k = 0; k < frac_len; ++k) {
    char c = text[frac_begin + k];
    if (c != '0') nonzero = true;
    out[o++] = c;
  }
  for (std::size_t k = frac_len; k < dec; ++k) out[o++] = '0';
  negative = minus && nonzero;
  return status::ok;
}

status to_integer(std::string_view text, int decimals, bool allow_sign, std::uint64_t& magnitude,
                  bool& negative) noexcept {
  constexpr std::size_t width = 20;  // 2^64-1 has 20 digits
  char buf[width];
  magnitude = 0;
  status s = to_digits(text, decimals, allow_sign, buf, width, negative);
  if (s != status::ok) return s;
  std::uint64_t v = 0;
  for (char c : buf) {
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return status::out_of_range;
    v = v * 10 + d;
  }
  magnitude = v;
  return status::ok;
}

void append_canonical(std::string& out, std::string_view digits, int decimals, bool negative) {
  const std::size_t dec = static_cast<std::size_t>(decimals);
  const std::size_t whole = digits.size() > dec ? digits.size() - dec : 0;
  std::size_t first = 0;
  while (first < whole && digits[first] == '0') ++first;
  bool nonzero = first < whole;
  for (std::size_t k = whole; k < digits.size() && !nonzero; ++k) nonzero = digits[k] != '0';
  if (negative && nonzero) out.push_back('-');
  if (first == whole)
    out.push_back('0');
  else
    out.append(digits.data() + first, whole - first);
  if (dec > 0) {
    out.push_back('.');
    // Fewer digits than decimals cannot happen for the layouts (decimals < digits); pad anyway.
    for (std::size_t k = digits.size(); k < dec; ++k) out.push_back('0');
    out.append(digits.data() + whole, digits.size() - whole);
  }
}

void append_canonical(std::string& out, std::uint64_t magnitude, int decimals, bool negative) {
  char buf[24];
  std::size_t n = sizeof buf;
  do {
    buf[--n] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  while (sizeof buf - n < static_cast<std::size_t>(decimals) + 1 && n > 0) buf[--n] = '0';
  append_canonical(out, std::string_view(buf + n, sizeof buf - n), decimals, negative);
}

void append_digits(std::string& out, std::string_view digits, int decimals, bool negative,
                   digits_style style) {
  if (style == digits_style::canonical) return append_canonical(out, digits, decimals, negative);
  const std::size_t dec = static_cast<std::size_t>(decimals);
  const std::size_t whole = digits.size() > dec ? digits.size() - dec : 0;
  bool nonzero = false;
  for (char c : digits) nonzero = nonzero || c != '0';
  if (negative && nonzero) out.push_back('-');
  if (whole == 0)
    out.push_back('0');
  else
    out.append(digits.data(), whole);
  if (dec > 0) {
    out.push_back('.');
    for (std::size_t k = digits.size(); k < dec; ++k) out.push_back('0');
    out.append(digits.data() + whole, digits.size() - whole);
  }
}

std::size_t written_integer_digits(std::string_view text) noexcept {
  std::size_t i = !text.empty() && (text[0] == '-' || text[0] == '+') ? 1 : 0;
  std::size_t n = 0;
  while (i < text.size() && is_digit(text[i])) ++i, ++n;
  return n;
}

char overpunch(int digit, bool negative) noexcept {
  if (digit == 0) return negative ? '}' : '{';
  return static_cast<char>((negative ? 'J' : 'A') + digit - 1);
}

bool unpunch(char c, int& digit, bool& negative) noexcept {
  if (is_digit(c)) {
    digit = c - '0';
    negative = false;
    return true;
  }
  if (c == '{' || c == '}') {
    digit = 0;
    negative = c == '}';
    return true;
  }
  if (c >= 'A' && c <= 'I') {
    digit = c - 'A' + 1;
    negative = false;
    return true;
  }
  if (c >= 'J' && c <= 'R') {
    digit = c - 'J' + 1;
    negative = true;
    return true;
  }
  return false;
}

void encode_packed(const char* digits, byte sign_nibble, std::span<byte> out) noexcept {
  // Digits fill the nibbles from the left; the last byte holds the last digit and the sign.
  const std::size_t n = out.size();
  for (std::size_t i = 0; i + 1 < n; ++i) {
    out[i] = static_cast<byte>((digits[2 * i] - '0') << 4 | (digits[2 * i + 1] - '0'));
  }
  out[n - 1] = static_cast<byte>((digits[2 * n - 2] - '0') << 4 | (sign_nibble & 0xF));
}

packed_status decode_packed(byte_view in, char* digits, bool& negative,
                            std::size_t& bad_offset) noexcept {
  const std::size_t n = in.size();
  negative = false;
  for (std::size_t i = 0; i < n; ++i) {
    const byte hi = in[i] >> 4;
    const byte lo = in[i] & 0xF;
    if (hi > 9 || (i + 1 < n && lo > 9)) {
      bad_offset = i;
      return packed_status::bad_digit;
    }
    digits[2 * i] = static_cast<char>('0' + hi);
    if (i + 1 < n) digits[2 * i + 1] = static_cast<char>('0' + lo);
  }
  const byte sign = in[n - 1] & 0xF;
  if (sign < 0xA) {
    bad_offset = n - 1;
    return packed_status::bad_sign;
  }
  negative = sign == 0xB || sign == 0xD;
  return packed_status::ok;
}

bool make_charset_digits(const charset* cs, charset_digits& out) {
  out.cs = cs;
  out.reverse.fill(-1);
  bool ok = true;
  auto put = [&](char c, byte& slot, int code) {
    const int w = cs->encode_char(static_cast<char32_t>(static_cast<unsigned char>(c)));
    if (w < 0 || w > 0xFF) {
      ok = false;
      return;
    }
    slot = static_cast<byte>(w);
    if (out.reverse[slot] < 0) out.reverse[slot] = static_cast<signed char>(code);
  };
  for (int d = 0; d < 10; ++d) {
    put(static_cast<char>('0' + d), out.digit[d], d);
    put(overpunch(d, false), out.positive[d], charset_digits::positive_base + d);
    put(overpunch(d, true), out.negative[d], charset_digits::negative_base + d);
  }
  put('-', out.minus, charset_digits::minus_code);
  put('+', out.plus, charset_digits::plus_code);
  put('.', out.point, charset_digits::point_code);
  put(' ', out.space, charset_digits::space_code);
  return ok;
}

}  // namespace dragoman::codecs::decimal
