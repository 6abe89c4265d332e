// Tests of the framing stage: exact bytes, round trips, every chunking of the input, malformed
// streams and configuration mistakes, for every framing type.
#define BOOST_TEST_MODULE framing_test
#include <boost/test/unit_test.hpp>

#include "codecs/framing.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <functional>
#include <ostream>
#include <optional>
#include <string>
#include <vector>

using namespace dragoman::codecs;

using namespace test_support;
using namespace test_support::framers;

namespace {

// The stream decodes to these frames and reported skips, however it is chunked.
void expect_frames_and_skips(const framer& f, std::string_view stream,
                             const std::vector<std::string>& frames,
                             const std::vector<std::string>& skips) {
  for_every_chunking(f, stream, [&](const decoded& d) {
    BOOST_TEST(d.frames == frames, boost::test_tools::per_element());
    BOOST_TEST(d.skips == skips, boost::test_tools::per_element());
    BOOST_TEST(!d.fatal);
    BOOST_TEST(d.leftover == 0u);
  });
}

std::string repeat(std::string_view x, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += x;
  return out;
}

const std::string hello = "HELLO, WORLD";

}  // namespace

// ---- length_prefix ------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(length_prefix)

struct netty_vector {
  const char* name;
  const char* config;
  std::string encode_input;  // the frame without its length field
  std::string before;        // on the wire
  std::string after;         // the decoded payload
};

// Source: Netty 4.1 LengthFieldBasedFrameDecoder javadoc, each of its BEFORE/AFTER diagrams.
const std::vector<netty_vector> netty_vectors = {
    {"2 bytes length field at offset 0, do not strip header",
     R"({"type":"length_prefix","length_field_length":2,"initial_bytes_to_strip":0,
         "max_frame_length":4096})",
     hello, s({0x00, 0x0C}) + hello, s({0x00, 0x0C}) + hello},
    {"2 bytes length field at offset 0, strip header",
     R"({"type":"length_prefix","length_field_length":2,"initial_bytes_to_strip":2,
         "max_frame_length":4096})",
     hello, s({0x00, 0x0C}) + hello, hello},
    {"2 bytes length field at offset 0, do not strip header, the length field represents the "
     "length of the whole message",
     R"({"type":"length_prefix","length_field_length":2,"length_adjustment":-2,
         "initial_bytes_to_strip":0,"max_frame_length":4096})",
     hello, s({0x00, 0x0E}) + hello, s({0x00, 0x0E}) + hello},
    {"the same, written with length_includes_header",
     R"({"type":"length_prefix","length_field_length":2,"length_includes_header":true,
         "initial_bytes_to_strip":0,"max_frame_length":4096})",
     hello, s({0x00, 0x0E}) + hello, s({0x00, 0x0E}) + hello},
    {"3 bytes length field at the end of 5 bytes header, do not strip header",
     R"({"type":"length_prefix","length_field_offset":2,"length_field_length":3,
         "initial_bytes_to_strip":0,"max_frame_length":4096})",
     s({0xCA, 0xFE}) + hello, s({0xCA, 0xFE, 0x00, 0x00, 0x0C}) + hello,
     s({0xCA, 0xFE, 0x00, 0x00, 0x0C}) + hello},
    {"3 bytes length field at the beginning of 5 bytes header, do not strip header",
     R"({"type":"length_prefix","length_field_length":3,"length_adjustment":2,
         "initial_bytes_to_strip":0,"max_frame_length":4096})",
     s({0xCA, 0xFE}) + hello, s({0x00, 0x00, 0x0C, 0xCA, 0xFE}) + hello,
     s({0x00, 0x00, 0x0C, 0xCA, 0xFE}) + hello},
    {"2 bytes length field at offset 1 in the middle of 4 bytes header, strip the first header "
     "field and the length field",
     R"({"type":"length_prefix","length_field_offset":1,"length_field_length":2,
         "length_adjustment":1,"initial_bytes_to_strip":3,"max_frame_length":4096})",
     s({0xCA, 0xFE}) + hello, s({0xCA, 0x00, 0x0C, 0xFE}) + hello, s({0xFE}) + hello},
    {"2 bytes length field at offset 1 in the middle of 4 bytes header, strip the first header "
     "field and the length field, the length field represents the length of the whole message",
     R"({"type":"length_prefix","length_field_offset":1,"length_field_length":2,
         "length_adjustment":-3,"initial_bytes_to_strip":3,"max_frame_length":4096})",
     s({0xCA, 0xFE}) + hello, s({0xCA, 0x00, 0x10, 0xFE}) + hello, s({0xFE}) + hello},
};

