// An operation's "compensation": read and checked (every mistake named by its path), and the
// compensating request built from the original's values: ISO 8583 field 90 from the purchase's
// MTI, STAN, transmission date and time and acquirer id, as profiles/iso8583-ascii.json says.
#define BOOST_TEST_MODULE profile_compensation
#include <boost/test/unit_test.hpp>

#include "codecs/profile.hpp"

#include <string>

using dragoman::codecs::build_compensation;
using dragoman::codecs::compile_profile;
using dragoman::codecs::load_profile;
namespace json = boost::json;

namespace {

// purchase (not idempotent) and undo (idempotent), with compensation keys given by the test.
std::string profile_with(const std::string& compensation, bool undo_idempotent = true,
                         bool purchase_idempotent = false) {
  return R"({"name": "t", "framing": {"type": "delimiter", "delimiters": "\n", "max_frame_length": 512},
    "operations": {
      "purchase": {"idempotent": )" +
         std::string(purchase_idempotent ? "true" : "false") + "," + compensation + R"(
        "request": {"layout": "delimited", "separator": "|", "fields": [{"name": "op", "value": "P"},
                    {"as": "terminal_id", "required": true}, {"as": "stan", "generate": "counter", "width": 6},
                    {"from": "card.pan", "name": "pan"}, {"as": "amount"}]},
        "reply": {"layout": "delimited", "separator": "|", "fields": [{"name": "code"}]}},
      "undo": {"idempotent": )" +
         std::string(undo_idempotent ? "true" : "false") + R"(,
        "request": {"layout": "delimited", "separator": "|", "fields": [{"name": "op", "value": "U"},
                    {"as": "terminal_id", "required": true}, {"as": "original", "required": true},
                    {"as": "amount"}, {"as": "stan", "generate": "counter", "width": 6}]},
        "reply": {"layout": "delimited", "separator": "|", "fields": [{"name": "code"}]}}}})";
}

bool has(const std::vector<std::string>& errors, const std::string& text) {
  for (const auto& e : errors)
    if (e.find(text) != std::string::npos) return true;
  return false;
}

std::string all(const std::vector<std::string>& errors) {
  std::string s;
  for (const auto& e : errors) s += e + "\n";
  return s;
}

const std::string good = R"("compensation": {"operation": "undo", "fields": {
    "terminal_id": "terminal_id", "amount": "amount",
    "original": [{"from": "op", "width": 2, "pad": "_"}, {"from": "stan", "width": 6},
                 {"from": "card.pan", "width": 8}, {"value": "ZZ"}]}},)";

}  // namespace

BOOST_AUTO_TEST_CASE(without_the_key_an_operation_has_no_compensation) {
  auto out = compile_profile(profile_with(""));
  BOOST_TEST_REQUIRE(out.errors.empty(), all(out.errors));
  BOOST_TEST(!out.compiled->find_operation("purchase")->compensation.operation.has_value());
}

BOOST_AUTO_TEST_CASE(the_compensation_names_its_operation_and_builds_its_fields) {
  auto out = compile_profile(profile_with(good));
  BOOST_TEST_REQUIRE(out.errors.empty(), all(out.errors));
  const auto* purchase = out.compiled->find_operation("purchase");
  const auto& c = purchase->compensation;
  BOOST_TEST_REQUIRE(c.operation.has_value());
  BOOST_TEST(out.compiled->operations[*c.operation].name == "undo");
  auto built = build_compensation(*purchase,
                                  json::parse(R"({"terminal_id": "T1", "amount": "12",
                                                  "card": {"pan": "4111"}})")
                                      .as_object(),
                                  json::object{{"stan", "000042"}});
  BOOST_TEST_REQUIRE(built.error.empty(), built.error);
  BOOST_TEST(json::serialize(built.data) ==
             R"({"terminal_id":"T1","amount":"12","original":"_P00004200004111ZZ"})");
}

