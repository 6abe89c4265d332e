// Tests for the OpenAPI generator: schemas from acme-core's layout (widths, digit patterns,
// required fields, what dragoman fills) and the error responses from the call codes.
#define BOOST_TEST_MODULE openapi_test
#include <boost/test/unit_test.hpp>

#include "bridge/openapi.hpp"

using namespace dragoman;
namespace json = boost::json;

namespace {

json::object acme_document() {
  auto out = codecs::load_profile(DRAGOMAN_SOURCE_DIR "/profiles/acme-core.json");
  BOOST_REQUIRE(out.compiled);
  return bridge::openapi_document(*out.compiled);
}

const json::object& at(const json::object& o, std::initializer_list<std::string_view> path) {
  const json::object* p = &o;
  for (auto key : path) p = &p->at(key).as_object();
  return *p;
}

}  // namespace

BOOST_AUTO_TEST_CASE(document_shape) {
  auto doc = acme_document();
  BOOST_TEST(doc.at("openapi").as_string() == "3.1.0");
  const auto& paths = doc.at("paths").as_object();
  BOOST_TEST(paths.contains("/v1/ops/balance"));
  BOOST_TEST(paths.contains("/v1/ops/transfer"));
  // Session operations are not the app's to call.
  BOOST_TEST(!paths.contains("/v1/ops/sign_on"));
  BOOST_TEST(!paths.contains("/v1/ops/echo"));
  BOOST_TEST(paths.contains("/readyz"));
}

BOOST_AUTO_TEST_CASE(request_schema_from_the_fixed_layout) {
  auto doc = acme_document();
  const auto& transfer = at(doc, {"components", "schemas", "transfer.request"});
  const auto& props = transfer.at("properties").as_object();
  // tx_code (a constant) and trace (a counter) are dragoman's: not offered to the app.
  BOOST_TEST(props.size() == 3u);
  BOOST_TEST(props.at("from").at("maxLength").as_int64() == 12);
  // amount: numeric, 13 digits with 2 implied decimals, unsigned.
  BOOST_TEST(props.at("amount").at("pattern").as_string() ==
             "^((?=\\.?[0-9])0*[0-9]{0,11}(\\.[0-9]{0,2}0*)?)?$");
  BOOST_TEST(json::serialize(transfer.at("required")) == R"(["from","to","amount"])");
  const auto& post = at(doc, {"paths", "/v1/ops/transfer", "post"});
  BOOST_TEST(post.at("description")
                 .as_string()
                 .find("dragoman fills: tx_code = XFRQ, trace "
                       "(counter)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(reply_schema_names_what_the_app_gets) {
  auto doc = acme_document();
  const auto& reply = at(doc, {"components", "schemas", "balance.reply", "properties"});
  BOOST_TEST(reply.contains("balance"));
  BOOST_TEST(reply.contains("result"));
  BOOST_TEST(!reply.contains("trace"));  // no "to": never shown to the app
  BOOST_TEST(reply.at("balance").at("readOnly").as_bool());
}

BOOST_AUTO_TEST_CASE(errors_are_problems_with_their_codes) {
  auto doc = acme_document();
  const auto& responses = at(doc, {"paths", "/v1/ops/balance", "post", "responses"});
  auto codes = [&](std::string_view status) {
    const auto& schema = at(responses, {status, "content", "application/problem+json", "schema"});
    return json::serialize(schema.at("allOf").as_array()[1].at("properties").at("code").at("enum"));
  };
  BOOST_TEST(codes("422") == R"(["invalid_field","rejected","idempotency_key_reused"])");
  BOOST_TEST(codes("409") == R"(["in_progress"])");
  BOOST_TEST(codes("503") == R"(["overloaded","upstream_unavailable"])");
  BOOST_TEST(codes("504") == R"(["upstream_timeout"])");
  BOOST_TEST(at(responses, {"503", "headers"}).contains("Retry-After"));
  BOOST_TEST(!at(responses, {"504", "headers"}).contains("Retry-After"));
  // The doors' own refusals: authentication and the per-client policy.
  BOOST_TEST(codes("401") == R"(["unauthenticated"])");
  BOOST_TEST(codes("403") == R"(["forbidden"])");
  BOOST_TEST(codes("429") == R"(["rate_limited"])");
  BOOST_TEST(at(responses, {"401", "headers"}).contains("WWW-Authenticate"));
  BOOST_TEST(at(responses, {"429", "headers"}).contains("Retry-After"));
  BOOST_TEST(!at(responses, {"403", "headers"}).contains("Retry-After"));
  BOOST_TEST(at(doc, {"components", "securitySchemes", "bearer"}).at("scheme").as_string() ==
             "bearer");
  // Every problem says whether the request reached a host.
  const auto& problem = at(doc, {"components", "schemas", "Problem"});
  BOOST_TEST(problem.at("properties").at("sent").at("type").as_string() == "boolean");
  BOOST_TEST(json::serialize(problem.at("required")).find("\"sent\"") != std::string::npos);
  const auto& params = at(doc, {"components", "parameters"});
  BOOST_TEST(params.contains("Request-Timeout"));
  BOOST_TEST(params.contains("X-Request-Id"));
}