BOOST_AUTO_TEST_CASE(netty_javadoc_decode) {
  for (const auto& v : netty_vectors) {
    BOOST_TEST_CONTEXT(v.name) {
      auto f = must_build(v.config);
      // Three frames back to back, so a decoder that over- or under-consumes shows.
      expect_frames(*f, v.before + v.before + v.before, {v.after, v.after, v.after});
    }
  }
}

BOOST_AUTO_TEST_CASE(netty_javadoc_encode) {
  for (const auto& v : netty_vectors) {
    BOOST_TEST_CONTEXT(v.name) {
      auto f = must_build(v.config);
      BOOST_TEST(encode(*f, v.encode_input) == v.before);
    }
  }
}

struct encoding_vector {
  const char* config;
  std::string payload;
  std::string wire;
};

// Hand-computed: the length field carries the payload length in the named encoding.
const std::vector<encoding_vector> encoding_vectors = {
    {R"({"type":"length_prefix","length_field_length":1,"max_frame_length":256})", "hello",
     s({0x05}) + "hello"},
    {R"({"type":"length_prefix","length_field_length":2,"byte_order":"little",
         "max_frame_length":4096})",
     "hello", s({0x05, 0x00}) + "hello"},
    {R"({"type":"length_prefix","length_field_length":3,"max_frame_length":4096})", "hello",
     s({0x00, 0x00, 0x05}) + "hello"},
    {R"({"type":"length_prefix","length_field_length":4,"max_frame_length":4096})", "hello",
     s({0x00, 0x00, 0x00, 0x05}) + "hello"},
    {R"({"type":"length_prefix","length_field_length":4,"byte_order":"little",
         "max_frame_length":4096})",
     "hello", s({0x05, 0x00, 0x00, 0x00}) + "hello"},
    {R"({"type":"length_prefix","length_field_length":8,"max_frame_length":4096})", "hello",
     s({0, 0, 0, 0, 0, 0, 0, 0x05}) + "hello"},
    {R"({"type":"length_prefix","length_field_length":8,"byte_order":"little",
         "max_frame_length":4096})",
     "hello", s({0x05, 0, 0, 0, 0, 0, 0, 0}) + "hello"},
    {R"({"type":"length_prefix","length_encoding":"ascii","length_field_length":4,
         "max_frame_length":4096})",
     "hello", "0005hello"},
    {R"({"type":"length_prefix","length_encoding":"ascii","length_field_length":4,
         "length_includes_header":true,"max_frame_length":4096})",
     "hello", "0009hello"},
    {R"({"type":"length_prefix","length_encoding":"hex","length_field_length":4,
         "max_frame_length":4096})",
     repeat("x", 300), "012C" + repeat("x", 300)},
    {R"({"type":"length_prefix","length_encoding":"bcd","length_field_length":2,
         "max_frame_length":4096})",
     repeat("x", 1234), s({0x12, 0x34}) + repeat("x", 1234)},
    {R"({"type":"length_prefix","length_field_length":2,"max_frame_length":4096})", "",
     s({0x00, 0x00})},
};

BOOST_AUTO_TEST_CASE(encodings_exact_bytes_and_round_trip) {
  for (const auto& v : encoding_vectors) {
    BOOST_TEST_CONTEXT(v.config) {
      auto f = must_build(v.config);
      BOOST_TEST(encode(*f, v.payload) == v.wire);
      const decoded d = feed(*f, v.wire + v.wire, {});
      BOOST_TEST(d.frames == (std::vector<std::string>{v.payload, v.payload}),
                 boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(round_trip_every_chunking) {
  auto f =
      must_build(R"({"type":"length_prefix","length_field_length":2,"max_frame_length":4096})");
  const std::vector<std::string> payloads = {"a", "", repeat("0123456789", 30), "last"};
  std::string stream;
  for (const auto& p : payloads) stream += encode(*f, p);
  expect_frames(*f, stream, payloads);
}

BOOST_AUTO_TEST_CASE(ascii_hex_and_bcd_every_chunking) {
  for (const char* config : {
           R"({"type":"length_prefix","length_encoding":"ascii","length_field_length":3,
               "max_frame_length":999})",
           R"({"type":"length_prefix","length_encoding":"hex","length_field_length":2,
               "max_frame_length":257})",
           R"({"type":"length_prefix","length_encoding":"bcd","length_field_length":1,
               "max_frame_length":100})",
       }) {
    BOOST_TEST_CONTEXT(config) {
      auto f = must_build(config);
      std::string stream = encode(*f, "one") + encode(*f, "") + encode(*f, "three");
      expect_frames(*f, stream, {"one", "", "three"});
    }
  }
}

BOOST_AUTO_TEST_CASE(hex_length_accepts_lower_case) {
  auto f = must_build(
      R"({"type":"length_prefix","length_encoding":"hex","length_field_length":2,
          "max_frame_length":257})");
  const std::string payload = repeat("z", 0x1a);
  expect_frames(*f, "1a" + payload, {payload});
}

