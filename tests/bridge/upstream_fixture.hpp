// Shared fixtures of the upstream rooms' unit tests: the shipped acme-core profile (optionally
// with another correlation mode), calls mapped from JSON, and a clock driven by hand.
#pragma once

#include <boost/test/unit_test.hpp>

#include "bridge/call_book.hpp"
#include "bridge/translator.hpp"
#include "codecs/pipeline.hpp"
#include "codecs/profile.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

namespace dragoman::test {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The shipped acme-core profile's text (field correlation on "trace", a session with sign-on,
// echo and sign-off), or the same dialect with another correlation mode.
inline std::string acme_text(const std::string& mode = "field") {
  std::string text = read_file(DRAGOMAN_SOURCE_DIR "/profiles/acme-core.json");
  BOOST_REQUIRE(!text.empty());
  if (mode != "field") {
    auto pos = text.find("\"mode\": \"field\"");
    BOOST_REQUIRE(pos != std::string::npos);
    text.replace(pos, std::strlen("\"mode\": \"field\""), "\"mode\": \"" + mode + "\"");
  }
  return text;
}

// acme-core compiled, as the engine holds it.
inline std::shared_ptr<bridge::profile_bundle> acme(const std::string& mode = "field") {
  auto out = codecs::compile_profile(acme_text(mode));
  for (const auto& e : out.errors) BOOST_TEST_MESSAGE(e);
  BOOST_REQUIRE(out.compiled);
  return std::make_shared<bridge::profile_bundle>(out.compiled);
}

// A time line driven by hand: starts anywhere, moves only when told.
struct manual_clock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
  void advance(std::chrono::milliseconds d) { now += d; }
};

// An app call of `op` mapped from fields, as the pool hands it to a connection.
inline std::unique_ptr<bridge::tracked_call> app_call(
    const std::shared_ptr<bridge::profile_bundle>& b, const std::string& op,
    const boost::json::object& fields, std::chrono::steady_clock::time_point deadline) {
  auto pending = bridge::make_pending_call();
  bridge::call_request req;
  req.op = op;
  req.data = fields;
  auto refused = bridge::translate_request(req, b, std::chrono::milliseconds(0), *pending);
  BOOST_REQUIRE_MESSAGE(!refused, (refused ? refused->message : std::string()));
  pending->deadline = deadline;
  auto t = std::make_unique<bridge::tracked_call>();
  t->bundle = b;
  t->op = pending->op;
  t->key_generated = pending->key_generated;
  t->deadline = deadline;
  t->call = std::move(pending);
  return t;
}

// A reply record of `op` with its fields set by record name.
inline codecs::record reply_of(const codecs::operation& op,
                               std::initializer_list<std::pair<std::string, std::string>> values) {
  codecs::record r;
  r.reset(op.reply.fields.size());
  for (const auto& [name, value] : values) {
    auto idx = op.reply.index_of(name);
    BOOST_REQUIRE_MESSAGE(idx.has_value(), name);
    r.slot(*idx) = value;
    r.set_present(*idx);
  }
  return r;
}

}  // namespace dragoman::test
