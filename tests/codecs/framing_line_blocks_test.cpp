// Tests of the line_blocks framing: memcached text protocol frames in both directions, every
// chunking of the input, oversized and malformed streams, encode checks and config mistakes.
#define BOOST_TEST_MODULE framing_line_blocks_test
#include <boost/test/unit_test.hpp>

#include "codecs/framing.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

using namespace dragoman::codecs;

using namespace test_support::framers;

namespace {

// The memcached profile's framing (profiles/memcached-text.json).
const char* memcached_config = R"({"type":"line_blocks","max_frame_length":1024,
  "blocks":[{"prefix":"VALUE ","length_token":3},{"prefix":"set ","length_token":4},
            {"prefix":"add ","length_token":4},{"prefix":"replace ","length_token":4},
            {"prefix":"append ","length_token":4},{"prefix":"prepend ","length_token":4},
            {"prefix":"cas ","length_token":4}],
  "continue_prefixes":["VALUE "]})";

// However the stream is chunked: these frames after one reported skip, and nothing left over.
void expect_frames_after_one_skip(const framer& f, std::string_view stream,
                                  const std::vector<std::string>& frames) {
  for_every_chunking(f, stream, [&](const decoded& d) {
    BOOST_TEST(d.frames == frames, boost::test_tools::per_element());
    BOOST_TEST(d.skip_messages.size() == 1u);
    BOOST_TEST(!d.fatal);
    BOOST_TEST(d.leftover == 0u);
  });
}

std::string repeat(char c, std::size_t n) {
  return std::string(n, c);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(frames)

// Source: memcached protocol.txt (1.6), "Storage commands", "Retrieval command", "Deletion",
// "Increment/Decrement"; the replies are what memcached 1.6.18 sent on loopback.
BOOST_AUTO_TEST_CASE(memcached_requests_and_replies_every_chunking) {
  auto f = must_build(memcached_config);
  const std::vector<std::string> frames = {
      "get k\r\n",
      "set k 0 0 5\r\nhello\r\n",
      "set k 0 0 5 noreply\r\nhello\r\n",
      "cas k 0 0 2 77\r\nhi\r\n",
      "VALUE k 0 5\r\nhello\r\nEND\r\n",
      "END\r\n",
      "STORED\r\n",
      "NOT_FOUND\r\n",
      "42\r\n",
      "VALUE a 1 2\r\nxy\r\nVALUE b 2 0\r\n\r\nEND\r\n",
      "SERVER_ERROR out of memory storing object\r\n",
  };
  std::string stream;
  for (const auto& s : frames) stream += s;
  expect_frames(*f, stream, frames);
}

BOOST_AUTO_TEST_CASE(block_may_contain_line_ends_and_continue_prefixes) {
  auto f = must_build(memcached_config);
  const std::string value = "a\r\nEND\r\nVALUE x";
  const std::string frame =
      "VALUE k 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\nEND\r\n";
  expect_frames(*f, frame + "STORED\r\n", {frame, "STORED\r\n"});
}

BOOST_AUTO_TEST_CASE(tokens_may_be_separated_by_runs_of_spaces_and_tabs) {
  auto f = must_build(memcached_config);
  expect_frames(*f, "set  k\t0 0   3\r\nabc\r\n", {"set  k\t0 0   3\r\nabc\r\n"});
}

BOOST_AUTO_TEST_CASE(empty_line_is_a_frame) {
  auto f = must_build(memcached_config);
  expect_frames(*f, "\r\nEND\r\n", {"\r\n", "END\r\n"});
}

BOOST_AUTO_TEST_CASE(single_byte_line_end) {
  auto f = must_build(R"({"type":"line_blocks","line_end":"\n","max_frame_length":100,
    "blocks":[{"prefix":"$","length_token":0}]})");
  // "$3" is its own first token: "$3" is not a number, so use a separate token.
  auto g = must_build(R"({"type":"line_blocks","line_end":"\n","max_frame_length":100,
    "blocks":[{"prefix":"DATA ","length_token":1}],"continue_prefixes":["+"]})");
  expect_frames(*g, "+a\n+b\nDATA 2\nx\n\nok\n", {"+a\n+b\nDATA 2\nx\n\n", "ok\n"});
  expect_fatal(*f, "$3\nabc\n", {},
               "bad length token \"$3\" (token 0 of the line \"$3\", block rule \"$\")");
}