BOOST_AUTO_TEST_CASE(oversized_frame_is_skipped_then_next_frame_decodes) {
  auto f =
      must_build(R"({"type":"length_prefix","length_field_length":2,"max_frame_length":4096})");
  // A 2-byte header saying 4998 makes a frame of 5000 bytes.
  const std::string big = s({0x13, 0x86}) + repeat("b", 4998);
  const std::string stream = encode(*f, "before") + big + encode(*f, "after");
  const decoded whole = feed(*f, stream, {});
  BOOST_TEST(whole.skip_messages ==
                 (std::vector<std::string>{"frame of 5000 bytes exceeds max_frame_length 4096"}),
             boost::test_tools::per_element());
  expect_frames_and_skips(*f, stream, {"before", "after"}, {"frame_too_long"});
}

BOOST_AUTO_TEST_CASE(huge_8_byte_length_is_skipped_not_trusted) {
  auto f =
      must_build(R"({"type":"length_prefix","length_field_length":8,"max_frame_length":4096})");
  const std::string stream = s({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}) + "junk";
  const decoded d = feed(*f, stream, {});
  BOOST_TEST(d.skips == (std::vector<std::string>{"frame_too_long"}),
             boost::test_tools::per_element());
  BOOST_TEST(d.frames.empty());
  BOOST_TEST(d.leftover == 0u);
}

BOOST_AUTO_TEST_CASE(bad_ascii_digit_is_fatal) {
  auto f = must_build(
      R"({"type":"length_prefix","length_encoding":"ascii","length_field_length":4,
          "max_frame_length":4096})");
  for_every_chunking(*f, encode(*f, "ok") + "00A5hello", [](const decoded& d) {
    BOOST_TEST(d.frames == (std::vector<std::string>{"ok"}), boost::test_tools::per_element());
    BOOST_TEST(d.fatal.value_or("") == "length field byte 2 is 0x41 ('A'), not an ASCII digit");
  });
}

BOOST_AUTO_TEST_CASE(bad_hex_digit_is_fatal) {
  auto f = must_build(
      R"({"type":"length_prefix","length_encoding":"hex","length_field_length":4,
          "max_frame_length":4096})");
  const decoded d = feed(*f, "00G5hello", {});
  BOOST_TEST(d.fatal.value_or("") == "length field byte 2 is 0x47 ('G'), not a hex digit");
}

BOOST_AUTO_TEST_CASE(bad_bcd_nibble_is_fatal) {
  auto f = must_build(
      R"({"type":"length_prefix","length_encoding":"bcd","length_field_length":2,
          "max_frame_length":4096})");
  const decoded d = feed(*f, s({0x00, 0x1A}) + "hello", {});
  BOOST_TEST(d.fatal.value_or("") == "length field byte 1 is 0x1a, not two BCD digits");
}

BOOST_AUTO_TEST_CASE(length_shorter_than_header_is_fatal) {
  auto f = must_build(
      R"({"type":"length_prefix","length_field_length":2,"length_includes_header":true,
          "max_frame_length":4096})");
  const decoded d = feed(*f, s({0x00, 0x01, 0x41}), {});
  BOOST_TEST(d.fatal.value_or("") ==
             "length 1 gives a frame of 1 bytes, shorter than its own "
             "2-byte header");
}

BOOST_AUTO_TEST_CASE(encode_refuses_what_cannot_be_framed) {
  auto f = must_build(
      R"({"type":"length_prefix","length_field_offset":2,"length_field_length":2,
          "max_frame_length":100})");
  byte_buffer out;
  auto too_long = f->encode(as_bytes(repeat("x", 99)), out);
  BOOST_REQUIRE(!too_long);
  BOOST_TEST(too_long.error().code == errc::frame_too_long);
  BOOST_TEST(too_long.error().to_string() ==
             "framing: frame of 101 bytes exceeds max_frame_length 100");
  auto too_short = f->encode(as_bytes("x"), out);
  BOOST_REQUIRE(!too_short);
  BOOST_TEST(too_short.error().code == errc::invalid_field);
  BOOST_TEST(too_short.error().message ==
             "payload of 1 bytes is shorter than length_field_offset 2");
  BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(strip_may_cover_a_header_after_the_length_field) {
  // Netty's offset 1 / adjustment 1 example, also stripping the second header byte.
  auto f = must_build(
      R"({"type":"length_prefix","length_field_offset":1,"length_field_length":2,
          "length_adjustment":1,"initial_bytes_to_strip":4,"max_frame_length":4096})");
  expect_frames(*f, s({0xCA, 0x00, 0x0C, 0xFE}) + hello, {hello});
}

