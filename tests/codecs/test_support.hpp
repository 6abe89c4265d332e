// Shared fixtures of the codecs tests: framers and layouts built from JSON with their diagnostics,
// a decoder fed whole, one byte at a time and split at every offset, hex helpers.
#pragma once

#include <boost/test/unit_test.hpp>

#include "codecs/frame_reader.hpp"
#include "codecs/framing.hpp"
#include "codecs/layout.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::codecs {
// For Boost.Test's messages.
inline std::ostream& operator<<(std::ostream& os, errc e) {
  return os << to_string(e);
}
}  // namespace dragoman::codecs

namespace test_support {

using namespace dragoman::codecs;

// A string of the given byte values: s({0x00, 0x0C}).
inline std::string s(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

inline std::string hex(const byte_buffer& b) {
  return to_hex(b);
}

inline byte_buffer unhex(std::string_view h) {
  auto b = from_hex(h);
  BOOST_REQUIRE(b);
  return *b;
}

// "\n  first\n  second": every error in a diagnostics, for failure messages.
inline std::string listed(const std::vector<std::string>& errors) {
  std::string all;
  for (const auto& e : errors) all += "\n  " + e;
  return all;
}

// The error of a failed result, or "" for a successful one: for failure messages, which Boost.Test
// evaluates even when the check passes (error() of a successful result asserts).
template <class R>
std::string error_text(const R& r) {
  return r.has_value() ? std::string() : r.error().to_string();
}

// An encode or decode error with this code, naming this field, and (unless null) this message.
inline void expect_codec_error(const codec_error& e, errc code, std::string_view where,
                               const char* message) {
  BOOST_TEST(to_string(e.code) == to_string(code));
  BOOST_TEST(e.where == where);
  if (message) BOOST_TEST(e.message == message);
}

// ---- framing ----------------------------------------------------------------------------------

namespace framers {

struct built {
  diagnostics diag;
  std::unique_ptr<framer> framer_;
};

inline std::unique_ptr<built> build(std::string_view json_text) {
  auto b = std::make_unique<built>();
  const boost::json::value v = boost::json::parse(json_text);
  config_object cfg(v.as_object(), "framing", b->diag);
  b->framer_ = make_framer(cfg);
  return b;
}

inline std::unique_ptr<framer> must_build(std::string_view json_text) {
  auto b = build(json_text);
  BOOST_TEST_INFO("config " << json_text);
  BOOST_TEST(b->diag.errors().empty(),
             "unexpected errors: " << (b->diag.errors().empty() ? "" : b->diag.errors().front()));
  BOOST_REQUIRE(b->framer_);
  return std::move(b->framer_);
}

// The framing refuses the config and one of its errors is exactly `expected`.
inline void expect_config_error(std::string_view json_text, const std::string& expected) {
  auto b = build(json_text);
  BOOST_TEST_INFO("config " << json_text);
  BOOST_TEST(!b->framer_);
  const auto& errors = b->diag.errors();
  BOOST_TEST((std::find(errors.begin(), errors.end(), expected) != errors.end()),
             "expected \"" << expected << "\" among:" << listed(errors));
}

inline std::string encode(const framer& f, std::string_view payload) {
  byte_buffer out;
  auto r = f.encode(as_bytes(payload), out);
  BOOST_TEST_REQUIRE(r.has_value(), "encode failed: " << (r ? "" : r.error().to_string()));
  return std::string(as_chars(out));
}

// What a connection's reader would have seen: frames, reported skips, a fatal end, leftovers.
struct decoded {
  std::vector<std::string> frames;
  std::vector<std::string> skips;  // reasons of skips that carry a message
  std::vector<std::string> skip_messages;
  std::size_t silent_skips = 0;
  std::optional<std::string> fatal;
  std::size_t leftover = 0;
};

// Checks the frame_decoder contract on every call, which frame_reader (like any production
// driver) only partly does: it turns lack of progress into a fatal end, and trusts the rest.
class contract_checker final : public frame_decoder {
 public:
  explicit contract_checker(std::unique_ptr<frame_decoder> inner) : inner_(std::move(inner)) {}

  frame_result decode(byte_view input) override {
    frame_result r = inner_->decode(input);
    BOOST_REQUIRE(r.consumed <= input.size());
    switch (r.status) {
      case frame_status::need_more:
        BOOST_REQUIRE(r.consumed == 0u);
        break;
      case frame_status::frame:
        BOOST_REQUIRE(r.consumed > 0u);
        BOOST_REQUIRE((r.payload.empty() ||
                       (r.payload.data() >= input.data() &&
                        r.payload.data() + r.payload.size() <= input.data() + r.consumed)));
        break;
      case frame_status::skip:
        BOOST_REQUIRE(r.consumed > 0u);  // a skip must make progress
        break;
      case frame_status::fatal:
        break;
    }
    return r;
  }

 private:
  std::unique_ptr<frame_decoder> inner_;
};

// Feeds stream to a fresh decoder in chunks ending at `cuts` (and at the end) through the
// frame_reader every connection uses, checking the decoder contract on each call.
inline decoded feed(const framer& f, std::string_view stream,
                    const std::vector<std::size_t>& cuts) {
  frame_reader reader(std::make_unique<contract_checker>(f.make_decoder()), stream.size());
  decoded out;
  std::size_t pos = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(stream.size());
  for (std::size_t end : ends) {
    const std::string_view chunk = stream.substr(pos, end - pos);
    pos = end;
    const std::span<byte> space = reader.prepare();
    BOOST_REQUIRE(space.size() >= chunk.size());
    std::copy(chunk.begin(), chunk.end(), space.begin());
    reader.commit(chunk.size());
    for (int guard = 0;; ++guard) {
      BOOST_REQUIRE(guard < 100000);
      frame_reader::event e = reader.next();
      if (e.kind == frame_reader::event_kind::need_more) break;
      if (e.kind == frame_reader::event_kind::fatal) {
        out.fatal = e.message;
        out.leftover = reader.buffered();
        return out;
      }
      if (e.kind == frame_reader::event_kind::frame) {
        out.frames.emplace_back(as_chars(e.payload));
      } else if (e.message.empty()) {
        ++out.silent_skips;
      } else {
        out.skips.emplace_back(to_string(e.reason));
        out.skip_messages.push_back(e.message);
      }
    }
  }
  out.leftover = reader.buffered();
  return out;
}

// Runs check on the stream fed whole, one byte at a time, and split in two at every offset.
inline void for_every_chunking(const framer& f, std::string_view stream,
                               const std::function<void(const decoded&)>& check) {
  { BOOST_TEST_CONTEXT("fed whole") check(feed(f, stream, {})); }
  {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
    BOOST_TEST_CONTEXT("fed one byte at a time") check(feed(f, stream, cuts));
  }
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    BOOST_TEST_CONTEXT("split at " << i) check(feed(f, stream, {i}));
  }
}

// The stream decodes to exactly these frames with no skips, however it is chunked.
inline void expect_frames(const framer& f, std::string_view stream,
                          const std::vector<std::string>& expected) {
  for_every_chunking(f, stream, [&](const decoded& d) {
    BOOST_TEST(d.frames == expected, boost::test_tools::per_element());
    BOOST_TEST(d.skips.empty());
    BOOST_TEST(d.silent_skips == 0u);
    BOOST_TEST(!d.fatal);
    BOOST_TEST(d.leftover == 0u);
  });
}

// The stream ends fatally with this message however it is chunked (after these frames).
inline void expect_fatal(const framer& f, std::string_view stream,
                         const std::vector<std::string>& frames, const std::string& message) {
  for_every_chunking(f, stream, [&](const decoded& d) {
    BOOST_TEST(d.frames == frames, boost::test_tools::per_element());
    BOOST_REQUIRE(d.fatal);
    BOOST_TEST(*d.fatal == message);
  });
}

}  // namespace framers

// ---- layouts ----------------------------------------------------------------------------------

namespace layouts {

// What the profile compiler does around a layout: config objects for the message and each field,
// the layout reads its keys, then the caller reads the common ones and checks for typos.
struct built {
  boost::json::value profile;
  boost::json::value doc;
  diagnostics diag;
  std::unique_ptr<config_object> message;
  std::vector<config_object> fields;
  std::vector<std::string> names;  // a field without a name is f<index>
  std::unique_ptr<dragoman::codecs::layout> lay;
  std::size_t field_count = 0;