BOOST_AUTO_TEST_CASE(a_bare_field_the_original_lacks_is_left_out_a_padded_one_is_all_pad) {
  auto out = compile_profile(profile_with(good));
  BOOST_TEST_REQUIRE(out.errors.empty(), all(out.errors));
  auto built = build_compensation(*out.compiled->find_operation("purchase"),
                                  json::object{{"terminal_id", "T1"}}, json::object{{"stan", "7"}});
  BOOST_TEST_REQUIRE(built.error.empty(), built.error);
  BOOST_TEST(json::serialize(built.data) ==
             R"({"terminal_id":"T1","original":"_P00000700000000ZZ"})");
}

BOOST_AUTO_TEST_CASE(a_value_longer_than_its_width_is_an_error_naming_both) {
  auto out = compile_profile(profile_with(good));
  BOOST_TEST_REQUIRE(out.errors.empty(), all(out.errors));
  auto built = build_compensation(
      *out.compiled->find_operation("purchase"),
      json::parse(R"({"terminal_id": "T1", "card": {"pan": "411111111"}})").as_object(),
      json::object{{"stan", "000001"}});
  BOOST_TEST(built.error == "original: pan is 9 characters, longer than its width 8");
}

BOOST_AUTO_TEST_CASE(every_mistake_is_named_by_its_path) {
  const std::string p = "operations.purchase.compensation";
  struct bad {
    std::string keys, path, reason;
  };
  const bad cases[] = {
      {R"("compensation": "undo",)", p, "must be an object"},
      {R"("compensation": {"fields": {}},)", p + ".operation", ""},
      {R"("compensation": {"operation": "nope", "fields": {}},)", p + ".operation",
       "no operation named \"nope\""},
      {R"("compensation": {"operation": "purchase", "fields": {}},)", p + ".operation",
       "an operation cannot compensate itself"},
      {R"("compensation": {"operation": "undo"},)", p + ".fields", ""},
      {R"("compensation": {"operation": "undo", "fields": {"terminal_id": "terminal_id"}},)",
       p + ".fields", "the required field \"original\" of \"undo\" is not given"},
      {R"("compensation": {"operation": "undo", "fields": {"original": "stan", "nope": "stan", "terminal_id": "terminal_id"}},)",
       p + ".fields.nope", "\"undo\" has no request field named \"nope\""},
      {R"("compensation": {"operation": "undo", "fields": {"original": "missing", "terminal_id": "terminal_id"}},)",
       p + ".fields.original", "no field named \"missing\" in operations.purchase.request"},
      {R"("compensation": {"operation": "undo", "fields": {"original": [{"from": "stan", "width": 6}, {"from": "nope"}], "terminal_id": "terminal_id"}},)",
       p + ".fields.original[1]", "no field named \"nope\""},
      {R"("compensation": {"operation": "undo", "fields": {"original": [], "terminal_id": "terminal_id"}},)",
       p + ".fields.original", "must list at least one part"},
      {R"("compensation": {"operation": "undo", "fields": {"original": [{"width": 3}], "terminal_id": "terminal_id"}},)",
       p + ".fields.original[0]", "needs one of \"from\""},
      {R"("compensation": {"operation": "undo", "fields": {"original": [{"from": "stan", "pad": "00", "width": 6}], "terminal_id": "terminal_id"}},)",
       p + ".fields.original[0].pad", "must be one character"},
      {R"("compensation": {"operation": "undo", "fields": {"original": [{"from": "stan", "pad": "0"}], "terminal_id": "terminal_id"}},)",
       p + ".fields.original[0].pad", "needs a width"},
      {R"("compensation": {"operation": "undo", "fields": {"original": [{"value": "ABC", "width": 2}], "terminal_id": "terminal_id"}},)",
       p + ".fields.original[0].value", "is longer than its width 2"},
      {R"("compensation": {"operation": "undo", "fields": {"original": [{"from": "stan", "wdth": 2}], "terminal_id": "terminal_id"}},)",
       p + ".fields.original[0].wdth", ""},
      {R"("compensation": {"operation": "undo", "fields": {"original": 5, "terminal_id": "terminal_id"}},)",
       p + ".fields.original", "must be a field of the original request"},
      {R"("compensation": {"operation": "undo", "fields": {"original": "stan", "terminal_id": "terminal_id"}, "extra": 1},)",
       p + ".extra", ""},
  };
  for (const auto& c : cases) {
    auto out = compile_profile(profile_with(c.keys));
    BOOST_TEST(has(out.errors, c.path + ": " + c.reason), c.keys << "\n→ " << all(out.errors));
  }
}