BOOST_AUTO_TEST_CASE(describe_is_the_effective_config_and_reads_back) {
  auto f =
      must_build(R"({"type":"length_prefix","length_field_length":2,"max_frame_length":4096})");
  const boost::json::object d = f->describe();
  BOOST_TEST(boost::json::serialize(d) ==
             R"({"type":"length_prefix","length_field_offset":0,"length_field_length":2,)"
             R"("length_encoding":"binary","byte_order":"big","length_adjustment":0,)"
             R"("length_includes_header":false,"initial_bytes_to_strip":2,)"
             R"("max_frame_length":4096})");
  BOOST_TEST(f->max_frame_length() == 4096u);
  auto again = must_build(boost::json::serialize(d));
  BOOST_TEST(again->describe() == d);
}

BOOST_AUTO_TEST_CASE(config_binary_length_too_small_for_max_frame_length) {
  expect_config_error(
      R"({"type":"length_prefix","length_field_length":1,"max_frame_length":1000})",
      "framing.max_frame_length: exceeds what a 1-byte length can express (255), the largest "
      "frame it can describe is 256 bytes");
}

BOOST_AUTO_TEST_CASE(config_ascii_length_too_small_for_max_frame_length) {
  expect_config_error(
      R"({"type":"length_prefix","length_encoding":"ascii","length_field_length":2,
          "max_frame_length":1000})",
      "framing.max_frame_length: exceeds what a 2-digit ASCII length can express (99), the "
      "largest frame it can describe is 101 bytes");
}

BOOST_AUTO_TEST_CASE(config_strip_larger_than_header) {
  expect_config_error(
      R"({"type":"length_prefix","length_field_length":2,"initial_bytes_to_strip":3,
          "max_frame_length":4096})",
      "framing.initial_bytes_to_strip: 3 is larger than the header (2 bytes: "
      "length_field_offset + length_field_length)");
}

BOOST_AUTO_TEST_CASE(config_max_frame_length_is_mandatory) {
  expect_config_error(R"({"type":"length_prefix","length_field_length":2})",
                      "framing.max_frame_length: is required");
}

BOOST_AUTO_TEST_CASE(config_max_frame_length_must_be_positive) {
  expect_config_error(R"({"type":"length_prefix","length_field_length":2,"max_frame_length":0})",
                      "framing.max_frame_length: must be > 0");
}

BOOST_AUTO_TEST_CASE(config_length_field_length_is_mandatory) {
  expect_config_error(R"({"type":"length_prefix","max_frame_length":100})",
                      "framing.length_field_length: is required");
}

BOOST_AUTO_TEST_CASE(config_binary_length_of_5_bytes) {
  expect_config_error(R"({"type":"length_prefix","length_field_length":5,"max_frame_length":100})",
                      "framing.length_field_length: must be 1, 2, 3, 4 or 8 for a binary length");
}

BOOST_AUTO_TEST_CASE(config_byte_order_with_ascii) {
  expect_config_error(
      R"({"type":"length_prefix","length_encoding":"ascii","length_field_length":4,
          "byte_order":"little","max_frame_length":100})",
      "framing.byte_order: only applies to length_encoding binary");
}

BOOST_AUTO_TEST_CASE(config_unknown_encoding) {
  expect_config_error(
      R"({"type":"length_prefix","length_encoding":"ebcdic","length_field_length":4,
          "max_frame_length":100})",
      "framing.length_encoding: unknown value \"ebcdic\", must be one of binary, ascii, bcd, hex");
}

BOOST_AUTO_TEST_CASE(config_adjustment_leaves_no_valid_frame) {
  expect_config_error(
      R"({"type":"length_prefix","length_field_length":1,"length_adjustment":-300,
          "max_frame_length":100})",
      "framing.length_adjustment: -300 leaves no valid frame: even the largest length 255 "
      "gives a frame shorter than its 1-byte header");
}

BOOST_AUTO_TEST_CASE(config_max_frame_length_below_header) {
  expect_config_error(
      R"({"type":"length_prefix","length_field_offset":4,"length_field_length":4,
          "max_frame_length":6})",
      "framing.max_frame_length: 6 is smaller than the shortest frame (8 bytes)");
}

BOOST_AUTO_TEST_CASE(config_unknown_key) {
  expect_config_error(
      R"({"type":"length_prefix","length_field_length":2,"max_frame_length":100,
          "lenght_adjustment":2})",
      "framing.lenght_adjustment: unknown key");
}

BOOST_AUTO_TEST_SUITE_END()

// ---- make_framer
// ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(dispatch)

BOOST_AUTO_TEST_CASE(type_is_required) {
  expect_config_error(R"({"max_frame_length":100})",
                      "framing.type: is required (one of length_prefix, delimiter, mllp, "
                      "stx_etx, fixed_size, line_blocks, tag_value)");
}

