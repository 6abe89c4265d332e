// Tests for the translator: the app's call to the legacy request (operation lookup, mapping,
// validation, deadline, who encodes the frame) and the reply back (classification, mapping).
#define BOOST_TEST_MODULE translator_test
#include <boost/test/unit_test.hpp>

#include "bridge/translator.hpp"
#include "upstream_fixture.hpp"

using namespace dragoman;
using namespace std::chrono_literals;
using bridge::call_code;
using test::acme;

namespace {

std::shared_ptr<bridge::profile_bundle> memcached() {
  auto out =
      codecs::compile_profile(test::read_file(DRAGOMAN_SOURCE_DIR "/profiles/memcached-text.json"));
  BOOST_REQUIRE(out.compiled);
  return std::make_shared<bridge::profile_bundle>(out.compiled);
}

bridge::call_request request(const std::string& op, boost::json::object data) {
  bridge::call_request r;
  r.op = op;
  r.data = std::move(data);
  return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(unknown_and_session_operations_are_refused) {
  auto b = acme();
  bridge::mapped_request out;
  auto r = bridge::translate_request(request("nope", {}), b, 0ms, out);
  BOOST_REQUIRE(r);
  BOOST_TEST((r->code == call_code::unknown_operation));
  BOOST_TEST(r->status == 404);
  BOOST_TEST(r->message == "the profile acme-core has no operation \"nope\"");
  r = bridge::translate_request(request("sign_on", {}), b, 0ms, out);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->message.find("that apps may call (it belongs to the session)") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_field_that_does_not_map_or_fit_is_invalid_field) {
  auto b = acme();
  bridge::mapped_request out;
  auto r = bridge::translate_request(request("balance", {}), b, 0ms, out);
  BOOST_REQUIRE(r);
  BOOST_TEST((r->code == call_code::invalid_field));
  BOOST_TEST(r->status == 422);
  BOOST_TEST(r->message.find("account") != std::string::npos);
  // Too long for its 12 places: refused by the layout, before any upstream is chosen.
  r = bridge::translate_request(request("balance", {{"account", "1234567890123"}}), b, 0ms, out);
  BOOST_REQUIRE(r);
  BOOST_TEST((r->code == call_code::invalid_field));
}

BOOST_AUTO_TEST_CASE(a_generated_key_leaves_the_frame_to_the_connection) {
  auto b = acme();
  bridge::mapped_request out;
  auto r = bridge::translate_request(request("balance", {{"account", "12345"}}), b, 0ms, out);
  BOOST_REQUIRE(!r);
  BOOST_TEST(out.key_generated);
  BOOST_TEST(out.frame.empty());  // encoded once, by the connection that assigns the key
  BOOST_TEST(out.op->name == "balance");
  BOOST_TEST((out.timeout == out.op->timeout));
  BOOST_TEST(out.bundle == b);
}

BOOST_AUTO_TEST_CASE(without_a_generated_key_the_frame_is_encoded_here_once) {
  auto b = memcached();
  bridge::mapped_request out;
  auto req = request("get", {{"key", "k1"}});
  req.timeout = 60000ms;
  auto r = bridge::translate_request(req, b, 5000ms, out);
  BOOST_REQUIRE(!r);
  BOOST_TEST(!out.key_generated);
  std::string frame(out.frame.begin(), out.frame.end());
  BOOST_TEST(frame == "get k1\r\n");
  BOOST_TEST(out.timeout.count() == 5000);  // capped by the engine's maximum
}

BOOST_AUTO_TEST_CASE(replies_are_classified_by_the_result_rule) {
  auto b = memcached();
  const auto& get = *b->profile->find_operation("get");
  auto ok = test::reply_of(get, {{"status", "END"}, {"found", "false"}});
  auto r = bridge::reply_result(get, ok);
  BOOST_TEST((r.code == call_code::ok));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.legacy_code == "END");
  BOOST_TEST(r.data.at("found").as_bool() == false);
  auto bad = test::reply_of(get, {{"status", "SERVER_ERROR"}, {"message", "out of memory"}});
  r = bridge::reply_result(get, bad);
  BOOST_TEST((r.code == call_code::rejected));
  BOOST_TEST(r.legacy_code == "SERVER_ERROR");
  BOOST_TEST(r.message == "out of memory");
  auto plain = test::reply_of(get, {{"status", "ERROR"}});
  r = bridge::reply_result(get, plain);
  BOOST_TEST(r.message == "the host rejected the call with code ERROR");
}

BOOST_AUTO_TEST_CASE(a_trace_keeps_the_records_and_the_profile) {
  auto b = acme();
  bridge::mapped_request out;
  BOOST_REQUIRE(!bridge::translate_request(request("balance", {{"account", "7"}}), b, 0ms, out));
  auto t = bridge::make_trace(out, nullptr);
  BOOST_TEST(t->profile == b->profile);
  BOOST_TEST(t->op == out.op);
  BOOST_TEST(!t->has_reply);
  BOOST_TEST(t->request.get(*out.op->request.index_of("account")) == "7");
  auto reply = test::reply_of(*out.op, {{"tx_code", "BALR"}, {"result", "00"}});
  t = bridge::make_trace(out, &reply);
  BOOST_TEST(t->has_reply);
}
