// Tests for the compiled session sequence (session.sequence), an operation's own correlation and
// the session's consume and rejects lists: profiles/fix44.json, and the precise errors.
#define BOOST_TEST_MODULE profile_sequence_test
#include <boost/test/unit_test.hpp>

#include "codecs/profile.hpp"

#include <string>

using namespace dragoman::codecs;

namespace {

const operation& op_of(const profile& p, const char* name) {
  const operation* op = p.find_operation(name);
  BOOST_REQUIRE(op != nullptr);
  return *op;
}

std::string joined(const compile_output& out) {
  std::string all;
  for (const auto& e : out.errors) all += e + "\n";
  return all;
}

// A minimal field-mode profile with a sequence, its session and operations given.
std::string profile_text(const std::string& extra_op, const std::string& session) {
  return R"({"name": "t",
    "framing": {"type": "length_prefix", "length_field_length": 2, "max_frame_length": 100},
    "layout": "fixed", "correlation": {"mode": "field", "field": "id"},
    "operations": {
      "order": {"request": {"match": {"type": "O"}, "fields": [{"name": "type", "length": 1,
                  "value": "O"}, {"name": "seq", "length": 6}, {"name": "id", "length": 6,
                  "type": "numeric", "generate": "counter"}]},
                "reply": {"match": {"type": "R"}, "fields": [{"name": "type", "length": 1},
                  {"name": "seq", "length": 6}, {"name": "id", "length": 6, "type": "numeric"}]}})" +
         extra_op + R"(},
    "session": )" +
         session + "}";
}

}  // namespace

BOOST_AUTO_TEST_CASE(fix44_compiles_its_session) {
  auto out = load_profile(DRAGOMAN_SOURCE_DIR "/profiles/fix44.json");
  BOOST_REQUIRE_MESSAGE(out.compiled, joined(out));
  const profile& p = *out.compiled;
  const auto& seq = p.session.sequence;
  BOOST_TEST(seq.enabled);
  BOOST_TEST(seq.field == "msg_seq_num");
  BOOST_TEST(seq.reference == "ref_seq_num");
  const auto& nos = op_of(p, "new_order_single");
  BOOST_REQUIRE(nos.request.sequence_field.has_value());
  BOOST_TEST(nos.request.fields[*nos.request.sequence_field].name == "msg_seq_num");
  BOOST_TEST(!nos.request.fields[*nos.request.sequence_field].required);  // not the caller's
  BOOST_REQUIRE(nos.request.stamp_time_fields.size() == 1u);
  BOOST_TEST(nos.request.fields[nos.request.stamp_time_fields[0]].name == "sending_time");
  // The Logon: one in flight, its reply the next Logon; the reset flag field is known.
  const auto& logon = op_of(p, "logon");
  BOOST_TEST(!logon.request.correlation_constant.empty());
  BOOST_TEST(logon.request.correlation_constant == logon.reply.correlation_constant);
  BOOST_TEST(!logon.request.reset_field.has_value());  // no "reset": the numbers go on
  BOOST_TEST(logon.request.index_of("reset_seq_num_flag").has_value());
  BOOST_TEST(logon.internal);
  // TestRequest and Heartbeat: by TestReqID.
  const auto& tr = op_of(p, "test_request");
  BOOST_REQUIRE(tr.reply.correlation_field.has_value());
  BOOST_TEST(tr.reply.fields[*tr.reply.correlation_field].name == "test_req_id");
  // Rejects: no key, found by RefSeqNum.
  const auto& rej = op_of(p, "reject");
  BOOST_TEST(rej.reply.correlation_none);
  BOOST_TEST(rej.reply.reference_field.has_value());
  BOOST_TEST(rej.result.field.has_value());
  BOOST_TEST(rej.result.success.empty());
  BOOST_TEST(p.session.rejects.size() == 3u);
  BOOST_TEST(p.session.consume.size() == 1u);
  BOOST_TEST(!op_of(p, "order_cancel_request").internal);
}

BOOST_AUTO_TEST_CASE(a_sequence_field_no_message_has_is_an_error) {
  auto out = compile_profile(profile_text("", R"({"sequence": {"field": "nope"}})"));
  BOOST_TEST(!out.compiled);
  BOOST_TEST(joined(out).find(R"(session.sequence.field: no message has a field "nope")") !=
                 std::string::npos,
             joined(out));
}

BOOST_AUTO_TEST_CASE(the_sequence_needs_its_field_and_knows_its_keys) {
  auto out = compile_profile(profile_text("", R"({"sequence": {"stamp": []}})"));
  BOOST_TEST(!out.compiled);
  BOOST_TEST(joined(out).find("session.sequence.field: is required") != std::string::npos,
             joined(out));
  BOOST_TEST(joined(out).find("session.sequence.stamp: unknown key") != std::string::npos,
             joined(out));
  out = compile_profile(
      profile_text("", R"({"sequence": {"field": "seq", "state_file": "s.json"}})"));
  BOOST_REQUIRE_MESSAGE(out.compiled, joined(out));
  BOOST_TEST(out.compiled->session.sequence.state_file == "s.json");
  BOOST_TEST(out.compiled->operations[0].reply.sequence_field.has_value());
}