BOOST_AUTO_TEST_CASE(unknown_type) {
  auto b = build(R"({"type":"slip","max_frame_length":100})");
  BOOST_TEST(!b->framer_);
  // The type's mistake alone: no "unknown key" noise for the keys of a type we do not know.
  BOOST_TEST(
      b->diag.errors() ==
          (std::vector<std::string>{
              "framing.type: unknown value \"slip\", must be one of "
              "length_prefix, delimiter, mllp, stx_etx, fixed_size, line_blocks, tag_value"}),
      boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

// ---- delimiter ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(delimiter)

BOOST_AUTO_TEST_CASE(crlf_lines_every_chunking) {
  auto f = must_build(R"({"type":"delimiter","delimiters":"\r\n","max_frame_length":64})");
  expect_frames(*f, "a\r\nbc\r\n\r\nlast line\r\n", {"a", "bc", "", "last line"});
}

BOOST_AUTO_TEST_CASE(strip_false_keeps_the_delimiter) {
  auto f =
      must_build(R"({"type":"delimiter","delimiters":"\r\n","strip":false,"max_frame_length":64})");
  expect_frames(*f, "a\r\nbc\r\n", {"a\r\n", "bc\r\n"});
}

BOOST_AUTO_TEST_CASE(several_delimiters_earliest_wins) {
  auto f = must_build(
      R"({"type":"delimiter","delimiters":["\r\n","\n"],"strip":false,"max_frame_length":64})");
  expect_frames(*f, "a\nb\r\nc\n", {"a\n", "b\r\n", "c\n"});
}

BOOST_AUTO_TEST_CASE(delimiters_as_byte_arrays) {
  auto one = must_build(R"({"type":"delimiter","delimiters":[13,10],"max_frame_length":64})");
  expect_frames(*one, "x\r\ny\r\n", {"x", "y"});
  auto several = must_build(
      R"({"type":"delimiter","delimiters":[[0],"END",[255,255]],"max_frame_length":64})");
  expect_frames(*several, s({'a', 0, 'b', 'E', 'N', 'D', 'c', 0xFF, 0xFF}), {"a", "b", "c"});
}

BOOST_AUTO_TEST_CASE(encode_appends_the_first_delimiter_and_round_trips) {
  auto f = must_build(R"({"type":"delimiter","delimiters":["\r\n","\n"],"max_frame_length":64})");
  BOOST_TEST(encode(*f, "hello") == "hello\r\n");
  expect_frames(*f, encode(*f, "one") + encode(*f, "") + encode(*f, "three"), {"one", "", "three"});
}

BOOST_AUTO_TEST_CASE(encode_refuses_a_payload_containing_a_delimiter) {
  auto f = must_build(R"({"type":"delimiter","delimiters":["\r\n","\n"],"max_frame_length":64})");
  byte_buffer out;
  auto r = f->encode(as_bytes("ab\ncd"), out);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().code == errc::invalid_field);
  BOOST_TEST(r.error().message == "payload contains a delimiter (\"\\n\" at offset 2)");
  BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(encode_refuses_a_payload_ending_in_part_of_the_delimiter) {
  // "xa" + "aa" would decode as "x": the delimiter would start inside the payload.
  auto f = must_build(R"({"type":"delimiter","delimiters":"aa","max_frame_length":64})");
  byte_buffer out;
  auto r = f->encode(as_bytes("xa"), out);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message == "payload contains a delimiter (\"a\" at offset 1)");
}

BOOST_AUTO_TEST_CASE(oversized_frame_is_skipped_then_next_frame_decodes) {
  auto f = must_build(R"({"type":"delimiter","delimiters":"\r\n","max_frame_length":8})");
  const std::string stream = "ok1\r\n0123456789ABC\r\nok2\r\n";
  const decoded whole = feed(*f, stream, {});
  BOOST_TEST(whole.skip_messages ==
                 (std::vector<std::string>{"frame of 13 bytes exceeds max_frame_length 8"}),
             boost::test_tools::per_element());
  expect_frames_and_skips(*f, stream, {"ok1", "ok2"}, {"frame_too_long"});
}

BOOST_AUTO_TEST_CASE(oversized_frame_reported_before_its_delimiter_arrives) {
  auto f = must_build(R"({"type":"delimiter","delimiters":"\r\n","max_frame_length":8})");
  const decoded d = feed(*f, "0123456789ABC", {});
  BOOST_TEST(d.skip_messages ==
                 (std::vector<std::string>{"frame of more than 8 bytes exceeds max_frame_length 8 "
                                           "(no delimiter found); discarding to the next "
                                           "delimiter"}),
             boost::test_tools::per_element());
  // The last byte might start a delimiter, so it stays.
  BOOST_TEST(d.leftover == 1u);
}

BOOST_AUTO_TEST_CASE(frame_of_exactly_max_frame_length_is_delivered) {
  auto f = must_build(R"({"type":"delimiter","delimiters":"\r\n","max_frame_length":8})");
  expect_frames(*f, "01234567\r\n", {"01234567"});
}

BOOST_AUTO_TEST_CASE(describe_reads_back) {
  auto f = must_build(R"({"type":"delimiter","delimiters":["\r\n",[255]],"max_frame_length":64})");
  const boost::json::object d = f->describe();
  BOOST_TEST(boost::json::serialize(d) ==
             R"({"type":"delimiter","delimiters":["\r\n",[255]],"strip":true,)"
             R"("max_frame_length":64})");
  auto again = must_build(boost::json::serialize(d));
  BOOST_TEST(again->describe() == d);
}

BOOST_AUTO_TEST_CASE(config_delimiters_required) {
  expect_config_error(R"({"type":"delimiter","max_frame_length":64})",
                      "framing.delimiters: is required");
}

BOOST_AUTO_TEST_CASE(config_empty_delimiter) {
  expect_config_error(R"({"type":"delimiter","delimiters":["\n",""],"max_frame_length":64})",
                      "framing.delimiters[1]: must not be empty");
}

BOOST_AUTO_TEST_CASE(config_bad_delimiter_element) {
  expect_config_error(R"({"type":"delimiter","delimiters":["\n",[300]],"max_frame_length":64})",
                      "framing.delimiters[1]: must be a string or an array of byte values 0..255");
}

BOOST_AUTO_TEST_CASE(config_max_frame_length_is_mandatory) {
  expect_config_error(R"({"type":"delimiter","delimiters":"\n"})",
                      "framing.max_frame_length: is required");
}

BOOST_AUTO_TEST_SUITE_END()

// ---- mllp ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(mllp)

// MLLP block bytes, HL7 v2 Implementation Guide, appendix C (minimal lower layer protocol).
const std::string sb = s({0x0B});
const std::string eb = s({0x1C, 0x0D});
const std::string msh = "MSH|^~\\&|LAB|ACME|||20240101||ORU^R01|42|P|2.5\r";

BOOST_AUTO_TEST_CASE(encode_exact_bytes) {
  auto f = must_build(R"({"type":"mllp"})");
  BOOST_TEST(encode(*f, "MSH|x") == sb + "MSH|x" + eb);
  BOOST_TEST(f->max_frame_length() == 1048576u);
}

BOOST_AUTO_TEST_CASE(round_trip_every_chunking) {
  auto f = must_build(R"({"type":"mllp"})");
  expect_frames(*f, encode(*f, msh) + encode(*f, "") + encode(*f, "second"), {msh, "", "second"});
}

BOOST_AUTO_TEST_CASE(garbage_before_start_block_is_skipped_once) {
  auto f = must_build(R"({"type":"mllp"})");
  const std::string stream = "\r\nnoise" + sb + "one" + eb;
  const decoded whole = feed(*f, stream, {});
  BOOST_TEST(whole.skip_messages ==
                 (std::vector<std::string>{"discarding bytes before the MLLP start block 0x0b "
                                           "(first byte 0x0d)"}),
             boost::test_tools::per_element());
  expect_frames_and_skips(*f, stream, {"one"}, {"malformed"});
}

BOOST_AUTO_TEST_CASE(lenient_end_accepts_a_missing_carriage_return) {
  auto f = must_build(R"({"type":"mllp"})");
  expect_frames(*f, sb + "one" + s({0x1C}) + sb + "two" + eb, {"one", "two"});
}

BOOST_AUTO_TEST_CASE(lenient_end_waits_for_the_byte_after_the_end_block) {
  auto f = must_build(R"({"type":"mllp"})");
  const decoded pending = feed(*f, sb + "one" + s({0x1C}), {});
  BOOST_TEST(pending.frames.empty());
  BOOST_TEST(pending.leftover == 5u);
  // Then the carriage return arrives and is consumed with the frame.
  expect_frames(*f, sb + "one" + eb, {"one"});
}

BOOST_AUTO_TEST_CASE(strict_end_skips_a_frame_without_carriage_return) {
  auto f = must_build(R"({"type":"mllp","lenient_end":false})");
  const std::string stream = sb + "bad" + s({0x1C}) + sb + "good" + eb;
  const decoded whole = feed(*f, stream, {});
  BOOST_TEST(whole.skip_messages ==
                 (std::vector<std::string>{"MLLP end block 0x1c is followed by 0x0b instead of "
                                           "0x0d (lenient_end is false)"}),
             boost::test_tools::per_element());
  expect_frames_and_skips(*f, stream, {"good"}, {"malformed"});
}

BOOST_AUTO_TEST_CASE(oversized_frame_is_skipped_then_next_frame_decodes) {
  auto f = must_build(R"({"type":"mllp","max_frame_length":10})");
  const std::string stream = sb + "ok" + eb + sb + repeat("x", 25) + eb + sb + "next" + eb;
  const decoded whole = feed(*f, stream, {});
  BOOST_TEST(whole.skip_messages ==
                 (std::vector<std::string>{"frame of 25 bytes exceeds max_frame_length 10"}),
             boost::test_tools::per_element());
  expect_frames_and_skips(*f, stream, {"ok", "next"}, {"frame_too_long"});
}

BOOST_AUTO_TEST_CASE(oversized_frame_reported_before_its_end_block_arrives) {
  auto f = must_build(R"({"type":"mllp","max_frame_length":10})");
  const std::string stream = sb + repeat("x", 25) + eb + sb + "next" + eb;
  const decoded head = feed(*f, stream.substr(0, 15), {});
  BOOST_TEST(head.skip_messages ==
                 (std::vector<std::string>{"frame of more than 10 bytes exceeds max_frame_length "
                                           "10 (no end block 0x1c found); discarding to the next "
                                           "end block"}),
             boost::test_tools::per_element());
  BOOST_TEST(head.leftover == 0u);
  expect_frames_and_skips(*f, stream, {"next"}, {"frame_too_long"});
}

BOOST_AUTO_TEST_CASE(describe_reads_back) {
  auto f = must_build(R"({"type":"mllp","lenient_end":false})");
  const boost::json::object d = f->describe();
  BOOST_TEST(boost::json::serialize(d) ==
             R"({"type":"mllp","max_frame_length":1048576,"lenient_end":false})");
  auto again = must_build(boost::json::serialize(d));
  BOOST_TEST(again->describe() == d);
}

BOOST_AUTO_TEST_CASE(encode_refuses_block_bytes_in_the_payload) {
  auto f = must_build(R"({"type":"mllp"})");
  byte_buffer out;
  auto r = f->encode(as_bytes("ab" + s({0x1C})), out);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message == "payload contains the MLLP block byte 0x1c at offset 2");
}

