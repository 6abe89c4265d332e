// HL7 v2 over MLLP through the whole pipeline with profiles/hl7v2-mllp.json: exact request bytes,
// ACK vectors from real receivers' habits, escapes, repeating OBX groups, mapping errors.
#define BOOST_TEST_MODULE hl7_test
#include <boost/test/unit_test.hpp>

#include "codecs/pipeline.hpp"
#include "codecs/unrecognised.hpp"

#include <ctime>
#include <string>

using namespace dragoman::codecs;
namespace json = boost::json;

namespace {

std::shared_ptr<const profile> hl7() {
  static auto p = [] {
    auto out = load_profile(DRAGOMAN_SOURCE_DIR "/profiles/hl7v2-mllp.json");
    std::string errors;
    for (const auto& e : out.errors) errors += e + "\n";
    BOOST_TEST_REQUIRE(!!out.compiled, errors);
    return out.compiled;
  }();
  return p;
}

// A clock and counters fixed for exact bytes: 1700000000 is 2023-11-14 22:13:20 UTC.
struct fixed_generation final : generation_context {
  std::uint64_t next = 1;
  std::uint64_t next_counter(const field_spec&) override { return next++; }
  std::chrono::system_clock::time_point now() override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  }
};

std::string encode_request(const std::string& op, std::string_view fields_json) {
  const profile& p = *hl7();
  fixed_generation gen;
  record r;
  const message_def& msg = p.find_operation(op)->request;
  auto res = map_request(msg, json::parse(fields_json).as_object(), gen, r);
  BOOST_TEST_REQUIRE(res.has_value(), (res ? "" : res.error().to_string()));
  byte_buffer payload, frame;
  auto enc = encode_message(p, msg, r, payload, frame);
  BOOST_TEST_REQUIRE(enc.has_value(), (enc ? "" : enc.error().to_string()));
  return std::string(as_chars(frame));
}

// MLLP: 0B payload 1C 0D.
std::string mllp(std::string_view payload) {
  return "\x0b" + std::string(payload) + "\x1c\x0d";
}

std::string unframe(const std::string& frame) {
  BOOST_TEST_REQUIRE(frame.size() >= 3);
  BOOST_TEST(frame.front() == '\x0b');
  BOOST_TEST(frame.substr(frame.size() - 2) == "\x1c\x0d");
  return frame.substr(1, frame.size() - 3);
}

struct decoded {
  const operation* op = nullptr;
  bool is_reply = false;
  json::object fields;
  record r;
};

decoded decode(std::string_view payload, const std::string& op,
               decode_preference pref = decode_preference::replies_first) {
  const profile& p = *hl7();
  decoded d;
  auto res = decode_payload(p, as_bytes(payload), d.r, pref, p.find_operation(op));
  BOOST_TEST_REQUIRE(res.has_value(), (res ? "" : res.error().to_string()));
  d.op = res->op;
  d.is_reply = res->is_reply;
  d.fields = map_reply(*res->msg, d.r, !res->is_reply);
  return d;
}

const char* const admit_json =
    R"({"patient":{"id":"12345","family":"DOE","given":"JOHN","birth_date":"19800101","sex":"M"}})";

}  // namespace

// HL7 v2.5 chapter 2 (2.5 message construction, MSH-1/MSH-2 "|^~\&") and chapter 3 (ADT^A01
// structure MSH EVN PID PV1). Trailing empty fields and components are not sent (2.5.3).
BOOST_AUTO_TEST_CASE(admit_exact_bytes) {
  const std::string frame = encode_request("admit", admit_json);
  BOOST_TEST(unframe(frame) ==
             "MSH|^~\\&|DRAGOMAN|SIDECAR|HIS|HOSPITAL|20231114221320||ADT^A01^ADT_A01|0000000001|"
             "P|2.5||||||UNICODE UTF-8\r"
             "EVN|A01|20231114221320\r"
             "PID|1||12345^^^^MR||DOE^JOHN||19800101|M\r"
             "PV1|1|I\r");
}

