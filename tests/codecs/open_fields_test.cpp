// Request fields the operation does not know: refused by default, ignored when the profile says
// so, and taken from the layout's dictionary by an open message (ISO 8583), which also surfaces
// every field found on the wire.
#define BOOST_TEST_MODULE open_fields_test
#include <boost/test/unit_test.hpp>

#include "codecs/pipeline.hpp"

#include <string>

using namespace dragoman::codecs;
namespace json = boost::json;

namespace {

std::shared_ptr<const profile> load(const std::string& name) {
  auto out = load_profile(DRAGOMAN_SOURCE_DIR "/profiles/" + name);
  std::string errors;
  for (const auto& e : out.errors) errors += e + "\n";
  BOOST_TEST_REQUIRE(!!out.compiled, errors);
  return out.compiled;
}

std::shared_ptr<const profile> compiled(const std::string& text) {
  auto out = compile_profile(text);
  std::string errors;
  for (const auto& e : out.errors) errors += e + "\n";
  BOOST_TEST_REQUIRE(!!out.compiled, errors);
  return out.compiled;
}

std::vector<std::string> mistakes(const std::string& text) {
  auto out = compile_profile(text);
  BOOST_TEST(!out.compiled);
  return out.errors;
}

struct fixed_generation final : generation_context {
  std::uint64_t next = 1;
  std::uint64_t next_counter(const field_spec&) override { return next++; }
  std::chrono::system_clock::time_point now() override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  }
};

result<void> map(const profile& p, const std::string& op, const json::object& in, record& r) {
  fixed_generation gen;
  return map_request(p.find_operation(op)->request, in, gen, r);
}

std::string error_of(const result<void>& r) {
  return r ? std::string("(mapped)") : r.error().to_string();
}

// A fixed-layout profile with a nested field, and the policy given (if any) at the top and on
// the operation.
std::string nested_profile(const std::string& top, const std::string& on_op) {
  return R"({"name": "t", "framing": {"type": "delimiter", "delimiters": "\n", "max_frame_length": 64}, "layout": "fixed",)" +
         top + R"( "operations": {"look": {)" + on_op + R"(
      "request": {"fields": [
        {"name": "code", "value": "L", "length": 1},
        {"name": "id", "from": "patient.id", "length": 4, "required": true},
        {"name": "ward", "from": "patient.ward", "length": 2}]},
      "reply": {"fields": [{"name": "code", "value": "R", "length": 1}]}}}})";
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_unknown_field_is_invalid_and_named) {
  auto p = load("acme-core.json");
  record r;
  auto res = map(*p, "balance", {{"account", "12345"}, {"extra", "x"}}, r);
  BOOST_TEST_REQUIRE(!res.has_value());
  BOOST_TEST(to_string(res.error().code) == to_string(errc::invalid_field));
  BOOST_TEST(res.error().where == "extra");
  BOOST_TEST(error_of(res) == "extra: is not a field of this operation (it takes account)");
}

BOOST_AUTO_TEST_CASE(every_unknown_field_is_named_once) {
  auto p = load("acme-core.json");
  record r;
  auto res = map(*p, "balance", {{"zeta", 1}, {"account", "12345"}, {"alpha", "x"}}, r);
  BOOST_TEST_REQUIRE(!res.has_value());
  BOOST_TEST(error_of(res) == "zeta, alpha: are not fields of this operation (it takes account)");
}

BOOST_AUTO_TEST_CASE(an_unknown_field_inside_an_object_is_named_by_its_path) {
  auto p = compiled(nested_profile("", ""));
  record r;
  auto res = map(*p, "look", {{"patient", {{"id", "1"}, {"bed", "3"}}}}, r);
  BOOST_TEST(error_of(res) ==
             "patient.bed: is not a field of this operation (it takes patient.id, patient.ward)");
  auto scalar = map(*p, "look", {{"patient", "1"}}, r);
  BOOST_TEST(error_of(scalar) == "patient: must be an object");
  BOOST_TEST(map(*p, "look", {{"patient", {{"id", "1"}, {"ward", "W2"}}}}, r).has_value());
}

BOOST_AUTO_TEST_CASE(the_profile_or_the_operation_may_ignore_unknown_fields) {
  record r;
  json::object in{{"patient", {{"id", "1"}, {"bed", "3"}}}, {"extra", true}};
  auto everywhere = compiled(nested_profile(R"("unknown_fields": "ignore",)", ""));
  BOOST_TEST(map(*everywhere, "look", in, r).has_value());
  auto on_op = compiled(nested_profile("", R"("unknown_fields": "ignore",)"));
  BOOST_TEST(map(*on_op, "look", in, r).has_value());
  auto back =
      compiled(nested_profile(R"("unknown_fields": "ignore",)", R"("unknown_fields": "reject",)"));
  BOOST_TEST(error_of(map(*back, "look", in, r)) ==
             "patient.bed, extra: are not fields of this operation (it takes patient.id, "
             "patient.ward)");
}

BOOST_AUTO_TEST_CASE(a_constant_field_given_by_the_app_is_known_but_keeps_its_value) {
  auto p = compiled(
      R"({"name": "t", "framing": {"type": "delimiter", "delimiters": "\n", "max_frame_length": 64},
    "layout": "fixed", "operations": {"op": {
      "request": {"fields": [{"as": "kind", "value": "K", "length": 1}]},
      "reply": {"fields": [{"name": "code", "value": "R", "length": 1}]}}}})");
  record r;
  BOOST_TEST_REQUIRE(map(*p, "op", {{"kind", "X"}}, r).has_value());
  BOOST_TEST(r.get(0) == "K");
}