BOOST_AUTO_TEST_CASE(config_unknown_key) {
  expect_config_error(R"({"type":"mllp","strict":true})", "framing.strict: unknown key");
}

BOOST_AUTO_TEST_SUITE_END()

// ---- stx_etx
// --------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(stx_etx)

const std::string stx = s({0x02});
const std::string etx = s({0x03});

BOOST_AUTO_TEST_CASE(round_trip_without_lrc_every_chunking) {
  auto f = must_build(R"({"type":"stx_etx"})");
  BOOST_TEST(encode(*f, "ABC") == stx + "ABC" + etx);
  BOOST_TEST(f->max_frame_length() == 65536u);
  expect_frames(*f, encode(*f, "ABC") + encode(*f, "") + encode(*f, "DEF"), {"ABC", "", "DEF"});
}

BOOST_AUTO_TEST_CASE(lrc_exact_bytes) {
  // Hand-computed: 'A' ^ 'B' ^ 'C' = 0x40, and ^ ETX = 0x43.
  auto covers_etx = must_build(R"({"type":"stx_etx","lrc":true})");
  BOOST_TEST(encode(*covers_etx, "ABC") == stx + "ABC" + etx + s({0x43}));
  auto payload_only = must_build(R"({"type":"stx_etx","lrc":true,"lrc_covers":"payload"})");
  BOOST_TEST(encode(*payload_only, "ABC") == stx + "ABC" + etx + s({0x40}));
}

