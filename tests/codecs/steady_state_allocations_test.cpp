// Every shipped profile's main operation, JSON fields -> record -> frame -> record (what
// scripts/bench-codecs measures), allocates nothing once warm: the request's nested paths, arrays
// kept as JSON text, tag=value codes and words, and binary length fields included.
#define BOOST_TEST_MODULE steady_state_allocations
#include "codecs/pipeline.hpp"
#include "tests/codecs/allocation_counter.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace dragoman::codecs;
namespace json = boost::json;

namespace {

// Warms one round trip up, then counts the heap allocations of 200 more.
std::size_t steady_allocations(const char* profile_file, const char* op_name,
                               const char* fields_json) {
  auto compiled = load_profile(std::string(DRAGOMAN_SOURCE_DIR "/profiles/") + profile_file);
  BOOST_TEST_REQUIRE(compiled.errors.empty());
  BOOST_TEST_REQUIRE(compiled.compiled != nullptr);
  const profile& p = *compiled.compiled;
  const operation* op = p.find_operation(op_name);
  BOOST_TEST_REQUIRE(op != nullptr);
  json::object fields = json::parse(fields_json).as_object();
  counter_generation_context gen(p);
  record req, back;
  byte_buffer payload, frame;
  auto decoder = p.framing->make_decoder();
  bool ok = true;
  auto round_trip = [&] {
    frame.clear();
    ok = ok && map_request(op->request, fields, gen, req).has_value();
    ok = ok && encode_message(p, op->request, req, payload, frame).has_value();
    frame_result fr = decoder->decode(frame);
    ok = ok && fr.status == frame_status::frame;
    ok = ok &&
         decode_payload(p, fr.payload, back, decode_preference::requests_first, op).has_value();
  };
  for (int i = 0; i < 50; ++i) round_trip();
  BOOST_TEST_REQUIRE(ok);
  const std::size_t before = allocation_counter::allocations.load();
  for (int i = 0; i < 200; ++i) round_trip();
  const std::size_t during = allocation_counter::allocations.load() - before;
  BOOST_TEST(ok);
  return during;
}

}  // namespace

BOOST_AUTO_TEST_CASE(acme_core_balance_and_transfer) {
  BOOST_TEST(steady_allocations("acme-core.json", "balance", R"({"account":"12345"})") == 0u);
  BOOST_TEST(steady_allocations("acme-core.json", "transfer",
                                R"({"from":"111","to":"222","amount":"10.50"})") == 0u);
}

BOOST_AUTO_TEST_CASE(iso8583_authorize) {
  BOOST_TEST(steady_allocations("iso8583-ascii.json", "authorize",
                                R"({"pan":"4761739001010010","amount":"000000001000",
                                    "terminal_id":"TERM0001","merchant_id":"MERCHANT0000001",
                                    "rrn":"000000000001"})") == 0u);
}

BOOST_AUTO_TEST_CASE(hl7_admit_with_nested_objects) {
  BOOST_TEST(steady_allocations("hl7v2-mllp.json", "admit",
                                R"({"patient":{"id":"MRN12345","family":"DOE","given":"JANE",
                                    "birth_date":"19800101","sex":"F",
                                    "address":{"street":"1 Main St","city":"Springfield",
                                               "postal_code":"12345","country":"USA"}},
                                    "visit":{"class":"I","point_of_care":"WARD1","room":"101",
                                             "bed":"A","number":"V0001",
                                             "attending":{"id":"D100","family":"HOUSE",
                                                          "given":"GREG"}}})") == 0u);
}

BOOST_AUTO_TEST_CASE(memcached_get_and_set) {
  BOOST_TEST(steady_allocations("memcached-text.json", "get", R"({"key":"k1"})") == 0u);
  BOOST_TEST(
      steady_allocations(
          "memcached-text.json", "set",
          R"({"key":"k1","value":"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"})") ==
      0u);
}

BOOST_AUTO_TEST_CASE(fix_new_order_single_with_a_timestamp_and_words) {
  BOOST_TEST(
      steady_allocations("fix44.json", "new_order_single",
                         R"({"msg_seq_num":2,"cl_ord_id":"ORD-0001","symbol":"IBM","side":"1",
                                    "order_qty":100,"ord_type":"2","price":"123.45",
                                    "time_in_force":"0"})") == 0u);
}

BOOST_AUTO_TEST_CASE(modbus_read_and_write_registers) {
  BOOST_TEST(steady_allocations("modbus-tcp.json", "read_holding_registers",
                                R"({"address":0,"count":10})") == 0u);
  BOOST_TEST(steady_allocations("modbus-tcp.json", "write_multiple_registers",
                                R"({"address":0,"values":[1,2,3,4,5,6,7,8,9,10]})") == 0u);
}