BOOST_AUTO_TEST_CASE(update_patient_is_an_a08_with_overridden_header_fields) {
  const std::string frame = encode_request(
      "update_patient",
      R"({"sending_application":"EPIC","processing_id":"T","patient":{"id":"7","family":"ROE",
          "address":{"street":"1 MAIN ST","city":"SPRINGFIELD","postal_code":"12345"}},
          "visit":{"class":"O","attending":{"id":"99","family":"HOUSE"}}})");
  BOOST_TEST(unframe(frame) ==
             "MSH|^~\\&|EPIC|SIDECAR|HIS|HOSPITAL|20231114221320||ADT^A08^ADT_A01|0000000001|"
             "T|2.5||||||UNICODE UTF-8\r"
             "EVN|A08|20231114221320\r"
             "PID|1||7^^^^MR||ROE||||||1 MAIN ST^^SPRINGFIELD^^12345\r"
             "PV1|1|O|||||99^HOUSE\r");
}

// HL7 v2.5 section 2.7.1 escape sequences: \F\ \S\ \T\ \R\ \E\ in text fields.
BOOST_AUTO_TEST_CASE(values_with_encoding_characters_are_escaped_and_round_trip) {
  const std::string frame =
      encode_request("admit", R"({"patient":{"id":"1","family":"O|BRIEN^&~\\","given":"JOSÉ"}})");
  const std::string payload = unframe(frame);
  BOOST_TEST(payload.find("PID|1||1^^^^MR||O\\F\\BRIEN\\S\\\\T\\\\R\\\\E\\^JOS\xc3\x89\r") !=
             std::string::npos);
  auto d = decode(payload, "admit", decode_preference::requests_first);
  BOOST_TEST(!d.is_reply);
  BOOST_TEST(json::serialize(d.fields.at("patient")) ==
             R"({"id":"1","id_type":"MR","family":"O|BRIEN^&~\\","given":"JOSÉ"})");
}

// HL7 v2.5 section 2.7 escape \Xdd..\ (hexadecimal data): control bytes in a value (a pasted line
// break, a tab, the MLLP block bytes 0B and 1C that would otherwise break the frame) go out as
// hex escapes and come back as they were. Found by tests/codecs/roundtrip_test.cpp.
BOOST_AUTO_TEST_CASE(control_characters_are_hex_escapes) {
  const std::string frame = encode_request(
      "admit", R"({"patient":{"id":"1","family":"A\u000bB\u001cC","given":"L1\nL2\tX"}})");
  const std::string payload = unframe(frame);
  BOOST_TEST(payload.find("||A\\X0B\\B\\X1C\\C^L1\\X0A\\L2\\X09\\X\r") != std::string::npos,
             payload);
  BOOST_TEST(payload.find_first_of(std::string("\x0b\x1c\n\t", 4)) == std::string::npos);
  auto d = decode(payload, "admit", decode_preference::requests_first);
  BOOST_TEST(d.fields.at("patient").at("family").as_string() ==
             "A\x0b"
             "B\x1c"
             "C");
  BOOST_TEST(d.fields.at("patient").at("given").as_string() == "L1\nL2\tX");
}

// ORU^R01 (HL7 v2.5 section 7.3.1): MSH PID OBR {OBX}; OBX-1 set ids 1, 2, ... (section 7.4.2.1).
BOOST_AUTO_TEST_CASE(lab_result_writes_one_obx_per_observation) {
  const std::string frame = encode_request("lab_result", R"({
      "patient":{"id":"12345","family":"DOE"},
      "order":{"placer_number":"ORD1","code":"24331-1","text":"Lipid panel"},
      "observations":[
        {"value_type":"NM","code":"2093-3","text":"Cholesterol","value":"196","units":"mg/dL",
         "reference_range":"<200","status":"F"},
        {"value_type":"ST","code":"8251-1","text":"Comment","value":"fasting^12h","status":"F"}]})");
  const std::string payload = unframe(frame);
  BOOST_TEST(payload ==
             "MSH|^~\\&|DRAGOMAN|SIDECAR|HIS|HOSPITAL|20231114221320||ORU^R01^ORU_R01|0000000001|"
             "P|2.5||||||UNICODE UTF-8\r"
             "PID|1||12345^^^^MR||DOE\r"
             "OBR|1|ORD1||24331-1^Lipid panel^LN|||||||||||||||||||||F\r"
             "OBX|1|NM|2093-3^Cholesterol||196|mg/dL|<200||||F\r"
             "OBX|2|ST|8251-1^Comment||fasting\\S\\12h||||||F\r");
  auto d = decode(payload, "lab_result", decode_preference::requests_first);
  BOOST_TEST(json::serialize(d.fields.at("observations")) ==
             R"([{"set_id":"1","value_type":"NM","code":"2093-3","text":"Cholesterol",)"
             R"("value":"196","units":"mg/dL","reference_range":"<200","status":"F"},)"
             R"({"set_id":"2","value_type":"ST","code":"8251-1","text":"Comment",)"
             R"("value":"fasting^12h","status":"F"}])");
}