BOOST_AUTO_TEST_CASE(lrc_round_trip_every_chunking) {
  auto f = must_build(R"({"type":"stx_etx","lrc":true})");
  // The LRC of payload 0x01 is 0x01 ^ 0x03 = 0x02, an STX byte that must not start a frame.
  const std::string tricky = s({0x01});
  expect_frames(*f, encode(*f, tricky) + encode(*f, "ABC") + encode(*f, ""), {tricky, "ABC", ""});
}

BOOST_AUTO_TEST_CASE(lrc_over_payload_only_every_chunking) {
  auto f = must_build(R"({"type":"stx_etx","lrc":true,"lrc_covers":"payload"})");
  expect_frames(*f, stx + "ABC" + etx + s({0x40}) + stx + etx + s({0x00}), {"ABC", ""});
}

BOOST_AUTO_TEST_CASE(lrc_mismatch_skips_the_frame) {
  auto f = must_build(R"({"type":"stx_etx","lrc":true})");
  const std::string stream = stx + "ABC" + etx + s({0x44}) + encode(*f, "DEF");
  const decoded whole = feed(*f, stream, {});
  BOOST_TEST(whole.skip_messages ==
                 (std::vector<std::string>{"LRC mismatch: received 0x44, computed 0x43 over the "
                                           "payload and ETX"}),
             boost::test_tools::per_element());
  expect_frames_and_skips(*f, stream, {"DEF"}, {"checksum_mismatch"});
}