BOOST_AUTO_TEST_CASE(an_operations_own_correlation) {
  const std::string hello = R"(, "hello": {"correlation": "operation",
      "request": {"match": {"type": "H"}, "fields": [{"name": "type", "length": 1, "value": "H"}]},
      "reply": {"match": {"type": "h"}, "fields": [{"name": "type", "length": 1}]}},
    "bad": {"correlation": "sometimes",
      "request": {"match": {"type": "B"}, "fields": [{"name": "type", "length": 1, "value": "B"}]},
      "reply": {"match": {"type": "b"}, "fields": [{"name": "type", "length": 1}]}},
    "ping": {"correlation": {"field": "token"},
      "request": {"match": {"type": "P"}, "fields": [{"name": "type", "length": 1, "value": "P"},
        {"name": "tok", "length": 4}]},
      "reply": {"match": {"type": "p"}, "fields": [{"name": "type", "length": 1},
        {"name": "token", "length": 4}]}})";
  auto out = compile_profile(profile_text(hello, R"({"sign_on": "hello"})"));
  BOOST_TEST(!out.compiled);
  const std::string all = joined(out);
  BOOST_TEST(
      all.find(R"(operations.bad.correlation: must be "operation", "none" or {"field": name})") !=
          std::string::npos,
      all);
  BOOST_TEST(
      all.find(
          R"(operations.ping.request.fields: has no field "token" (the operation's correlation.field))") !=
          std::string::npos,
      all);
  BOOST_TEST(all.find("operations.hello") == std::string::npos, all);
}

BOOST_AUTO_TEST_CASE(fix44_compiles_its_recovery_and_later_reports) {
  auto out = load_profile(DRAGOMAN_SOURCE_DIR "/profiles/fix44.json");
  BOOST_REQUIRE_MESSAGE(out.compiled, joined(out));
  const profile& p = *out.compiled;
  const auto& q = p.session.sequence;
  BOOST_TEST(q.possible_duplicate_field == "poss_dup_flag");
  BOOST_TEST(q.possible_duplicate_value == "Y");
  BOOST_REQUIRE(q.resend_op.has_value());
  BOOST_TEST(p.operations[*q.resend_op].name == "resend_request");
  BOOST_TEST(q.resend_begin == "begin_seq_no");
  BOOST_TEST(q.resend_end == "end_seq_no");
  BOOST_TEST(q.resend_end_value == "0");
  BOOST_REQUIRE(q.reset_op.has_value());
  BOOST_TEST(p.operations[*q.reset_op].name == "sequence_reset");
  BOOST_TEST(q.reset_new_number == "new_seq_no");
  BOOST_TEST(q.gap_fill_field == "gap_fill_flag");
  BOOST_REQUIRE(q.too_low_op.has_value());
  BOOST_TEST(p.operations[*q.too_low_op].name == "logout");
  BOOST_TEST(q.too_low_text == "text");
  BOOST_TEST(p.operations[*q.resend_op].internal);
  BOOST_TEST(p.operations[*q.reset_op].internal);
  const auto& nos = op_of(p, "new_order_single");
  BOOST_TEST(nos.reply.possible_duplicate_field.has_value());
  const auto& er = op_of(p, "execution_report");
  BOOST_REQUIRE(nos.unmatched_as.has_value());
  BOOST_TEST(*nos.unmatched_as == er.index);
  BOOST_TEST(*op_of(p, "order_cancel_request").unmatched_as == er.index);
  BOOST_TEST(!er.inbound.answer);
  BOOST_TEST(!er.inbound.negative);
}

BOOST_AUTO_TEST_CASE(recovery_keys_are_checked) {
  const std::string ok_seq = R"("field": "seq")";
  auto errors_of = [&](const std::string& seq_extra, const std::string& session_extra = {}) {
    return joined(compile_profile(
        profile_text("", R"({"sequence": {)" + ok_seq + seq_extra + "}" + session_extra + "}")));
  };
  auto e = errors_of(R"(, "resend_request": {"operation": "nope", "begin": "seq", "end": "seq"})");
  BOOST_TEST(e.find("session.sequence.resend_request.operation: no operation named \"nope\"") !=
                 std::string::npos,
             e);
  BOOST_TEST(e.find("needs \"sequence_reset\" with \"gap_fill\"") != std::string::npos, e);
  e = errors_of(R"(, "sequence_reset": {"operation": "order", "new_number": "new_seq_no"})");
  BOOST_TEST(e.find("operation \"order\" has no request field \"new_seq_no\"") != std::string::npos,
             e);
  e = errors_of(R"(, "too_low": {"text": "t"})");
  BOOST_TEST(e.find("session.sequence.too_low.operation") != std::string::npos, e);
  e = errors_of("", R"(, "unmatched_replies": {"order": "order"})");
  BOOST_TEST(
      e.find("session.unmatched_replies.order: operation \"order\" is not one the host sends") !=
          std::string::npos,
      e);
}
