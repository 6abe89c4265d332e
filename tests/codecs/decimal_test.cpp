// Tests for canonical decimal text, zoned overpunch and packed (COMP-3) digits.
#define BOOST_TEST_MODULE decimal_test
#include <boost/test/unit_test.hpp>

#include "codecs/decimal.hpp"

#include <string>

namespace dc = dragoman::codecs::decimal;
using dragoman::codecs::byte;
using dragoman::codecs::byte_buffer;

namespace {

struct digits_vector {
  const char* source;
  const char* text;
  int decimals;
  bool allow_sign;
  std::size_t digits;
  dc::status status;
  const char* expected;  // the digits when ok
  bool negative;
};

// Implied decimals as COBOL PIC 9(n)V9(d): the value is stored unscaled (IBM Enterprise COBOL
// Programming Guide, "Formats for numeric data"); brief examples where cited.
const digits_vector digits_vectors[] = {
    {"brief: 12.5 with 2 decimals in 8 digits", "12.5", 2, false, 8, dc::status::ok, "00001250",
     false},
    {"integer", "42", 0, false, 6, dc::status::ok, "000042", false},
    {"signed negative", "-12.50", 2, true, 5, dc::status::ok, "01250", true},
    {"explicit plus", "+7", 0, true, 1, dc::status::ok, "7", false},
    {"leading point", ".5", 2, false, 3, dc::status::ok, "050", false},
    {"trailing point", "5.", 1, false, 3, dc::status::ok, "050", false},
    {"empty is zero (absent field)", "", 2, false, 4, dc::status::ok, "0000", false},
    {"negative zero is not negative", "-0.00", 2, true, 3, dc::status::ok, "000", false},
    {"excess zero decimals are lossless", "12.500", 2, false, 4, dc::status::ok, "1250", false},
    {"leading zeros do not count", "000012", 0, false, 2, dc::status::ok, "12", false},
    {"exactly full", "999.99", 2, false, 5, dc::status::ok, "99999", false},
    {"too many decimals", "1.234", 2, false, 8, dc::status::too_many_decimals, "", false},
    {"too many digits", "1000", 0, false, 3, dc::status::out_of_range, "", false},
    {"sign on unsigned", "-1", 0, false, 3, dc::status::sign_not_allowed, "", false},
    {"plus on unsigned", "+1", 0, false, 3, dc::status::sign_not_allowed, "", false},
    {"letters", "12a", 0, false, 3, dc::status::not_numeric, "", false},
    {"sign only", "-", 0, true, 3, dc::status::not_numeric, "", false},
    {"point only", ".", 0, false, 3, dc::status::not_numeric, "", false},
    {"two points", "1.2.3", 2, false, 5, dc::status::not_numeric, "", false},
    {"exponent", "1e3", 0, false, 5, dc::status::not_numeric, "", false},
    {"space", " 1", 0, false, 5, dc::status::not_numeric, "", false},
};

struct canonical_vector {
  const char* source;
  const char* digits;
  int decimals;
  bool negative;
  const char* expected;
};

// Canonical record text (codecs/record.hpp): leading zeros dropped, exactly `decimals` decimals.
const canonical_vector canonical_vectors[] = {
    {"record.hpp example", "0001250", 2, true, "-12.50"},
    {"integer", "000042", 0, false, "42"},
    {"zero", "0000", 0, false, "0"},
    {"zero with decimals", "0000", 2, false, "0.00"},
    {"negative zero prints unsigned", "000", 2, true, "0.00"},
    {"all fraction", "05", 2, false, "0.05"},
    {"fewer digits than decimals", "5", 2, false, "0.05"},
};

}  // namespace

