// Shared fixtures of the simulator tests: the acme-core profile, rule texts, decoded replies and
// the request fields the tests send.
#pragma once

#include <boost/test/unit_test.hpp>

#include "codecs/pipeline.hpp"
#include "codecs/profile.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace simulator_fixture {

namespace json = boost::json;
namespace codecs = dragoman::codecs;

// The shipped acme-core profile: 2-byte big-endian length, EBCDIC cp037, fixed width, trace key.
inline std::shared_ptr<const codecs::profile> acme() {
  static const std::shared_ptr<const codecs::profile> compiled = [] {
    auto out = codecs::load_profile(DRAGOMAN_SOURCE_DIR "/profiles/acme-core.json");
    if (!out.compiled) {
      std::string all;
      for (const auto& e : out.errors) all += e + "\n";
      throw std::runtime_error("acme-core.json does not compile:\n" + all);
    }
    return out.compiled;
  }();
  return compiled;
}

inline json::object rules_from(std::string_view text) {
  return json::parse(text).as_object();
}

struct decoded_reply {
  const codecs::operation* op = nullptr;
  codecs::record rec;
  json::object fields;  // map_reply with all fields: JSON names, else record names
};

inline std::string text_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return {};
  if (v->is_string()) {
    std::string_view s = v->get_string();
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return std::string(s);
  }
  return json::serialize(*v);
}

inline std::uint64_t number_of(std::string_view s) {
  std::uint64_t n = 0;
  for (char c : s)
    if (c >= '0' && c <= '9') n = n * 10 + static_cast<std::uint64_t>(c - '0');
  return n;
}

inline json::object balance_of(std::string account) {
  json::object o;
  o["account"] = std::move(account);
  return o;
}

inline json::object transfer_of(std::string from, std::string to, std::string amount) {
  json::object o;
  o["from"] = std::move(from);
  o["to"] = std::move(to);
  o["amount"] = std::move(amount);
  return o;
}

inline std::string trace_of(const codecs::operation& op, const codecs::record& rec, bool reply) {
  const auto& msg = reply ? op.reply : op.request;
  auto idx = msg.index_of("trace");
  BOOST_REQUIRE(idx);
  return std::string(rec.get(*idx));
}

}  // namespace simulator_fixture