BOOST_AUTO_TEST_CASE(frame_of_exactly_max_frame_length_passes) {
  auto f = must_build(R"({"type":"line_blocks","max_frame_length":20,
    "blocks":[{"prefix":"VALUE ","length_token":1}]})");
  const std::string frame = "VALUE 8\r\n" + repeat('x', 8) + "\r\n";  // 9 + 8 + 2 = 19
  BOOST_REQUIRE(frame.size() == 19u);
  expect_frames(*f, frame + "abcdefghijklmnopq\r\n",
                {frame, "abcdefghijklmnopq\r\n"});                          // 19 then 19
  expect_frames(*f, "abcdefghijklmnopqr\r\n", {"abcdefghijklmnopqr\r\n"});  // 20
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(oversized)

BOOST_AUTO_TEST_CASE(long_plain_line_is_skipped_then_next_frame_decodes) {
  auto f = must_build(R"({"type":"line_blocks","max_frame_length":10})");
  // No line end within max_frame_length: the size is only known as a lower bound.
  for_every_chunking(*f, "0123456789abcdef\r\nOK\r\n", [&](const decoded& d) {
    BOOST_TEST(d.frames == std::vector<std::string>{"OK\r\n"}, boost::test_tools::per_element());
    BOOST_REQUIRE(d.skip_messages.size() == 1u);
    BOOST_TEST(d.skips.front() == "frame_too_long");
    BOOST_TEST(d.skip_messages.front().find("exceeds max_frame_length 10") != std::string::npos);
    BOOST_TEST(!d.fatal);
    BOOST_TEST(d.leftover == 0u);
  });
}

BOOST_AUTO_TEST_CASE(complete_long_line_names_its_size) {
  auto f = must_build(R"({"type":"line_blocks","max_frame_length":10})");
  auto d = feed(*f, "0123456789abcdef\r\nOK\r\n", {});
  BOOST_REQUIRE(d.skip_messages.size() == 1u);
  BOOST_TEST(d.skip_messages.front() ==
             "frame of at least 18 bytes exceeds max_frame_length 10; discarding to the frame's "
             "end");
}

BOOST_AUTO_TEST_CASE(oversized_block_is_skipped_by_its_count) {
  auto f = must_build(memcached_config);
  // A 2000-byte value holding line ends and "END\r\n": only the count finds the frame's end.
  std::string value;
  while (value.size() < 2000) value += "END\r\nxxxxx";
  value.resize(2000);
  const std::string big = "VALUE k 0 2000\r\n" + value + "\r\nEND\r\n";
  auto d = feed(*f, big + "STORED\r\n", {});
  BOOST_TEST(d.frames == std::vector<std::string>{"STORED\r\n"}, boost::test_tools::per_element());
  BOOST_REQUIRE(d.skip_messages.size() == 1u);
  BOOST_TEST(d.skip_messages.front() ==
             "frame of at least 2018 bytes exceeds max_frame_length 1024; discarding to the "
             "frame's end");
  BOOST_TEST(!d.fatal);
  // Every chunking: the same frames and one reported skip.
  expect_frames_after_one_skip(*f, big + "STORED\r\n", {"STORED\r\n"});
}

BOOST_AUTO_TEST_CASE(continued_frame_over_the_limit_is_skipped_to_its_end) {
  auto f = must_build(R"({"type":"line_blocks","max_frame_length":30,
    "blocks":[{"prefix":"VALUE ","length_token":3}],"continue_prefixes":["VALUE "]})");
  std::string stream;
  for (int i = 0; i < 4; ++i) stream += "VALUE k 0 3\r\nabc\r\n";  // 18 bytes each
  stream += "END\r\nSTORED\r\n";
  expect_frames_after_one_skip(*f, stream, {"STORED\r\n"});
}

BOOST_AUTO_TEST_CASE(overlong_line_with_continue_prefix_keeps_discarding) {
  auto f = must_build(R"({"type":"line_blocks","max_frame_length":12,
    "continue_prefixes":["+"]})");
  for_every_chunking(*f, "+aaaaaaaaaaaaaaaaaaaa\r\n+b\r\nend\r\nOK\r\n", [&](const decoded& d) {
    BOOST_TEST(d.frames == std::vector<std::string>{"OK\r\n"}, boost::test_tools::per_element());
    BOOST_TEST(d.skip_messages.size() == 1u);
    BOOST_TEST(!d.fatal);
  });
}

