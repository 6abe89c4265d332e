// Tests for the charset stage: known vectors, round trips, errors, and EBCDIC tables against iconv.
#define BOOST_TEST_MODULE charset_test
#include <boost/test/unit_test.hpp>
#include <boost/test/data/test_case.hpp>

#include "codecs/charset.hpp"
#include "test_support.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <sys/wait.h>

namespace bdata = boost::unit_test::data;
using namespace dragoman::codecs;

namespace {

const charset& cs(std::string_view name) {
  const charset* c = find_charset(name);
  BOOST_TEST_REQUIRE(c != nullptr, "charset " << name << " not found");
  return *c;
}

byte_buffer encode_ok(std::string_view name, std::string_view text) {
  byte_buffer out;
  auto r = cs(name).encode(text, out);
  BOOST_TEST_REQUIRE(r.has_value(), name << " encode failed: " << (r ? "" : r.error().to_string()));
  return out;
}

std::string decode_ok(std::string_view name, byte_view wire) {
  std::string out;
  auto r = cs(name).decode(wire, out);
  BOOST_TEST_REQUIRE(r.has_value(), name << " decode failed: " << (r ? "" : r.error().to_string()));
  return out;
}

byte_buffer all_bytes(std::size_t count = 256) {
  byte_buffer b(count);
  for (std::size_t i = 0; i < count; ++i) b[i] = static_cast<byte>(i);
  return b;
}

// Runs `iconv -f <code_page> -t UTF-8` over the bytes 0x00..0xFF: a second, independent source
// for our generated tables (glibc's converters, at test time, on this machine).
std::string iconv_decode_all(const std::string& code_page) {
  char path[] = "/tmp/charset_test_XXXXXX";
  const int fd = mkstemp(path);
  BOOST_TEST_REQUIRE(fd >= 0, "cannot create a temporary file for iconv input");
  const byte_buffer input = all_bytes();
  const bool written = write(fd, input.data(), input.size()) == static_cast<ssize_t>(input.size());
  close(fd);
  BOOST_TEST_REQUIRE(written, "cannot write the iconv input file");
  const std::string command = "iconv -f " + code_page + " -t UTF-8 < " + path + " 2>&1";
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe) {
    std::array<char, 4096> chunk;
    std::size_t n;
    while ((n = std::fread(chunk.data(), 1, chunk.size(), pipe)) > 0)
      output.append(chunk.data(), n);
  }
  const int status = pipe ? pclose(pipe) : -1;
  unlink(path);
  if (status != 0)
    BOOST_FAIL("`" << command << "` failed (exit "
                   << (status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1)
                   << "): " << output
                   << "\niconv is part of libc-bin on Debian (apt-get install libc-bin); this "
                      "test needs it to check the EBCDIC tables against a second source");
  return output;
}

struct ebcdic_case {
  const char* charset;
  const char* iconv_name;
};
std::ostream& operator<<(std::ostream& os, const ebcdic_case& c) {
  return os << c.charset;
}

const ebcdic_case ebcdic_cases[] = {
    {"ebcdic-cp037", "IBM037"}, {"ebcdic-cp500", "IBM500"}, {"ebcdic-cp1047", "IBM1047"}};

}  // namespace

BOOST_AUTO_TEST_SUITE(registry)

BOOST_AUTO_TEST_CASE(every_listed_name_is_found_and_static) {
  BOOST_TEST(charset_names().size() == 6u);
  for (auto name : charset_names()) {
    const charset* c = find_charset(name);
    BOOST_TEST_REQUIRE(c != nullptr, name);
    BOOST_TEST(c->name() == name);
    BOOST_TEST(find_charset(name) == c);  // the same static instance every time
    BOOST_TEST(c->single_byte() == (name != "utf8"));
  }
}