BOOST_AUTO_TEST_CASE(dictionary_needs_a_layout_with_a_dictionary) {
  auto errors = mistakes(nested_profile(R"("unknown_fields": "dictionary",)", ""));
  BOOST_TEST_REQUIRE(errors.size() == 2u);
  BOOST_TEST(errors[0] ==
             "operations.look.request: \"unknown_fields\": \"dictionary\" needs a layout with a "
             "dictionary (iso8583), not \"fixed\"");
  auto wrong = mistakes(nested_profile(R"("unknown_fields": "open",)", ""));
  BOOST_TEST_REQUIRE(wrong.size() == 1u);
  BOOST_TEST(wrong[0].find("unknown_fields") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(iso8583_takes_any_dictionary_field_by_name_or_number) {
  auto p = load("iso8583-ascii.json");
  const message_def& req = p->find_operation("reversal")->request;
  json::object base{{"pan", "4761739001010010"},
                    {"amount", "1000"},
                    {"terminal_id", "TERM0001"},
                    {"original_data", std::string(42, '0')}};
  for (const char* name : {"merchant_type", "f18"}) {
    json::object in = base;
    in[name] = "5411";
    record r;
    auto res = map(*p, "reversal", in, r);
    BOOST_TEST_REQUIRE(res.has_value(), error_of(res));
    auto idx = req.index_of("merchant_type");
    BOOST_TEST_REQUIRE(idx.has_value());
    BOOST_TEST(*idx >= req.listed_fields);
    BOOST_TEST(r.get(*idx) == "5411");
    byte_buffer payload;
    BOOST_TEST_REQUIRE(encode_payload(*p, req, r, payload).has_value());
    // Field 18 is announced by the bitmap (byte 3, bit 0x40) and written after field 13.
    BOOST_TEST((payload[4 + 2] & 0x40) != 0);
  }
  // A listed field also answers to its number.
  json::object by_number{{"f2", "4761739001010010"},
                         {"f4", "1000"},
                         {"f41", "TERM0001"},
                         {"f90", std::string(42, '0')}};
  record r;
  BOOST_TEST(map(*p, "reversal", by_number, r).has_value(),
             error_of(map(*p, "reversal", by_number, r)));
  json::object twice = base;
  twice["f4"] = "2000";
  auto dup = map(*p, "reversal", twice, r);
  BOOST_TEST_REQUIRE(!dup.has_value());
  const bool named = dup.error().where == "amount" || dup.error().where == "f4";
  BOOST_TEST(named, dup.error().to_string());
  json::object outside = base;
  outside["f99"] = "1";
  outside["colour"] = "red";
  auto res = map(*p, "reversal", outside, r);
  BOOST_TEST_REQUIRE(!res.has_value());
  BOOST_TEST(res.error().where == "f99, colour");
  BOOST_TEST(res.error().message.find("nor of the profile's dictionary") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(iso8583_replies_surface_every_field_on_the_wire) {
  auto p = load("iso8583-ascii.json");
  const operation& op = *p->find_operation("authorize");
  // A 0110 as a host writes it, with 14, 18 and 22 that the reply's list does not name, and
  // field 44 (no dictionary name).
  record r;
  r.reset(op.reply.fields.size());
  auto set = [&](std::string_view name, std::string_view value) {
    auto idx = op.reply.index_of(name);
    BOOST_TEST_REQUIRE(idx.has_value(), std::string(name));
    r.set(*idx, value);
  };
  set("mti", "0110");
  set("amount", "000000001000");
  set("stan", "000042");
  set("terminal_id", "TERM0001");
  set("response_code", "00");
  set("expiry", "2812");
  set("merchant_type", "5411");
  set("pos_entry_mode", "051");
  set("pan", "4761739001010010");
  byte_buffer payload;
  auto enc = encode_payload(*p, op.reply, r, payload);
  BOOST_TEST_REQUIRE(enc.has_value(), (enc ? "" : enc.error().to_string()));
  record back;
  auto d = decode_payload(*p, payload, back, decode_preference::replies_first, &op);
  BOOST_TEST_REQUIRE(d.has_value(), (d ? "" : d.error().to_string()));
  json::object out = map_reply(op.reply, back, false);
  BOOST_TEST(out["expiry"] == "2812");
  BOOST_TEST(out["merchant_type"] == "5411");
  BOOST_TEST(out["pos_entry_mode"] == "051");
  BOOST_TEST(out["stan"] == "000042");
  json::object masked = map_reply(op.reply, back, true, true);
  BOOST_TEST(masked["pan"] == "476173******0010");
}

BOOST_AUTO_TEST_CASE(open_messages_describe_their_dictionary_apart) {
  auto p = load("iso8583-ascii.json");
  json::object d = p->describe();
  const json::object& req =
      d["operations"].as_object()["reversal"].as_object()["request"].as_object();
  BOOST_TEST(req.at("unknown_fields") == "dictionary");
  bool merchant_type = false;
  for (const auto& n : req.at("dictionary_fields").as_array())
    merchant_type = merchant_type || n == "merchant_type";
  BOOST_TEST(merchant_type);
  for (const auto& f : req.at("fields").as_array())
    BOOST_TEST(f.as_object().at("name") != "merchant_type");
  auto acme = load("acme-core.json");
  BOOST_TEST(
      acme->describe()["operations"].as_object()["balance"].as_object()["request"].as_object().at(
          "unknown_fields") == "reject");
}