BOOST_AUTO_TEST_CASE(overlong_block_header_line_is_fatal) {
  // The length token is somewhere in a line we cannot hold: the frame's end is lost.
  auto f = must_build(R"({"type":"line_blocks","max_frame_length":16,
    "blocks":[{"prefix":"VALUE ","length_token":3}]})");
  expect_fatal(*f, "VALUE " + repeat('k', 40) + " 0 3\r\nabc\r\n", {},
               "line of more than 16 bytes starting with block rule \"VALUE \": its data block "
               "cannot be found");
}

BOOST_AUTO_TEST_CASE(huge_length_token_is_skipped_not_trusted) {
  auto f = must_build(memcached_config);
  // 10^18 bytes announced: skipped by count, so everything after is part of that block.
  auto d = feed(*f, "VALUE k 0 1000000000000000000\r\nabc", {});
  BOOST_TEST(d.frames.empty());
  BOOST_REQUIRE(d.skip_messages.size() == 1u);
  BOOST_TEST(d.skip_messages.front().find("exceeds max_frame_length 1024") != std::string::npos);
  BOOST_TEST(!d.fatal);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(malformed)

BOOST_AUTO_TEST_CASE(length_token_not_a_number_is_fatal) {
  auto f = must_build(memcached_config);
  expect_fatal(*f, "STORED\r\nVALUE k 0 5x\r\nhello\r\nEND\r\n", {"STORED\r\n"},
               "bad length token \"5x\" (token 3 of the line \"VALUE k 0 5x\", block rule "
               "\"VALUE \")");
}

BOOST_AUTO_TEST_CASE(length_token_missing_is_fatal) {
  auto f = must_build(memcached_config);
  expect_fatal(*f, "set k 0 0\r\nhello\r\n", {},
               "line \"set k 0 0\" has no length token 4 (block rule \"set \")");
}

BOOST_AUTO_TEST_CASE(negative_length_token_is_fatal) {
  auto f = must_build(memcached_config);
  expect_fatal(*f, "set k 0 0 -1\r\n\r\n", {},
               "bad length token \"-1\" (token 4 of the line \"set k 0 0 -1\", block rule "
               "\"set \")");
}

BOOST_AUTO_TEST_CASE(length_token_over_19_digits_is_fatal) {
  auto f = must_build(memcached_config);
  expect_fatal(*f, "set k 0 0 99999999999999999999\r\n", {},
               "bad length token \"99999999999999999999\" (token 4 of the line \"set k 0 0 "
               "99999999999999999999\", block rule \"set \")");
}

BOOST_AUTO_TEST_CASE(block_longer_than_its_count_is_fatal) {
  auto f = must_build(memcached_config);
  expect_fatal(*f, "set k 0 0 3\r\nhello\r\n", {},
               "data block of 3 bytes after the line \"set k 0 0 3\" is not followed by "
               "\"\\r\\n\" (found \"lo\" at offset 16)");
}

BOOST_AUTO_TEST_CASE(partial_frame_is_never_consumed) {
  auto f = must_build(memcached_config);
  for (std::string_view partial : {"VALUE k 0 5\r\nhel", "VALUE k 0 5\r\nhello\r\nEN", "get k\r",
                                   "VALUE k 0 5\r\nhello\r\n"}) {
    auto d = feed(*f, partial, {});
    BOOST_TEST(d.frames.empty());
    BOOST_TEST(d.leftover == partial.size());
    BOOST_TEST(!d.fatal);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(encode)

BOOST_AUTO_TEST_CASE(payload_is_the_frame) {
  auto f = must_build(memcached_config);
  for (std::string_view frame :
       {"get k\r\n", "set k 0 0 5\r\nhello\r\n", "VALUE k 0 5\r\nhello\r\nEND\r\n", "STORED\r\n"}) {
    byte_buffer out;
    BOOST_REQUIRE(f->encode(as_bytes(frame), out).has_value());
    BOOST_TEST(as_chars(out) == frame);
  }
}

BOOST_AUTO_TEST_CASE(encode_refuses_what_is_not_exactly_one_frame) {
  auto f = must_build(memcached_config);
  struct bad {
    std::string payload;
    errc code;
    std::string message;
  };
  const std::vector<bad> cases = {
      {"get k", errc::invalid_field,
       "payload is not a whole frame (it must end with a line that ends the frame, followed by "
       "\"\\r\\n\")"},
      {"get a\r\nget b\r\n", errc::invalid_field,
       "payload holds more than one frame (the first ends at offset 7 of 14)"},
      {"VALUE k 0 5\r\nhello\r\n", errc::invalid_field,
       "payload is not a whole frame (it must end with a line that ends the frame, followed by "
       "\"\\r\\n\")"},
      {"set k 0 0 x\r\nhello\r\n", errc::invalid_field,
       "bad length token \"x\" (token 4 of the line \"set k 0 0 x\", block rule \"set \")"},
      {"set k 0 0 2000\r\n" + repeat('v', 2000) + "\r\n", errc::frame_too_long,
       "frame of 2018 bytes exceeds max_frame_length 1024"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("payload " << c.payload.substr(0, 30)) {
      byte_buffer out;
      auto r = f->encode(as_bytes(c.payload), out);
      BOOST_REQUIRE(!r.has_value());
      BOOST_TEST(r.error().code == c.code);
      BOOST_TEST(r.error().message == c.message);
      BOOST_TEST(out.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(describe_is_the_effective_config_and_reads_back) {
  auto f = must_build(memcached_config);
  const boost::json::object d = f->describe();
  BOOST_TEST(d.at("type").as_string() == "line_blocks");
  BOOST_TEST(d.at("line_end").as_string() == "\r\n");
  BOOST_TEST(d.at("blocks").as_array().size() == 7u);
  BOOST_TEST(d.at("max_frame_length").to_number<std::int64_t>() == 1024);
  auto again = must_build(boost::json::serialize(d));
  BOOST_TEST(boost::json::serialize(again->describe()) == boost::json::serialize(d));
  BOOST_TEST(f->max_frame_length() == 1024u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(max_frame_length_is_mandatory) {
  expect_config_error(R"({"type":"line_blocks"})", "framing.max_frame_length: is required");
}

BOOST_AUTO_TEST_CASE(block_prefix_is_required) {
  expect_config_error(R"({"type":"line_blocks","max_frame_length":100,
                          "blocks":[{"length_token":1}]})",
                      "framing.blocks[0].prefix: is required");
}

BOOST_AUTO_TEST_CASE(block_length_token_is_required) {
  expect_config_error(R"({"type":"line_blocks","max_frame_length":100,
                          "blocks":[{"prefix":"VALUE "},{"prefix":"set "}]})",
                      "framing.blocks[1].length_token: is required");
}

BOOST_AUTO_TEST_CASE(block_rule_unknown_key) {
  expect_config_error(R"({"type":"line_blocks","max_frame_length":100,
                          "blocks":[{"prefix":"VALUE ","length_token":3,"token":3}]})",
                      "framing.blocks[0].token: unknown key");
}

BOOST_AUTO_TEST_CASE(block_rule_must_be_an_object) {
  expect_config_error(
      R"({"type":"line_blocks","max_frame_length":100,"blocks":["VALUE "]})",
      "framing.blocks[0]: must be an object {\"prefix\": ..., \"length_token\": N}");
}

BOOST_AUTO_TEST_CASE(empty_prefixes_are_refused) {
  expect_config_error(R"({"type":"line_blocks","max_frame_length":100,
                          "blocks":[{"prefix":"","length_token":1}]})",
                      "framing.blocks[0].prefix: must not be empty");
  expect_config_error(R"({"type":"line_blocks","max_frame_length":100,
                          "continue_prefixes":["VALUE ",""]})",
                      "framing.continue_prefixes[1]: must not be empty");
}

BOOST_AUTO_TEST_CASE(prefix_containing_line_end_is_refused) {
  expect_config_error(R"({"type":"line_blocks","max_frame_length":100,
                          "continue_prefixes":["A\r\nB"]})",
                      "framing.continue_prefixes[0]: must not contain line_end");
}

BOOST_AUTO_TEST_CASE(empty_line_end_is_refused) {
  expect_config_error(R"({"type":"line_blocks","max_frame_length":100,"line_end":""})",
                      "framing.line_end: must not be empty");
}

BOOST_AUTO_TEST_CASE(prefix_must_be_shorter_than_max_frame_length) {
  expect_config_error(R"({"type":"line_blocks","max_frame_length":6,
                          "blocks":[{"prefix":"VALUE ","length_token":3}]})",
                      "framing.blocks[0].prefix: must be shorter than max_frame_length");
}

BOOST_AUTO_TEST_CASE(unknown_key_is_reported) {
  expect_config_error(R"({"type":"line_blocks","max_frame_length":100,"continue":["VALUE "]})",
                      "framing.continue: unknown key");
}

BOOST_AUTO_TEST_SUITE_END()