BOOST_AUTO_TEST_CASE(mapping_errors_name_the_json_field) {
  const profile& p = *hl7();
  struct error_case {
    const char* op;
    const char* fields;
    errc code;
    const char* where;
    const char* message;  // null: not checked
  };
  const error_case cases[] = {
      {"admit", R"({"patient":{"family":"DOE"}})", errc::missing_field, "patient.id",
       "is required"},
      {"lab_result",
       R"({"patient":{"id":"1","family":"D"},"order":{"code":"X"},"observations":{}})",
       errc::invalid_field, "observations", "must be an array"},
      {"lab_result",
       R"({"patient":{"id":"1","family":"D"},"order":{"code":"X"},"observations":[{"valeu":"1"}]})",
       errc::invalid_field, "observations", "element 1 has the unknown key \"valeu\""},
      {"lab_result",
       R"({"patient":{"id":"1","family":"D"},"order":{"code":"X"},"observations":[{"value":[1]}]})",
       errc::invalid_field, "observations", "element 1 key \"value\" must be a string or a number"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.fields) {
      fixed_generation gen;
      record r;
      const message_def& msg = p.find_operation(c.op)->request;
      auto res = map_request(msg, json::parse(c.fields).as_object(), gen, r);
      if (res) {
        byte_buffer payload, frame;
        auto enc = encode_message(p, msg, r, payload, frame);
        BOOST_TEST_REQUIRE(!enc.has_value());
        BOOST_TEST(to_string(enc.error().code) == to_string(c.code));
        BOOST_TEST(enc.error().where == c.where);
        if (c.message) BOOST_TEST(enc.error().message == c.message);
      } else {
        BOOST_TEST(to_string(res.error().code) == to_string(c.code));
        BOOST_TEST(res.error().where == c.where);
        if (c.message) BOOST_TEST(res.error().message == c.message);
      }
    }
  }
}

namespace {

struct ack_case {
  const char* source;
  std::string payload;
  const char* ack_code;
  const char* control_id;
  const char* ack_text;  // null: absent
  bool success;
};

const std::string ack_header =
    "MSH|^~\\&|HIS|HOSPITAL|DRAGOMAN|SIDECAR|20231114221321||ACK^A01^ACK|A1|P|2.5";

const ack_case acks[] = {
    {"HL7 v2.5 2.9.2 original mode: application accept", ack_header + "\rMSA|AA|0000000001\r", "AA",
     "0000000001", nullptr, true},
    {"commit accept (enhanced mode)", ack_header + "\rMSA|CA|0000000002|received\r", "CA",
     "0000000002", "received", true},
    {"the last segment without its carriage return (python-hl7, many interface engines)",
     ack_header + "\rMSA|AA|0000000003", "AA", "0000000003", nullptr, true},
    {"CR LF between segments and a trailing LF (Windows peers)",
     ack_header + "\r\nMSA|AA|0000000004|ok\r\n", "AA", "0000000004", "ok", true},
    {"a Z-segment and an unknown segment are ignored",
     ack_header + "\rZAK|custom|data\rMSA|AA|0000000005\rNTE|1||note\r", "AA", "0000000005",
     nullptr, true},
    {"ACK with MSH-9 only ACK (HL7 2.3 habit)",
     "MSH|^~\\&|HIS|HOSP|||20231114||ACK|A2|P|2.3\rMSA|AE|0000000006|bad\\F\\value\r", "AE",
     "0000000006", "bad|value", false},
    {"other encoding characters, read from MSH-1 and MSH-2",
     "MSH*:~\\&*HIS*HOSP*DRAGOMAN*SIDECAR*20231114**ACK:A01*A3*P*2.5\r"
     "MSA*AR*0000000007*bad\\F\\value and \\S\\\r",
     "AR", "0000000007", "bad*value and :", false},
    {"\\X0D\\ hex escape and an unknown \\H\\ kept as it is",
     ack_header + "\rMSA|CE|0000000008|line1\\X0D0A\\line2 \\H\\bold\\N\\\r", "CE", "0000000008",
     "line1\r\nline2 \\H\\bold\\N\\", false},
    {"a leading CR LF before MSH", "\r\n" + ack_header + "\rMSA|CR|0000000009\r", "CR",
     "0000000009", nullptr, false},
};

}  // namespace