BOOST_AUTO_TEST_CASE(unknown_names_are_null) {
  BOOST_TEST(find_charset("") == nullptr);
  BOOST_TEST(find_charset("ASCII") == nullptr);
  BOOST_TEST(find_charset("cp037") == nullptr);
  BOOST_TEST(find_charset("utf-8") == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ebcdic)

// The generated tables must agree with iconv on every byte.
BOOST_DATA_TEST_CASE(tables_match_iconv, bdata::make(ebcdic_cases), c) {
  const std::string expected = iconv_decode_all(c.iconv_name);
  const byte_buffer input = all_bytes();
  const std::string ours = decode_ok(c.charset, input);
  BOOST_TEST(ours == expected);
  // On a difference, name the first byte that differs (every character is below U+0100).
  std::size_t at = 0;
  for (int b = 0; b < 256 && ours != expected; ++b) {
    const byte one[1] = {static_cast<byte>(b)};
    const std::string mine = decode_ok(c.charset, one);
    const std::size_t len = static_cast<unsigned char>(expected[at]) < 0x80 ? 1 : 2;
    const std::string theirs = expected.substr(at, len);
    at += len;
    if (mine != theirs) {
      BOOST_ERROR(c.charset << " byte " << b << ": ours " << mine << ", iconv " << theirs);
      break;
    }
  }
}

BOOST_DATA_TEST_CASE(all_bytes_round_trip, bdata::make(ebcdic_cases), c) {
  const byte_buffer input = all_bytes();
  const std::string text = decode_ok(c.charset, input);
  BOOST_TEST(cs(c.charset).wire_length(text) == 256u);
  const byte_buffer back = encode_ok(c.charset, text);
  BOOST_TEST(back == input, boost::test_tools::per_element());
}

// IBM CCSID 37 code chart: H=C8 E=C5 L=D3 O=D6; space 40, digits F0..F9.
BOOST_AUTO_TEST_CASE(hello_in_cp037) {
  const byte_buffer expected = {0xC8, 0xC5, 0xD3, 0xD3, 0xD6};
  BOOST_TEST(encode_ok("ebcdic-cp037", "HELLO") == expected, boost::test_tools::per_element());
  BOOST_TEST(decode_ok("ebcdic-cp037", expected) == "HELLO");
  const byte_buffer digits = {0x40, 0xF0, 0xF1, 0xF9};
  BOOST_TEST(encode_ok("ebcdic-cp037", " 019") == digits, boost::test_tools::per_element());
}

// The code pages differ in the brackets (IBM code charts for CCSIDs 37, 500 and 1047).
BOOST_AUTO_TEST_CASE(left_bracket_differs_between_code_pages) {
  BOOST_TEST(cs("ebcdic-cp037").encode_char(U'[') == 0xBA);
  BOOST_TEST(cs("ebcdic-cp500").encode_char(U'[') == 0x4A);
  BOOST_TEST(cs("ebcdic-cp1047").encode_char(U'[') == 0xAD);
  BOOST_TEST(encode_ok("ebcdic-cp037", "[") == byte_buffer{0xBA}, boost::test_tools::per_element());
  BOOST_TEST(encode_ok("ebcdic-cp500", "[") == byte_buffer{0x4A}, boost::test_tools::per_element());
  BOOST_TEST(encode_ok("ebcdic-cp1047", "[") == byte_buffer{0xAD},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(accented_letters) {
  // CCSID 37: é = 0x51, ä = 0x43, ü = 0xDC.
  const byte_buffer expected = {0x51, 0x43, 0xDC};
  BOOST_TEST(encode_ok("ebcdic-cp037", "éäü") == expected, boost::test_tools::per_element());
  BOOST_TEST(decode_ok("ebcdic-cp037", expected) == "éäü");
}

BOOST_DATA_TEST_CASE(beyond_latin1_is_unmappable, bdata::make(ebcdic_cases), c) {
  byte_buffer out = {0x01};
  auto r = cs(c.charset).encode("A€", out);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code == errc::unmappable_char);
  BOOST_TEST(r.error().message ==
             "character '€' (U+20AC) has no code in " + std::string(c.charset));
  BOOST_TEST(out == byte_buffer{0x01}, boost::test_tools::per_element());  // left as it was
  BOOST_TEST(cs(c.charset).encode_char(U'€') == -1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ascii_and_latin1)

BOOST_AUTO_TEST_CASE(ascii_round_trips_its_128_bytes) {
  const byte_buffer input = all_bytes(128);
  const std::string text = decode_ok("ascii", input);
  BOOST_TEST(text == as_chars(input));
  BOOST_TEST(encode_ok("ascii", text) == input, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(ascii_refuses_high_bytes_naming_them) {
  const byte_buffer wire = {'a', 'b', 'c', 0x9F, 'd'};
  std::string out = "x";
  auto r = cs("ascii").decode(wire, out);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code == errc::unmappable_char);
  BOOST_TEST(r.error().message == "byte 0x9f at offset 3 is not ascii");
  BOOST_TEST(r.error().where.empty());
  BOOST_TEST(out == "x");
}

BOOST_AUTO_TEST_CASE(ascii_refuses_non_ascii_characters) {
  byte_buffer out;
  auto r = cs("ascii").encode("café", out);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code == errc::unmappable_char);
  BOOST_TEST(r.error().message == "character 'é' (U+00E9) has no code in ascii");
  BOOST_TEST(r.error().where.empty());
  BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(control_characters_are_named_by_code_point_only) {
  byte_buffer out;
  auto r = cs("ascii").encode("\u0085", out);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().message == "character U+0085 has no code in ascii");
  auto r2 = cs("latin1").encode("\U0001F600", out);
  BOOST_TEST_REQUIRE(!r2.has_value());
  BOOST_TEST(r2.error().message == "character '\U0001F600' (U+1F600) has no code in latin1");
}

// ISO/IEC 8859-1: é = 0xE9, ÿ = 0xFF, NBSP = 0xA0.
BOOST_AUTO_TEST_CASE(latin1_vectors) {
  BOOST_TEST(encode_ok("latin1", "é") == byte_buffer{0xE9}, boost::test_tools::per_element());
  const byte_buffer wire = {'c', 'a', 'f', 0xE9, 0xA0, 0xFF};
  BOOST_TEST(encode_ok("latin1", "caf\u00E9\u00A0\u00FF") == wire,
             boost::test_tools::per_element());
  BOOST_TEST(decode_ok("latin1", wire) == "caf\u00E9\u00A0\u00FF");
  BOOST_TEST(cs("latin1").encode_char(U'é') == 0xE9);
  BOOST_TEST(cs("latin1").encode_char(U'€') == -1);
}

BOOST_AUTO_TEST_CASE(latin1_round_trips_all_bytes) {
  const byte_buffer input = all_bytes();
  const std::string text = decode_ok("latin1", input);
  BOOST_TEST(text.size() == 128u + 2u * 128u);
  BOOST_TEST(encode_ok("latin1", text) == input, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(encode_and_decode_append) {
  byte_buffer out = {0xAA};
  BOOST_TEST(cs("ebcdic-cp037").encode("A", out).has_value());
  BOOST_TEST(out == (byte_buffer{0xAA, 0xC1}), boost::test_tools::per_element());
  std::string text = "x";
  BOOST_TEST(cs("latin1").decode(byte_buffer{0xE9}, text).has_value());
  BOOST_TEST(text == "x\u00E9");
}

// The ASCII fast path works eight bytes at a time: put the odd character at every position.
BOOST_DATA_TEST_CASE(fast_path_boundaries, bdata::xrange(0, 24), pos) {
  std::string text(24, 'a');
  text.replace(static_cast<std::size_t>(pos), 1, "é");
  for (auto name : {"latin1", "ebcdic-cp500"}) {
    const byte_buffer wire = encode_ok(name, text);
    BOOST_TEST(wire.size() == 24u);
    BOOST_TEST(decode_ok(name, wire) == text);
  }
  byte_buffer out;
  auto r = cs("ascii").encode(text, out);
  BOOST_TEST_REQUIRE(!r.has_value());
  byte_buffer wire(24, 'a');
  wire[static_cast<std::size_t>(pos)] = 0xE9;
  std::string decoded;
  auto d = cs("ascii").decode(wire, decoded);
  BOOST_TEST_REQUIRE(!d.has_value());
  BOOST_TEST(d.error().message == "byte 0xe9 at offset " + std::to_string(pos) + " is not ascii");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(utf8)

BOOST_AUTO_TEST_CASE(valid_text_passes_through) {
  const std::string text = "a\u00E9\u20AC\U0001F600z";
  const byte_buffer wire = encode_ok("utf8", text);
  BOOST_TEST(as_chars(wire) == text);
  BOOST_TEST(decode_ok("utf8", wire) == text);
  BOOST_TEST(cs("utf8").wire_length(text) == text.size());
  BOOST_TEST(cs("utf8").encode_char(U'A') == 0x41);
  BOOST_TEST(cs("utf8").encode_char(U'é') == -1);
}

BOOST_AUTO_TEST_CASE(wire_length_counts_characters_for_single_byte) {
  for (auto name : {"ascii", "latin1", "ebcdic-cp037", "ebcdic-cp500", "ebcdic-cp1047"})
    BOOST_TEST(cs(name).wire_length("h\u00E9llo\u20AC") == 6u, name);
  BOOST_TEST(cs("utf8").wire_length("h\u00E9llo") == 6u);
}

struct bad_utf8 {
  const char* what;
  std::string bytes;
  std::size_t offset;  // where the bad sequence starts
};
std::ostream& operator<<(std::ostream& os, const bad_utf8& b) {
  return os << b.what;
}

// Unicode 15, table 3-7 (well-formed UTF-8 byte sequences) and its counter-examples.
const bad_utf8 bad_utf8_cases[] = {
    {"lone continuation", "ab\x80", 2},
    {"truncated two-byte", "abc\xC3", 3},
    {"truncated three-byte", "\xE2\x82", 0},
    {"overlong C0", "\xC0\x80", 0},
    {"overlong C1", "x\xC1\xBF", 1},
    {"overlong three-byte", "\xE0\x80\x80", 0},
    {"surrogate", "ok\xED\xA0\x80", 2},
    {"overlong four-byte", "\xF0\x80\x80\x80", 0},
    {"beyond U+10FFFF", "\xF4\x90\x80\x80", 0},
    {"F5 lead byte", "\xF5\x80\x80\x80", 0},
    {"FF byte", "abcdefgh\xFF", 8},
    {"bad second byte", "\xC3(", 0},
};

BOOST_DATA_TEST_CASE(invalid_utf8_is_refused_by_every_charset, bdata::make(bad_utf8_cases), c) {
  for (auto name : charset_names()) {
    byte_buffer out = {0x42};
    auto r = cs(name).encode(c.bytes, out);
    BOOST_TEST_REQUIRE(!r.has_value(), name);
    BOOST_TEST(r.error().code == errc::unmappable_char);
    BOOST_TEST(r.error().where.empty());
    const std::string at = "at offset " + std::to_string(c.offset);
    BOOST_TEST(r.error().message.find(at) != std::string::npos, name << ": " << r.error().message);
    BOOST_TEST(r.error().message.starts_with("invalid UTF-8"), r.error().message);
    BOOST_TEST(out == byte_buffer{0x42}, boost::test_tools::per_element());
  }
  std::string text;
  auto d = cs("utf8").decode(as_bytes(c.bytes), text);
  BOOST_TEST_REQUIRE(!d.has_value());
  BOOST_TEST(d.error().code == errc::unmappable_char);
  BOOST_TEST(text.empty());
}

BOOST_AUTO_TEST_CASE(utf8_error_message_names_the_byte) {
  byte_buffer out;
  auto r = cs("utf8").encode("ab\x80", out);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().message ==
             "invalid UTF-8: byte 0x80 at offset 2 does not start a valid sequence");
}

BOOST_AUTO_TEST_CASE(boundary_code_points_are_valid) {
  // Smallest and largest of each sequence length, and the ones next to the surrogates.
  const std::string text = "\u0080\u07FF\u0800\uD7FF\uE000\uFFFF\U00010000\U0010FFFF";
  BOOST_TEST(as_chars(encode_ok("utf8", text)) == text);
}

BOOST_AUTO_TEST_SUITE_END()