BOOST_AUTO_TEST_CASE(garbage_before_stx_is_skipped_once) {
  auto f = must_build(R"({"type":"stx_etx"})");
  const std::string stream = "xyz" + encode(*f, "ABC");
  const decoded whole = feed(*f, stream, {});
  BOOST_TEST(whole.skip_messages ==
                 (std::vector<std::string>{"discarding bytes before STX 0x02 (first byte 0x78)"}),
             boost::test_tools::per_element());
  expect_frames_and_skips(*f, stream, {"ABC"}, {"malformed"});
}

BOOST_AUTO_TEST_CASE(oversized_frame_is_skipped_then_next_frame_decodes) {
  auto f = must_build(R"({"type":"stx_etx","lrc":true,"max_frame_length":4})");
  // The oversized frame's LRC byte is an STX: it must be discarded with the frame.
  const std::string stream = stx + "0123456789" + etx + stx + encode(*f, "ok");
  const decoded whole = feed(*f, stream, {});
  BOOST_TEST(whole.skip_messages ==
                 (std::vector<std::string>{"frame of 10 bytes exceeds max_frame_length 4"}),
             boost::test_tools::per_element());
  expect_frames_and_skips(*f, stream, {"ok"}, {"frame_too_long"});
}

BOOST_AUTO_TEST_CASE(encode_refuses_etx_in_the_payload) {
  auto f = must_build(R"({"type":"stx_etx"})");
  byte_buffer out;
  auto r = f->encode(as_bytes("A" + etx), out);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message == "payload contains ETX 0x03 at offset 1");
}

BOOST_AUTO_TEST_CASE(config_lrc_covers_without_lrc) {
  expect_config_error(R"({"type":"stx_etx","lrc_covers":"payload"})",
                      "framing.lrc_covers: only applies when lrc is true");
}

BOOST_AUTO_TEST_CASE(config_bad_lrc_covers) {
  expect_config_error(R"({"type":"stx_etx","lrc":true,"lrc_covers":"all"})",
                      "framing.lrc_covers: unknown value \"all\", must be one of payload_etx, "
                      "payload");
}

BOOST_AUTO_TEST_CASE(describe_reads_back) {
  auto f = must_build(R"({"type":"stx_etx","lrc":true})");
  const boost::json::object d = f->describe();
  BOOST_TEST(
      boost::json::serialize(d) ==
      R"({"type":"stx_etx","max_frame_length":65536,"lrc":true,"lrc_covers":"payload_etx"})");
  auto again = must_build(boost::json::serialize(d));
  BOOST_TEST(again->describe() == d);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- fixed_size ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(fixed_size)

BOOST_AUTO_TEST_CASE(round_trip_every_chunking) {
  auto f = must_build(R"({"type":"fixed_size","size":4})");
  BOOST_TEST(f->max_frame_length() == 4u);
  expect_frames(*f, encode(*f, "abcd") + encode(*f, "efgh") + encode(*f, "ijkl"),
                {"abcd", "efgh", "ijkl"});
}

BOOST_AUTO_TEST_CASE(encode_refuses_another_size) {
  auto f = must_build(R"({"type":"fixed_size","size":4})");
  byte_buffer out;
  auto r = f->encode(as_bytes("abc"), out);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().code == errc::invalid_field);
  BOOST_TEST(r.error().message == "payload of 3 bytes, but fixed_size frames are 4 bytes");
}

BOOST_AUTO_TEST_CASE(describe_reads_back) {
  auto f = must_build(R"({"type":"fixed_size","size":4})");
  const boost::json::object d = f->describe();
  BOOST_TEST(boost::json::serialize(d) == R"({"type":"fixed_size","size":4})");
  auto again = must_build(boost::json::serialize(d));
  BOOST_TEST(again->describe() == d);
}

BOOST_AUTO_TEST_CASE(config_size_required) {
  expect_config_error(R"({"type":"fixed_size"})", "framing.size: is required");
}

BOOST_AUTO_TEST_CASE(config_size_positive) {
  expect_config_error(R"({"type":"fixed_size","size":0})", "framing.size: must be > 0");
}

BOOST_AUTO_TEST_CASE(config_max_frame_length_is_not_a_key) {
  expect_config_error(R"({"type":"fixed_size","size":4,"max_frame_length":4})",
                      "framing.max_frame_length: unknown key");
}

BOOST_AUTO_TEST_SUITE_END()