BOOST_AUTO_TEST_CASE(acks_decode_and_classify) {
  const operation& op = *hl7()->find_operation("admit");
  for (const auto& c : acks) {
    BOOST_TEST_CONTEXT(c.source) {
      auto d = decode(c.payload, "admit");
      BOOST_TEST(d.is_reply);
      BOOST_TEST(json::value_to<std::string>(d.fields.at("ack_code")) == c.ack_code);
      BOOST_TEST(json::value_to<std::string>(d.fields.at("control_id")) == c.control_id);
      if (c.ack_text)
        BOOST_TEST(json::value_to<std::string>(d.fields.at("ack_text")) == c.ack_text);
      else
        BOOST_TEST(!d.fields.contains("ack_text"));
      reply_outcome o = classify_reply(op, d.r);
      BOOST_TEST(o.success == c.success);
      BOOST_TEST(o.code == c.ack_code);
    }
  }
}

// HL7 v2.5 ERR (section 2.15.5): ERR-3 error code (HL70357), ERR-4 severity, ERR-8 user message;
// v2.3/2.4 receivers still send ERR-1 (ELD: segment^sequence^field^code&text).
BOOST_AUTO_TEST_CASE(rejection_details_come_from_err) {
  auto d = decode(ack_header +
                      "\rMSA|AR|0000000010|Patient rejected\r"
                      "ERR|PID^1^3^101&Required field missing&HL70357|PID^1^3|101^Required field "
                      "missing^HL70357|E||||PID-3 is REJECT\r",
                  "admit");
  BOOST_TEST(
      json::serialize(d.fields) ==
      R"({"ack_code":"AR","control_id":"0000000010","ack_text":"Patient rejected",)"
      R"("error":{"segment":"PID","legacy_code":"101","legacy_text":"Required field missing",)"
      R"("code":"101","text":"Required field missing","severity":"E",)"
      R"("message":"PID-3 is REJECT"}})");
  reply_outcome o = classify_reply(*hl7()->find_operation("admit"), d.r);
  BOOST_TEST(!o.success);
  BOOST_TEST(o.code == "AR");
  BOOST_TEST(o.message == "Patient rejected");
}

BOOST_AUTO_TEST_CASE(request_and_ack_give_the_same_correlation_key) {
  const profile& p = *hl7();
  const operation& op = *p.find_operation("lab_result");
  const std::string payload = unframe(encode_request(
      "lab_result",
      R"({"patient":{"id":"1","family":"D"},"order":{"code":"X"},"observations":[{"value":"1"}]})"));
  record req;
  auto dreq = decode_payload(p, as_bytes(payload), req, decode_preference::requests_first, &op);
  BOOST_TEST_REQUIRE(dreq.has_value());
  record rep;
  const std::string ack = ack_header + "\rMSA|AA|0000000001\r";
  auto drep = decode_payload(p, as_bytes(ack), rep, decode_preference::replies_first, &op);
  BOOST_TEST_REQUIRE(drep.has_value());
  std::string k1, k2;
  key_of(op.request, req, k1);
  key_of(op.reply, rep, k2);
  BOOST_TEST(k1 == "1");  // digit keys compare without leading zeros
  BOOST_TEST(k1 == k2);
}

BOOST_AUTO_TEST_CASE(a_request_is_not_taken_for_an_ack) {
  const profile& p = *hl7();
  const std::string payload = unframe(encode_request("admit", admit_json));
  record r;
  auto d = decode_payload(p, as_bytes(payload), r, decode_preference::replies_first,
                          p.find_operation("admit"));
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST(!d->is_reply);
  // Without an operation the message type and trigger event pick the operation.
  auto any = decode_payload(p, as_bytes(payload), r, decode_preference::requests_first);
  BOOST_TEST_REQUIRE(any.has_value());
  BOOST_TEST(any->op->name == "admit");
  const std::string a08 = unframe(encode_request("update_patient", admit_json));
  any = decode_payload(p, as_bytes(a08), r, decode_preference::requests_first);
  BOOST_TEST_REQUIRE(any.has_value());
  BOOST_TEST(any->op->name == "update_patient");
}

