// An operation's "delivery" (asynchronous calls through the journal): read, defaulted, and every
// mistake named by its path.
#define BOOST_TEST_MODULE profile_delivery
#include <boost/test/unit_test.hpp>

#include "codecs/profile.hpp"

#include <string>

using dragoman::codecs::compile_profile;
using dragoman::codecs::delivery_spec;

namespace {

std::string profile_with(const std::string& purchase_keys) {
  return R"({"name": "t", "framing": {"type": "delimiter", "delimiters": "\n", "max_frame_length": 512},
    "operations": {"purchase": {)" +
         purchase_keys + R"(
      "request": {"layout": "delimited", "separator": "|", "fields": [{"name": "op", "value": "P"},
                  {"as": "terminal_id", "required": true}, {"from": "patient.id", "name": "pid"},
                  {"as": "amount"}]},
      "reply": {"layout": "delimited", "separator": "|", "fields": [{"name": "code"}]}}}})";
}

bool has(const std::vector<std::string>& errors, const std::string& text) {
  for (const auto& e : errors)
    if (e.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(without_delivery_an_operation_is_parallel_with_five_attempts) {
  auto out = compile_profile(profile_with(""));
  BOOST_TEST_REQUIRE(out.errors.empty(), (out.errors.empty() ? "" : out.errors.front()));
  const auto& d = out.compiled->find_operation("purchase")->delivery;
  BOOST_TEST((d.order == delivery_spec::ordering::parallel));
  BOOST_TEST(d.max_attempts == 5);
  BOOST_TEST(!d.max_attempts_given);  // the host's messages to the app: retried until accepted
  BOOST_TEST(d.backoff_min.count() == 500);
  BOOST_TEST(d.backoff_max.count() == 60000);
  BOOST_TEST(d.ttl.count() == 0);
  BOOST_TEST(d.retry_on.empty());
  BOOST_TEST(!d.dead_blocks_queue);
}

BOOST_AUTO_TEST_CASE(delivery_reads_order_key_attempts_backoff_ttl_and_retry_codes) {
  auto out = compile_profile(profile_with(R"("delivery": {"order": "per_key", "key": "patient.id",
      "max_attempts": 9, "backoff_min_ms": 100, "backoff_max_ms": 800, "ttl_ms": 60000,
      "retry_on": ["upstream_timeout", "rejected"], "on_dead": "wait"},)"));
  BOOST_TEST_REQUIRE(out.errors.empty(), (out.errors.empty() ? "" : out.errors.front()));
  const auto* op = out.compiled->find_operation("purchase");
  const auto& d = op->delivery;
  BOOST_TEST((d.order == delivery_spec::ordering::per_key));
  BOOST_TEST(d.key == "patient.id");
  BOOST_TEST(op->request.fields[d.key_field].name == "pid");
  BOOST_TEST(d.max_attempts == 9);
  BOOST_TEST(d.max_attempts_given);
  BOOST_TEST(d.backoff_min.count() == 100);
  BOOST_TEST(d.backoff_max.count() == 800);
  BOOST_TEST(d.ttl.count() == 60000);
  BOOST_TEST_REQUIRE(d.retry_on.size() == 2u);
  BOOST_TEST(d.retry_on[1] == "rejected");
  BOOST_TEST(d.dead_blocks_queue);
}

BOOST_AUTO_TEST_CASE(delivery_mistakes_are_named_by_path) {
  auto out = compile_profile(profile_with(R"("delivery": {"order": "per_key", "key": "terminal",
      "max_attempts": 0, "backoff_min_ms": 900, "backoff_max_ms": 100,
      "retry_on": ["invalid_field", 3], "on_dead": "drop", "typo": 1},)"));
  BOOST_TEST(
      has(out.errors, "operations.purchase.delivery.key: no request field named \"terminal\""));
  BOOST_TEST(has(out.errors, "operations.purchase.delivery.max_attempts"));
  BOOST_TEST(has(out.errors, "operations.purchase.delivery.backoff_max_ms: must not be below"));
  BOOST_TEST(has(out.errors, "operations.purchase.delivery.retry_on[0]: must be one of"));
  BOOST_TEST(has(out.errors, "operations.purchase.delivery.retry_on[1]: must be one of"));
  BOOST_TEST(has(out.errors, "operations.purchase.delivery.on_dead"));
  BOOST_TEST(has(out.errors, "operations.purchase.delivery.typo"));

  auto keyless = compile_profile(profile_with(R"("delivery": {"order": "per_key"},)"));
  BOOST_TEST(has(keyless.errors, "delivery.key: per_key order needs the request field"));
  auto stray = compile_profile(profile_with(R"("delivery": {"key": "terminal_id"},)"));
  BOOST_TEST(has(stray.errors, "delivery.key: only per_key order takes a key"));
}