BOOST_AUTO_TEST_CASE(to_digits_vectors) {
  for (const auto& v : digits_vectors) {
    BOOST_TEST_CONTEXT(v.source << ": \"" << v.text << "\"") {
      char buf[dc::max_digits];
      bool negative = true;
      auto s = dc::to_digits(v.text, v.decimals, v.allow_sign, buf, v.digits, negative);
      BOOST_TEST(static_cast<int>(s) == static_cast<int>(v.status));
      if (s == dc::status::ok) {
        BOOST_TEST(std::string(buf, v.digits) == v.expected);
        BOOST_TEST(negative == v.negative);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(canonical_vectors_format) {
  for (const auto& v : canonical_vectors) {
    BOOST_TEST_CONTEXT(v.source) {
      std::string out;
      dc::append_canonical(out, v.digits, v.decimals, v.negative);
      BOOST_TEST(out == v.expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(integer_round_trip) {
  // 2^64-1 = 18446744073709551615 (the largest unsigned 8-byte binary field).
  std::uint64_t m = 0;
  bool negative = false;
  BOOST_TEST((dc::to_integer("18446744073709551615", 0, false, m, negative) == dc::status::ok));
  BOOST_TEST(m == UINT64_MAX);
  BOOST_TEST(
      (dc::to_integer("18446744073709551616", 0, false, m, negative) == dc::status::out_of_range));
  BOOST_TEST((dc::to_integer("-12.34", 2, true, m, negative) == dc::status::ok));
  BOOST_TEST(m == 1234u);
  BOOST_TEST(negative);
  std::string out;
  dc::append_canonical(out, std::uint64_t{1234}, 2, true);
  BOOST_TEST(out == "-12.34");
  out.clear();
  dc::append_canonical(out, std::uint64_t{5}, 3, false);
  BOOST_TEST(out == "0.005");
  out.clear();
  dc::append_canonical(out, UINT64_MAX, 0, false);
  BOOST_TEST(out == "18446744073709551615");
}

BOOST_AUTO_TEST_CASE(overpunch_table) {
  // IBM Enterprise COBOL zoned decimal: the sign is the zone of the last byte, C positive and D
  // negative; in EBCDIC (CCSID 037) C0-C9 are {ABCDEFGHI and D0-D9 are }JKLMNOPQR.
  const char positive[] = "{ABCDEFGHI";
  const char negative[] = "}JKLMNOPQR";
  for (int d = 0; d < 10; ++d) {
    BOOST_TEST(dc::overpunch(d, false) == positive[d]);
    BOOST_TEST(dc::overpunch(d, true) == negative[d]);
    int digit = -1;
    bool neg = true;
    BOOST_TEST(dc::unpunch(positive[d], digit, neg));
    BOOST_TEST(digit == d);
    BOOST_TEST(!neg);
    BOOST_TEST(dc::unpunch(negative[d], digit, neg));
    BOOST_TEST(digit == d);
    BOOST_TEST(neg);
    BOOST_TEST(dc::unpunch(static_cast<char>('0' + d), digit, neg));
    BOOST_TEST(digit == d);
    BOOST_TEST(!neg);
  }
  int digit = 0;
  bool neg = false;
  BOOST_TEST(!dc::unpunch('S', digit, neg));
  BOOST_TEST(!dc::unpunch(' ', digit, neg));
}

namespace {
struct packed_vector {
  const char* source;
  const char* digits;
  byte sign;
  std::vector<byte> wire;
};

// IBM Enterprise COBOL packed decimal (COMP-3): two digits a byte, the sign in the last
// nibble (C positive, D negative, F unsigned).
const packed_vector packed_vectors[] = {
    {"IBM: +1234 in 3 bytes = 01 23 4C", "01234", dc::packed_positive, {0x01, 0x23, 0x4C}},
    {"IBM: -1234 in 3 bytes = 01 23 4D", "01234", dc::packed_negative, {0x01, 0x23, 0x4D}},
    {"IBM: unsigned 1234 = 01 23 4F", "01234", dc::packed_unsigned, {0x01, 0x23, 0x4F}},
    {"IBM: +7 in 1 byte = 7C", "7", dc::packed_positive, {0x7C}},
    {"IBM: 31 digits in 16 bytes",
     "1234567890123456789012345678901",
     dc::packed_positive,
     {0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90,
      0x1C}},
};
}  // namespace

BOOST_AUTO_TEST_CASE(packed_vectors_round_trip) {
  for (const auto& v : packed_vectors) {
    BOOST_TEST_CONTEXT(v.source) {
      byte_buffer out(v.wire.size());
      dc::encode_packed(v.digits, v.sign, out);
      BOOST_TEST(out == v.wire, boost::test_tools::per_element());
      char digits[dc::max_digits];
      bool negative = false;
      std::size_t bad = 0;
      BOOST_TEST((dc::decode_packed(v.wire, digits, negative, bad) == dc::packed_status::ok));
      BOOST_TEST(std::string(digits, 2 * v.wire.size() - 1) == v.digits);
      BOOST_TEST(negative == (v.sign == dc::packed_negative));
    }
  }
}

BOOST_AUTO_TEST_CASE(packed_signs_accepted) {
  // IBM Principles of Operation, "Decimal-Number Formats": A, C, E, F are plus; B, D minus.
  const byte signs[] = {0xA, 0xB, 0xC, 0xD, 0xE, 0xF};
  for (byte s : signs) {
    BOOST_TEST_CONTEXT("sign nibble " << int(s)) {
      const byte wire[] = {0x12, static_cast<byte>(0x30 | s)};
      char digits[4];
      bool negative = false;
      std::size_t bad = 0;
      BOOST_TEST((dc::decode_packed(wire, digits, negative, bad) == dc::packed_status::ok));
      BOOST_TEST(negative == (s == 0xB || s == 0xD));
    }
  }
}

BOOST_AUTO_TEST_CASE(packed_malformed) {
  char digits[8];
  bool negative = false;
  std::size_t bad = 99;
  const byte bad_high[] = {0xA1, 0x2C};  // digit nibble A
  BOOST_TEST((dc::decode_packed(bad_high, digits, negative, bad) == dc::packed_status::bad_digit));
  BOOST_TEST(bad == 0u);
  const byte bad_low[] = {0x1F, 0x2C};  // digit nibble F before the last byte
  BOOST_TEST((dc::decode_packed(bad_low, digits, negative, bad) == dc::packed_status::bad_digit));
  BOOST_TEST(bad == 0u);
  const byte bad_last_digit[] = {0x12, 0xB3};  // high nibble of the last byte is a digit slot
  BOOST_TEST(
      (dc::decode_packed(bad_last_digit, digits, negative, bad) == dc::packed_status::bad_digit));
  BOOST_TEST(bad == 1u);
  const byte bad_sign[] = {0x12, 0x34};  // sign nibble 4 is a digit
  BOOST_TEST((dc::decode_packed(bad_sign, digits, negative, bad) == dc::packed_status::bad_sign));
  BOOST_TEST(bad == 1u);
}

BOOST_AUTO_TEST_CASE(messages_name_the_limit) {
  BOOST_TEST(dc::message(dc::status::not_numeric, 0, 5) == "must be numeric");
  BOOST_TEST(dc::message(dc::status::too_many_decimals, 2, 5) ==
             "has more than the 2 decimals allowed");
  BOOST_TEST(dc::message(dc::status::out_of_range, 2, 8) ==
             "out of range: at most 6 digits before the decimal point");
}

BOOST_AUTO_TEST_CASE(charset_digits_cp037) {
  // IBM CCSID 037: digits F0-F9, { = C0, A = C1, } = D0, J = D1, '-' = 60, '.' = 4B, ' ' = 40.
  const auto* cs = dragoman::codecs::find_charset("ebcdic-cp037");
  BOOST_REQUIRE(cs);
  dc::charset_digits d;
  BOOST_TEST(dc::make_charset_digits(cs, d));
  BOOST_TEST(d.digit[0] == 0xF0);
  BOOST_TEST(d.digit[9] == 0xF9);
  BOOST_TEST(d.positive[0] == 0xC0);
  BOOST_TEST(d.positive[9] == 0xC9);
  BOOST_TEST(d.negative[0] == 0xD0);
  BOOST_TEST(d.negative[9] == 0xD9);
  BOOST_TEST(d.minus == 0x60);
  BOOST_TEST(d.point == 0x4B);
  BOOST_TEST(d.space == 0x40);
  BOOST_TEST(d.reverse[0xF5] == 5);
  BOOST_TEST(d.reverse[0xD3] == dc::charset_digits::negative_base + 3);
  BOOST_TEST(d.reverse[0xC1] == dc::charset_digits::positive_base + 1);
}