BOOST_AUTO_TEST_CASE(the_compensation_must_be_idempotent_and_the_original_not) {
  const std::string keys =
      R"("compensation": {"operation": "undo", "fields": {"original": "stan", "terminal_id": "terminal_id"}},)";
  auto out = compile_profile(profile_with(keys, false));
  BOOST_TEST(has(out.errors,
                 "operations.purchase.compensation.operation: \"undo\" must be "
                 "idempotent"),
             all(out.errors));
  out = compile_profile(profile_with(keys, true, true));
  BOOST_TEST(has(out.errors,
                 "operations.purchase.compensation: an idempotent operation is sent "
                 "again on an unknown outcome, not compensated"),
             all(out.errors));
}

// profiles/iso8583-ascii.json: purchase → reversal, field 90 = original MTI (4), STAN (6),
// transmission date and time (10), acquirer id (11, zero-padded), forwarding institution (11
// zeros): 42 digits.
BOOST_AUTO_TEST_CASE(iso8583_purchase_is_reversed_with_field_90_from_the_original) {
  auto out = load_profile(DRAGOMAN_SOURCE_DIR "/profiles/iso8583-ascii.json");
  BOOST_TEST_REQUIRE(out.errors.empty(), all(out.errors));
  const auto* purchase = out.compiled->find_operation("purchase");
  BOOST_TEST_REQUIRE(purchase->compensation.operation.has_value());
  BOOST_TEST(out.compiled->operations[*purchase->compensation.operation].name == "reversal");
  auto data = json::parse(R"({"pan": "4111111111111111", "amount": "000000002500",
      "terminal_id": "TERM0001", "merchant_id": "MERCHANT0000001", "acquirer_id": "12345"})")
                  .as_object();
  json::object fixed{{"stan", "000417"},
                     {"transmission_time", "1206013000"},
                     {"local_time", "013000"},
                     {"local_date", "1206"}};
  auto built = build_compensation(*purchase, data, fixed);
  BOOST_TEST_REQUIRE(built.error.empty(), built.error);
  const std::string f90 =
      "0200"
      "000417"
      "1206013000"
      "00000012345"
      "00000000000";
  BOOST_TEST(f90.size() == 42u);
  BOOST_TEST(built.data.at("original_data").as_string() == f90);
  BOOST_TEST(built.data.at("pan").as_string() == "4111111111111111");
  BOOST_TEST(built.data.at("amount").as_string() == "000000002500");
  BOOST_TEST(built.data.at("terminal_id").as_string() == "TERM0001");
  BOOST_TEST(built.data.at("acquirer_id").as_string() == "12345");
  BOOST_TEST(built.data.at("currency").as_string() == "840");  // the purchase's default
  BOOST_TEST(built.data.at("processing_code").as_string() == "000000");
  BOOST_TEST(!built.data.contains("rrn"));   // the purchase had none
  BOOST_TEST(!built.data.contains("stan"));  // the reversal draws its own
  // Without an acquirer id: 11 zeros in its place.
  data.erase("acquirer_id");
  built = build_compensation(*purchase, data, fixed);
  BOOST_TEST(built.data.at("original_data").as_string() ==
             "0200"
             "000417"
             "1206013000"
             "00000000000"
             "00000000000");
  BOOST_TEST(!built.data.contains("acquirer_id"));
}