  std::string errors() const {
    std::string s;
    for (const auto& e : diag.errors()) s += e + "\n";
    return s;
  }
  bool has_error(std::string_view line) const {
    const auto& e = diag.errors();
    return std::find(e.begin(), e.end(), line) != e.end();
  }
  std::size_t index(std::string_view name) const {
    return static_cast<std::size_t>(std::find(names.begin(), names.end(), name) - names.begin());
  }
};

// One of the errors reported while building is exactly `expected`.
inline void expect_error(const built& b, const std::string& expected) {
  BOOST_TEST(b.has_error(expected), "expected \"" << expected << "\" among:\n" << b.errors());
}

using factory = std::function<std::unique_ptr<dragoman::codecs::layout>(layout_context&)>;

// message_json: the message with its "fields"; profile: the profile object the layout may read
// (ISO 8583's dictionary).
inline std::unique_ptr<built> build(std::string_view message_json, const std::string& message_path,
                                    const factory& make, const char* default_charset,
                                    boost::json::object profile = {}) {
  auto b = std::make_unique<built>();
  b->profile = std::move(profile);
  b->doc = boost::json::parse(message_json);
  const boost::json::object& m = b->doc.as_object();
  b->message = std::make_unique<config_object>(m, message_path, b->diag);
  const boost::json::array& fields = m.at("fields").as_array();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    b->fields.emplace_back(fields[i].as_object(),
                           message_path + ".fields[" + std::to_string(i) + "]", b->diag);
    const boost::json::value* n = fields[i].as_object().if_contains("name");
    b->names.push_back(n ? std::string(n->as_string()) : "f" + std::to_string(i));
  }
  b->field_count = fields.size();
  layout_context ctx{*b->message, b->fields, b->names, find_charset(default_charset),
                     b->profile.as_object()};
  b->lay = make(ctx);
  for (auto& f : b->fields) {
    f.accept("name");
    f.finish();
  }
  b->message->accept("fields");
  b->message->finish();
  return b;
}

// The same through make_layout, by type name.
inline std::unique_ptr<built> build(std::string_view message_json, const std::string& message_path,
                                    std::string_view type, const char* default_charset) {
  return build(
      message_json, message_path, [type](layout_context& ctx) { return make_layout(type, ctx); },
      default_charset);
}

}  // namespace layouts

}  // namespace test_support
