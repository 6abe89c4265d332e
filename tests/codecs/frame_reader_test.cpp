// Tests of frame_reader, the one frame driver: the progress guard, skips and fatal ends with a
// scripted decoder, buffer bounds and compaction, and real framers fed split at every offset.
#define BOOST_TEST_MODULE frame_reader_test
#include <boost/test/unit_test.hpp>

#include "codecs/frame_reader.hpp"
#include "test_support.hpp"

#include <algorithm>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace dragoman::codecs;
using namespace test_support;
using kind = frame_reader::event_kind;

namespace {

// A decoder that answers from a script, and records the size of each input it was given.
struct scripted_decoder final : frame_decoder {
  std::deque<frame_result> script;
  std::vector<std::size_t>* inputs = nullptr;

  frame_result decode(byte_view input) override {
    if (inputs) inputs->push_back(input.size());
    if (script.empty()) return frame_result{};
    frame_result r = std::move(script.front());
    script.pop_front();
    return r;
  }
};

frame_result result_of(frame_status status, std::size_t consumed, std::string message = {},
                       errc reason = errc::malformed) {
  frame_result r;
  r.status = status;
  r.consumed = consumed;
  r.reason = reason;
  r.message = std::move(message);
  return r;
}

// A frame whose payload is the first `consumed` bytes of the input it is given.
struct prefix_decoder final : frame_decoder {
  std::size_t size;
  explicit prefix_decoder(std::size_t n) : size(n) {}
  frame_result decode(byte_view input) override {
    if (input.size() < size) return frame_result{};
    frame_result r = result_of(frame_status::frame, size);
    r.payload = input.first(size);
    return r;
  }
};

std::unique_ptr<scripted_decoder> script(std::vector<frame_result> results,
                                         std::vector<std::size_t>* inputs = nullptr) {
  auto d = std::make_unique<scripted_decoder>();
  for (auto& r : results) d->script.push_back(std::move(r));
  d->inputs = inputs;
  return d;
}

std::string text(byte_view b) {
  return std::string(as_chars(b));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(progress)

BOOST_AUTO_TEST_CASE(a_frame_consuming_nothing_is_fatal_and_stays_fatal) {
  frame_reader reader(script({result_of(frame_status::frame, 0)}), 16);
  BOOST_REQUIRE(reader.append(as_bytes("abc")));
  auto e = reader.next();
  BOOST_TEST((e.kind == kind::fatal));
  BOOST_TEST(e.message == "no progress");
  BOOST_TEST(to_string(e.reason) == to_string(errc::malformed));
  BOOST_TEST(reader.buffered() == 3u);
  // The decoder is not asked again: the script is empty, so it would answer need_more.
  e = reader.next();
  BOOST_TEST((e.kind == kind::fatal));
  BOOST_TEST(e.message == "no progress");
}

BOOST_AUTO_TEST_CASE(a_skip_consuming_nothing_is_fatal) {
  frame_reader reader(script({result_of(frame_status::skip, 0, "bad")}), 16);
  BOOST_REQUIRE(reader.append(as_bytes("abc")));
  const auto e = reader.next();
  BOOST_TEST((e.kind == kind::fatal));
  BOOST_TEST(e.message == "no progress");
}

BOOST_AUTO_TEST_CASE(consuming_more_than_given_is_fatal) {
  frame_reader reader(script({result_of(frame_status::frame, 4)}), 16);
  BOOST_REQUIRE(reader.append(as_bytes("abc")));
  const auto e = reader.next();
  BOOST_TEST((e.kind == kind::fatal));
  BOOST_TEST(e.message == "no progress");
}

BOOST_AUTO_TEST_CASE(an_empty_buffer_does_not_call_the_decoder) {
  std::vector<std::size_t> inputs;
  frame_reader reader(script({result_of(frame_status::frame, 0)}, &inputs), 16);
  BOOST_TEST((reader.next().kind == kind::need_more));
  BOOST_TEST(inputs.empty());
  BOOST_TEST((frame_reader().next().kind == kind::need_more));
  BOOST_TEST(!frame_reader().has_decoder());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(skips_and_fatal)

BOOST_AUTO_TEST_CASE(skips_consume_and_carry_their_message) {
  std::vector<std::size_t> inputs;
  frame_reader reader(
      script({result_of(frame_status::skip, 2, "discarding", errc::frame_too_long),
              result_of(frame_status::skip, 3), result_of(frame_status::need_more, 0)},
             &inputs),
      16);
  BOOST_REQUIRE(reader.append(as_bytes("abcdefg")));
  auto e = reader.next();
  BOOST_TEST((e.kind == kind::skip));
  BOOST_TEST(e.message == "discarding");
  BOOST_TEST(to_string(e.reason) == to_string(errc::frame_too_long));
  e = reader.next();
  BOOST_TEST((e.kind == kind::skip));
  BOOST_TEST(e.message.empty());
  BOOST_TEST((reader.next().kind == kind::need_more));
  BOOST_TEST(reader.buffered() == 2u);
  BOOST_TEST(inputs == (std::vector<std::size_t>{7, 5, 2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_fatal_keeps_its_reason_and_message_until_reset) {
  frame_reader reader(
      script({result_of(frame_status::fatal, 0, "bad length field", errc::frame_too_long)}), 16);
  BOOST_REQUIRE(reader.append(as_bytes("xyz")));
  for (int i = 0; i < 2; ++i) {
    const auto e = reader.next();
    BOOST_TEST((e.kind == kind::fatal));
    BOOST_TEST(e.message == "bad length field");
    BOOST_TEST(to_string(e.reason) == to_string(errc::frame_too_long));
  }
  reader.reset(std::make_unique<prefix_decoder>(2), 16);
  BOOST_TEST(reader.buffered() == 0u);
  BOOST_REQUIRE(reader.append(as_bytes("ok")));
  const auto e = reader.next();
  BOOST_TEST((e.kind == kind::frame));
  BOOST_TEST(text(e.payload) == "ok");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(buffer)

BOOST_AUTO_TEST_CASE(next_consumes_the_frame_and_its_payload_stays_valid) {
  frame_reader reader(std::make_unique<prefix_decoder>(3), 8);
  BOOST_REQUIRE(reader.append(as_bytes("abcdefg")));
  const auto first = reader.next();
  const auto second = reader.next();
  BOOST_TEST((first.kind == kind::frame));
  BOOST_TEST((second.kind == kind::frame));
  BOOST_TEST(reader.buffered() == 1u);
  BOOST_TEST(text(first.payload) == "abc");
  BOOST_TEST(text(second.payload) == "def");
  BOOST_TEST((reader.next().kind == kind::need_more));
}

BOOST_AUTO_TEST_CASE(prepare_compacts_and_is_empty_when_full) {
  frame_reader reader(std::make_unique<prefix_decoder>(3), 8);
  BOOST_TEST(reader.capacity() == 8u);
  auto space = reader.prepare();
  BOOST_REQUIRE(space.size() == 8u);
  const std::string in = "abcdefgh";
  std::copy(in.begin(), in.end(), space.begin());
  reader.commit(8);
  BOOST_TEST(reader.full());
  BOOST_TEST(reader.prepare().empty());
  BOOST_TEST((reader.next().kind == kind::frame));
  BOOST_TEST(!reader.full());
  // The two unconsumed bytes ("gh" after "def") move to the front: six bytes free after them.
  BOOST_TEST((reader.next().kind == kind::frame));
  space = reader.prepare();
  BOOST_TEST(space.size() == 6u);
  space[0] = 'i';
  reader.commit(1);
  const auto e = reader.next();
  BOOST_TEST((e.kind == kind::frame));
  BOOST_TEST(text(e.payload) == "ghi");
  BOOST_TEST(reader.buffered() == 0u);
}

BOOST_AUTO_TEST_CASE(append_refuses_what_does_not_fit_and_copies_nothing) {
  frame_reader reader(std::make_unique<prefix_decoder>(4), 5);
  BOOST_TEST(reader.append(as_bytes("abc")));
  BOOST_TEST(!reader.append(as_bytes("def")));
  BOOST_TEST(reader.buffered() == 3u);
  BOOST_TEST(reader.append(as_bytes("de")));
  BOOST_TEST(reader.full());
  BOOST_TEST(!reader.append(as_bytes("f")));
  BOOST_TEST(reader.append(byte_view{}));
  const auto e = reader.next();
  BOOST_TEST(text(e.payload) == "abcd");
  BOOST_TEST(reader.append(as_bytes("fghi")));  // compacts "e" to the front first
  BOOST_TEST(text(reader.next().payload) == "efgh");
}

BOOST_AUTO_TEST_CASE(reset_keeps_the_larger_capacity) {
  frame_reader reader(std::make_unique<prefix_decoder>(1), 32);
  reader.reset(std::make_unique<prefix_decoder>(1), 8);
  BOOST_TEST(reader.capacity() == 32u);
  BOOST_TEST(reader.has_decoder());
  reader.reset(std::make_unique<prefix_decoder>(1), 64);
  BOOST_TEST(reader.capacity() == 64u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(real_framers)

// Frames and reported skips of stream read `piece` bytes at a time into prepare(), as a socket
// would deliver it.
std::vector<std::string> read_in_pieces(const framer& f, std::string_view stream,
                                        std::size_t capacity, std::size_t piece,
                                        std::vector<std::string>& skips) {
  frame_reader reader(f.make_decoder(), capacity);
  std::vector<std::string> frames;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    auto space = reader.prepare();
    BOOST_REQUIRE(!space.empty());
    const std::size_t n = std::min({piece, space.size(), stream.size() - pos});
    std::copy_n(stream.begin() + static_cast<std::ptrdiff_t>(pos), n, space.begin());
    reader.commit(n);
    pos += n;
    for (auto e = reader.next(); e.kind != kind::need_more; e = reader.next()) {
      BOOST_REQUIRE((e.kind != kind::fatal));
      if (e.kind == kind::frame) frames.emplace_back(as_chars(e.payload));
      if (e.kind == kind::skip && !e.message.empty()) skips.push_back(e.message);
    }
  }
  BOOST_TEST(reader.buffered() == 0u);
  return frames;
}

BOOST_AUTO_TEST_CASE(delimiter_frames_through_a_small_buffer) {
  auto f = framers::must_build(R"({"type":"delimiter","delimiters":"\r\n","max_frame_length":8})");
  const std::string stream = "one\r\ntwo\r\n\r\nthree333\r\nfour\r\n";
  const std::vector<std::string> expected = {"one", "two", "", "three333", "four"};
  for (std::size_t piece = 1; piece <= 10; ++piece) {
    BOOST_TEST_CONTEXT("reads of " << piece) {
      std::vector<std::string> skips;
      BOOST_TEST(read_in_pieces(*f, stream, 10, piece, skips) == expected,
                 boost::test_tools::per_element());
      BOOST_TEST(skips.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(an_oversized_delimited_frame_is_skipped_once) {
  auto f = framers::must_build(R"({"type":"delimiter","delimiters":"\r\n","max_frame_length":4})");
  const std::string stream = "abcdefghijklmnop\r\nok\r\n";
  for (std::size_t piece = 1; piece <= 8; ++piece) {
    BOOST_TEST_CONTEXT("reads of " << piece) {
      std::vector<std::string> skips;
      BOOST_TEST(read_in_pieces(*f, stream, 8, piece, skips) == std::vector<std::string>{"ok"},
                 boost::test_tools::per_element());
      BOOST_TEST(skips.size() == 1u);
    }
  }
}

BOOST_AUTO_TEST_CASE(framers_fed_split_at_every_offset) {
  auto lp = framers::must_build(
      R"({"type":"length_prefix","length_field_length":2,"max_frame_length":4096})");
  framers::expect_frames(*lp, s({0, 5}) + "hello" + s({0, 0}) + s({0, 2}) + "ok",
                         {"hello", "", "ok"});
  auto mllp = framers::must_build(R"({"type":"mllp"})");
  framers::expect_frames(
      *mllp, s({0x0B}) + "MSH|1" + s({0x1C, 0x0D}) + s({0x0B}) + "MSH|2" + s({0x1C, 0x0D}),
      {"MSH|1", "MSH|2"});
  auto fixed = framers::must_build(R"({"type":"fixed_size","size":3})");
  framers::expect_frames(*fixed, "abcdefghi", {"abc", "def", "ghi"});
}

BOOST_AUTO_TEST_SUITE_END()