BOOST_AUTO_TEST_CASE(an_ack_split_at_every_offset_is_framed_then_decoded) {
  const profile& p = *hl7();
  const std::string wire = mllp(ack_header + "\rMSA|AA|0000000001");
  for (std::size_t cut = 1; cut < wire.size(); ++cut) {
    BOOST_TEST_CONTEXT("cut at " << cut) {
      auto dec = p.framing->make_decoder();
      byte_buffer buffered(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(cut));
      frame_result fr = dec->decode(buffered);
      BOOST_TEST((fr.status == frame_status::need_more));
      buffered.assign(wire.begin(), wire.end());
      fr = dec->decode(buffered);
      BOOST_TEST_REQUIRE((fr.status == frame_status::frame), fr.message);
      record r;
      auto d = decode_payload(p, fr.payload, r, decode_preference::replies_first,
                              p.find_operation("admit"));
      BOOST_TEST_REQUIRE(d.has_value());
      BOOST_TEST(r.get(*d->msg->index_of("control_id")) == "0000000001");
    }
  }
}

// Recognition is by each operation's match (MSH-9.1, MSH-9.2) only: the constants the profile
// writes (MSH-18, MSH-12, MSH-9.3) are not conditions on what is read. The A01 below is written as
// most senders write it: no MSH-18, version 2.3, no message structure.
BOOST_AUTO_TEST_CASE(an_admit_without_msh18_is_an_admit) {
  const profile& p = *hl7();
  const std::string payload =
      "MSH|^~\\&|LAB|FAC|DRAGOMAN|SIDECAR|20260101120000||ADT^A01|MSG00042|P|2.3\r"
      "EVN|A01|20260101120000\r"
      "PID|1||555^^^^MR||DOE^JANE\r"
      "PV1|1|I\r";
  record r;
  auto res = decode_payload(p, as_bytes(payload), r, decode_preference::requests_first);
  BOOST_TEST_REQUIRE(res.has_value(), (res ? "" : res.error().to_string()));
  BOOST_TEST(res->op->name == "admit");
  BOOST_TEST(!res->is_reply);
  BOOST_TEST(map_reply(*res->msg, r, true).at("patient").at("id").as_string() == "555");
}

// A message no operation matches says why: the closest candidate's failed match.
BOOST_AUTO_TEST_CASE(an_unknown_event_names_the_closest_failed_match) {
  const profile& p = *hl7();
  const std::string payload =
      "MSH|^~\\&|LAB|FAC|DRAGOMAN|SIDECAR|20260101120000||ADT^A03|MSG00043|P|2.5\r"
      "EVN|A03|20260101120000\r"
      "PID|1||555^^^^MR||DOE^JANE\r";
  record r;
  auto res = decode_payload(p, as_bytes(payload), r, decode_preference::requests_first);
  BOOST_TEST_REQUIRE(!res.has_value());
  BOOST_TEST((res.error().code == errc::unknown_message));
  BOOST_TEST(res.error().to_string() ==
             R"(no operation's match holds (closest: admit request wants trigger_event "A01", )"
             R"(got "A03"))");
}

static std::string utc_now_hl7() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  return std::string(buf, std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm));
}

// The profile's negative answer (session.unrecognised): ACK AR to the sender, MSA-2 its control
// id, MSH-9.2 its event, MSA-3 and ERR-3 saying why (HL7 v2.5 table 0357, code 200).
BOOST_AUTO_TEST_CASE(an_unknown_message_is_answered_with_ack_ar) {
  const profile& p = *hl7();
  const std::string payload =
      "MSH|^~\\&|LAB|FAC|DRAGOMAN|SIDECAR|20260101120000||ADT^A03|MSG00043|P|2.5\r"
      "EVN|A03|20260101120000\r";
  record request, reply;
  const std::string before = utc_now_hl7();
  const operation* op = answer_unrecognised(p, as_bytes(payload), request, reply);
  const std::string after = utc_now_hl7();
  BOOST_TEST_REQUIRE(op);
  BOOST_TEST(op->name == "unsupported");
  BOOST_TEST(op->internal);
  const auto time_index = op->reply.index_of("ack_time");  // the ACK's own time
  BOOST_TEST_REQUIRE(time_index.has_value());
  const std::string ack_time(reply.get(*time_index));
  BOOST_TEST((before <= ack_time && ack_time <= after),
             ack_time << " not in " << before << ".." << after);
  reply.set(*time_index, "20260102030405");
  byte_buffer scratch, frame;
  auto enc = encode_message(p, op->reply, reply, scratch, frame);
  BOOST_TEST_REQUIRE(enc.has_value(), (enc ? "" : enc.error().to_string()));
  BOOST_TEST(unframe(std::string(as_chars(frame))) ==
             "MSH|^~\\&|DRAGOMAN|SIDECAR|LAB|FAC|20260102030405||ACK^A03|MSG00043|P|2.5\r"
             "MSA|AR|MSG00043|unsupported message type or event\r"
             "ERR|||200^Unsupported message type^HL70357|E\r");

  // An ACK that does not decode as a reply is a broken reply, never answered.
  const std::string ack = "MSH|^~\\&|HIS|HOSPITAL|DRAGOMAN|SIDECAR|||ACK^A01|X1|P|2.5\r";
  BOOST_TEST(!answer_unrecognised(p, as_bytes(ack), request, reply));
}

