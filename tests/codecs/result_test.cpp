// result<T>: a value or a codec_error; error() on a success is safe in every build type.
#define BOOST_TEST_MODULE result
#include <boost/test/unit_test.hpp>

#include "codecs/result.hpp"

#include <string>
#include <utility>

using namespace dragoman::codecs;

BOOST_AUTO_TEST_CASE(error_of_a_failure_is_the_error) {
  result<int> r = make_error(errc::invalid_field, "amount", "too long");
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().to_string() == "amount: too long");
  codec_error moved = std::move(r).error();
  BOOST_TEST(moved.where == "amount");
  result<void> v = make_error(errc::malformed, "", "short");
  BOOST_REQUIRE(!v);
  BOOST_TEST(v.error().message == "short");
}

// Boost.Test builds a check's message even when the check passes, so a message made of error()
// asks a success for its error.
BOOST_AUTO_TEST_CASE(error_of_a_success_is_no_error) {
  result<std::string> r = std::string("value");
  BOOST_REQUIRE_MESSAGE(r, r.error().to_string());
  BOOST_TEST(r.error().message == no_error().message);
  BOOST_TEST(std::move(r).error().where.empty());
  result<void> v;
  BOOST_REQUIRE_MESSAGE(v, v.error().to_string());
  BOOST_TEST(v.error().message == no_error().message);
  BOOST_TEST(std::move(v).error().message == no_error().message);
}