// Excerpts of unrecognised frames for logs: control bytes escaped, long digit runs (card numbers)
// masked, cut after the limit.
BOOST_AUTO_TEST_CASE(unrecognised_frames_are_logged_as_masked_excerpts) {
  BOOST_TEST(masked_excerpt(as_bytes(std::string_view("PID|1||4111111111111111^^^^MR\r"))) ==
             "PID|1||****************^^^^MR\\x0d");
  BOOST_TEST(masked_excerpt(as_bytes(std::string_view("MSH|^~\\&|A|B|20260101")), 12) ==
             "MSH|^~\\x5c&|A|B…");
}

// An admit the receiver sends (inbound, docs/hl7.md): the ACK the profile builds goes back to the
// sender (MSH-3..6 swapped), AA with MSA-2 its MSH-10; the negative one is AE with the app's text
// (escaped) in MSA-3 and ERR-3, code 207 of HL7 table 0357.
BOOST_AUTO_TEST_CASE(an_inbound_admit_is_answered_from_the_profile) {
  const profile& p = *hl7();
  const std::string payload =
      "MSH|^~\\&|ADT1|GOOD HEALTH|LAB|ELSEWHERE|20240102030405||ADT^A01|MSG001|P|2.3|||\r"
      "EVN|A01|20240102030405|||\r"
      "PID|1||12345^^^^MR||DOE^JANE||19700101|F||||||\r";
  record request;
  auto decoded = decode_payload(p, as_bytes(payload), request, decode_preference::replies_first);
  BOOST_TEST_REQUIRE(decoded.has_value());
  const operation& op = *decoded->op;
  BOOST_TEST(op.name == "admit");
  BOOST_TEST(!decoded->is_reply);
  BOOST_TEST((op.dir == direction::both));
  BOOST_TEST_REQUIRE(op.inbound.dedupe_key.size() == 1u);
  BOOST_TEST(request.get(op.inbound.dedupe_key.front()) == "MSG001");

  record reply;
  const std::string before = utc_now_hl7();
  build_reply(op, request, reply);
  const std::string after = utc_now_hl7();
  // MSH-7 is the ACK's own time (not the message's), UTC to the second.
  const auto time_index = op.reply.index_of("ack_time");
  BOOST_TEST_REQUIRE(time_index.has_value());
  const std::string ack_time(reply.get(*time_index));
  BOOST_TEST(ack_time.size() == 14u);
  BOOST_TEST((before <= ack_time && ack_time <= after),
             ack_time << " not in " << before << ".." << after);
  reply.set(*time_index, "20260102030405");  // fixed, to compare the bytes below
  apply_reply_values(op.inbound.reply, request, {}, reply);
  byte_buffer scratch, frame;
  BOOST_TEST_REQUIRE(encode_message(p, op.reply, reply, scratch, frame).has_value());
  BOOST_TEST(unframe(std::string(as_chars(frame))) ==
             "MSH|^~\\&|LAB|ELSEWHERE|ADT1|GOOD HEALTH|20260102030405||ACK^A01|MSG001|P|2.3\r"
             "MSA|AA|MSG001\r"
             "ERR\r");  // the profile's ACK lists ERR: written, empty, as the simulator does

  BOOST_TEST_REQUIRE(op.inbound.negative);
  apply_reply_values(op.inbound.negative_reply, request, "locked|try later", reply);
  frame.clear();
  BOOST_TEST_REQUIRE(encode_message(p, op.reply, reply, scratch, frame).has_value());
  BOOST_TEST(unframe(std::string(as_chars(frame))) ==
             "MSH|^~\\&|LAB|ELSEWHERE|ADT1|GOOD HEALTH|20260102030405||ACK^A01|MSG001|P|2.3\r"
             "MSA|AE|MSG001|locked\\F\\try later\r"
             "ERR|||207^locked\\F\\try later^HL70357|E\r");
}
