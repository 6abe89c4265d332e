// The pipeline end to end on records: acme-core's exact bytes, recognition, mapping errors, and
// encode→decode→encode round trips of every operation of every shipped profile.
#define BOOST_TEST_MODULE pipeline_test
#include <boost/test/unit_test.hpp>

#include "codecs/pipeline.hpp"

#include <filesystem>

using namespace dragoman::codecs;
namespace json = boost::json;

namespace {

std::shared_ptr<const profile> load(const std::string& path) {
  auto out = load_profile(path);
  std::string errors;
  for (const auto& e : out.errors) errors += e + "\n";
  BOOST_TEST_REQUIRE(!!out.compiled, errors);
  return out.compiled;
}

std::shared_ptr<const profile> acme() {
  static auto p = load(DRAGOMAN_SOURCE_DIR "/profiles/acme-core.json");
  return p;
}

// A clock and counters fixed for exact bytes.
struct fixed_generation final : generation_context {
  std::uint64_t next = 1;
  std::uint64_t next_counter(const field_spec&) override { return next++; }
  std::chrono::system_clock::time_point now() override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  }
};

byte_buffer encode_request(const profile& p, const std::string& op, const json::object& fields) {
  fixed_generation gen;
  record r;
  auto res = map_request(p.find_operation(op)->request, fields, gen, r);
  BOOST_TEST_REQUIRE(res.has_value(), (res ? "" : res.error().to_string()));
  byte_buffer payload, frame;
  auto enc = encode_message(p, p.find_operation(op)->request, r, payload, frame);
  BOOST_TEST_REQUIRE(enc.has_value(), (enc ? "" : enc.error().to_string()));
  return frame;
}

byte_view payload_of(const profile& p, const byte_buffer& frame) {
  auto dec = p.framing->make_decoder();
  static thread_local std::unique_ptr<frame_decoder> keep;
  keep = std::move(dec);
  frame_result fr = keep->decode(frame);
  BOOST_TEST_REQUIRE((fr.status == frame_status::frame), fr.message);
  BOOST_TEST(fr.consumed == frame.size());
  return fr.payload;
}

// A value every layout accepts for a field: raw-byte fields take hex of their length.
std::string sample_value(const message_def& msg, std::size_t i) {
  const field_spec& f = msg.fields[i];
  json::object d = msg.codec->describe_field(i);
  // Names of wire values (a coil's "true"), and arrays of what the layout says they hold.
  if (const json::value* m = d.if_contains("map"); m && m->is_object())
    return std::string(m->get_object().begin()->key());
  if (const json::value* items = d.if_contains("items"); items && items->is_object())
    return items->get_object().at("type") == "boolean" ? "[true]" : "[1]";
  if (f.json == field_spec::json_kind::boolean) return "true";
  // A tag=value repeating group: one entry with every field; the unknown-tags field: one tag.
  if (const json::value* g = d.if_contains("group"); g && g->is_array()) {
    json::object entry;
    for (const auto& e : g->get_array()) entry[e.at("name").as_string()] = "1";
    return json::serialize(json::array{entry});
  }
  if (const json::value* t = d.if_contains("type"); t && *t == "unknown_tags")
    return R"([{"tag":5001,"value":"1"}])";
  if (f.json == field_spec::json_kind::array) return "[{}]";
  // An ISO 8583 MTI that no constant gives (the request that reads unrecognised messages).
  if (const json::value* n = d.if_contains("type"); n && n->is_string() && n->get_string() == "mti")
    return "0100";
  const json::value* type = d.if_contains("type");
  if (type && type->is_string() &&
      (type->get_string() == "b" || type->get_string() == "hex" || type->get_string() == "bytes")) {
    std::int64_t n = 1;
    if (const json::value* len = d.if_contains("length"); len && len->is_number())
      n = len->to_number<std::int64_t>();
    if (const json::value* size = d.if_contains("size"); size && size->is_number())
      n = size->to_number<std::int64_t>();
    return std::string(static_cast<std::size_t>(2 * n), '0');
  }
  return "1";
}

}  // namespace

// Bytes worked out by hand from IBM's cp037 table: B=C2 A=C1 L=D3 Q=D8, digits F0-F9,
// space 40; the 2-byte big-endian length 0x0016 counts the 22 payload bytes only.
BOOST_AUTO_TEST_CASE(acme_balance_request_exact_bytes) {
  auto frame = encode_request(*acme(), "balance", {{"account", "12345"}});
  BOOST_TEST(to_hex(frame) ==
             "0016"
             "c2c1d3d8"
             "f0f0f0f0f0f1"
             "f1f2f3f4f540404040404040");
}

BOOST_AUTO_TEST_CASE(acme_request_is_recognised_without_op) {
  auto p = acme();
  auto frame = encode_request(*p, "transfer", {{"from", "111"}, {"to", "222"}, {"amount", "10.5"}});
  record r;
  auto d = decode_payload(*p, payload_of(*p, frame), r, decode_preference::replies_first);
  BOOST_TEST_REQUIRE(d.has_value(), (d ? "" : d.error().to_string()));
  BOOST_TEST(d->op->name == "transfer");
  BOOST_TEST(!d->is_reply);
  auto fields = map_reply(*d->msg, r, true);
  BOOST_TEST(fields.at("from").as_string() == "111");
  BOOST_TEST(fields.at("amount").as_string() == "10.50");
  BOOST_TEST(fields.at("tx_code").as_string() == "XFRQ");
}

// A signed zoned -12.50 in 13 digits: the last digit 0 carries the negative zone D (cp037 D0),
// per IBM Enterprise COBOL's zoned decimal format.
BOOST_AUTO_TEST_CASE(acme_balance_reply_round_trip_and_classification) {
  auto p = acme();
  const operation& op = *p->find_operation("balance");
  record r;
  r.reset(op.reply.fields.size());
  r.set(0, "BALR");
  r.set(1, "000042");
  r.set(2, "12345");
  r.set(3, "00");
  r.set(4, "-12.50");
  r.set(5, "EUR");
  byte_buffer payload, frame;
  BOOST_TEST_REQUIRE(encode_message(*p, op.reply, r, payload, frame).has_value());
  BOOST_TEST(to_hex(byte_view(frame).subspan(2 + 4 + 6 + 12 + 2, 13)) ==
             "f0f0f0f0f0f0f0f0f0f1f2f5d0");
  record back;
  auto d = decode_payload(*p, payload_of(*p, frame), back, decode_preference::replies_first);
  BOOST_TEST_REQUIRE(d.has_value(), (d ? "" : d.error().to_string()));
  BOOST_TEST(d->is_reply);
  BOOST_TEST(d->op == &op);
  auto out = map_reply(op.reply, back, false);
  BOOST_TEST(out.at("balance").as_string() == "-12.50");
  BOOST_TEST(out.at("account").as_string() == "12345");
  BOOST_TEST(out.at("currency").as_string() == "EUR");
  BOOST_TEST(!out.contains("trace"));  // no `to`: not given to the app
  BOOST_TEST(classify_reply(op, back).success);
  back.set(3, "51");
  auto o = classify_reply(op, back);
  BOOST_TEST(!o.success);
  BOOST_TEST(o.code == "51");
}

BOOST_AUTO_TEST_CASE(missing_required_field_names_it) {
  fixed_generation gen;
  record r;
  auto res = map_request(acme()->find_operation("balance")->request, {}, gen, r);
  BOOST_TEST_REQUIRE(!res.has_value());
  BOOST_TEST((res.error().code == errc::missing_field));
  BOOST_TEST(res.error().where == "account");
}

BOOST_AUTO_TEST_CASE(too_long_field_names_it) {
  auto p = acme();
  const auto& msg = p->find_operation("balance")->request;
  fixed_generation gen;
  record r;
  BOOST_TEST_REQUIRE(map_request(msg, {{"account", "1234567890123"}}, gen, r).has_value());
  byte_buffer payload, frame;
  auto res = encode_message(*p, msg, r, payload, frame);
  BOOST_TEST_REQUIRE(!res.has_value());
  BOOST_TEST((res.error().code == errc::invalid_field));
  BOOST_TEST(res.error().where == "account");
}

BOOST_AUTO_TEST_CASE(encode_payload_is_the_frame_before_framing) {
  auto p = acme();
  const auto& msg = p->find_operation("balance")->request;
  fixed_generation gen;
  record r;
  BOOST_TEST_REQUIRE(map_request(msg, {{"account", "12345"}}, gen, r).has_value());
  byte_buffer payload, scratch, frame;
  BOOST_TEST_REQUIRE(encode_payload(*p, msg, r, payload).has_value());
  BOOST_TEST_REQUIRE(encode_message(*p, msg, r, scratch, frame).has_value());
  const byte_view framed = payload_of(*p, frame);
  BOOST_TEST(to_hex(payload) == to_hex(framed));
  byte_buffer again;
  BOOST_TEST_REQUIRE(frame_payload(*p, payload, again).has_value());
  BOOST_TEST(to_hex(again) == to_hex(frame));
  // It replaces what the buffer held.
  BOOST_TEST_REQUIRE(encode_payload(*p, msg, r, payload).has_value());
  BOOST_TEST(to_hex(payload) == to_hex(framed));
}

BOOST_AUTO_TEST_CASE(encode_payload_names_the_json_field) {
  auto p = acme();
  const auto& msg = p->find_operation("balance")->request;
  fixed_generation gen;
  record r;
  BOOST_TEST_REQUIRE(map_request(msg, {{"account", "1234567890123"}}, gen, r).has_value());
  byte_buffer payload;
  auto res = encode_payload(*p, msg, r, payload);
  BOOST_TEST_REQUIRE(!res.has_value());
  BOOST_TEST((res.error().code == errc::invalid_field));
  BOOST_TEST(res.error().where == "account");
}

BOOST_AUTO_TEST_CASE(object_where_a_scalar_belongs) {
  fixed_generation gen;
  record r;
  json::object in{{"account", json::object{{"x", 1}}}};
  auto res = map_request(acme()->find_operation("balance")->request, in, gen, r);
  BOOST_TEST_REQUIRE(!res.has_value());
  BOOST_TEST(res.error().where == "account");
}

BOOST_AUTO_TEST_CASE(numbers_accepted_as_json_numbers) {
  auto frame = encode_request(*acme(), "balance", {{"account", 12345}});
  BOOST_TEST(to_hex(frame).substr(4 + 20, 10) == "f1f2f3f4f5");
}

BOOST_AUTO_TEST_CASE(garbage_payload_is_an_error_not_a_match) {
  auto p = acme();
  byte_buffer junk(22, 0x00);
  record r;
  auto d = decode_payload(*p, junk, r, decode_preference::replies_first);
  BOOST_TEST(!d.has_value());
}

BOOST_AUTO_TEST_CASE(masking) {
  BOOST_TEST(mask_value("4111111111111111") == "411111******1111");
  BOOST_TEST(mask_value("secret") == "****");
}

BOOST_AUTO_TEST_CASE(counters_wrap_within_their_width) {
  auto p = acme();
  counter_generation_context gen(*p);
  field_spec trace = p->find_operation("balance")->request.fields[1];
  // The shipped profile's trace starts from the clock; a numeric start counts from it.
  BOOST_TEST((trace.origin == counter_origin::clock));
  trace.origin = counter_origin::number;
  BOOST_TEST(gen.next_counter(trace) == 1u);
  BOOST_TEST(gen.next_counter(trace) == 2u);
}

// Every operation of every shipped profile: encode → decode → encode gives the same bytes.
BOOST_AUTO_TEST_CASE(shipped_profiles_round_trip) {
  namespace fs = std::filesystem;
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(DRAGOMAN_SOURCE_DIR "/profiles")) {
    if (entry.path().extension() != ".json") continue;
    auto p = load(entry.path().string());
    for (const auto& op : p->operations) {
      for (const message_def* msg : {&op.request, &op.reply}) {
        BOOST_TEST_CONTEXT(entry.path().filename().string() << " " << msg->path) {
          fixed_generation gen;
          record r;
          json::object in;
          for (const auto& f : msg->fields) {
            if (f.from.empty()) continue;
            // Dotted paths are nested objects; array fields take one element with no keys.
            json::object* at = &in;
            std::string_view path = f.from;
            for (auto dot = path.find('.'); dot != std::string_view::npos; dot = path.find('.')) {
              json::value& next = (*at)[path.substr(0, dot)];
              if (!next.is_object()) next = json::object();
              at = &next.get_object();
              path.remove_prefix(dot + 1);
            }
            const std::size_t idx = static_cast<std::size_t>(&f - msg->fields.data());
            if (f.json == field_spec::json_kind::array)
              (*at)[path] = json::parse(sample_value(*msg, idx));
            else
              (*at)[path] = sample_value(*msg, static_cast<std::size_t>(&f - msg->fields.data()));
          }
          if (msg->is_request) {
            auto m = map_request(*msg, in, gen, r);
            BOOST_TEST_REQUIRE(m.has_value(), (m ? "" : m.error().to_string()));
          } else {
            r.reset(msg->fields.size());
            for (std::size_t i = 0; i < msg->fields.size(); ++i)
              r.set(i, msg->fields[i].constant ? *msg->fields[i].constant : sample_value(*msg, i));
            for (const auto& [idx, value] : msg->match) r.set(idx, value);
            if (op.result.field && !op.result.success.empty())
              r.set(*op.result.field, op.result.success.front());
          }
          byte_buffer payload, first, second;
          auto e1 = encode_message(*p, *msg, r, payload, first);
          BOOST_TEST_REQUIRE(e1.has_value(), (e1 ? "" : e1.error().to_string()));
          record back;
          auto d = decode_payload(*p, payload_of(*p, first), back,
                                  msg->is_request ? decode_preference::requests_first
                                                  : decode_preference::replies_first,
                                  &op);
          BOOST_TEST_REQUIRE(d.has_value(), (d ? "" : d.error().to_string()));
          BOOST_TEST(d->msg == msg);
          BOOST_TEST_REQUIRE(encode_message(*p, *msg, back, payload, second).has_value());
          BOOST_TEST(to_hex(first) == to_hex(second));
          ++checked;
        }
      }
    }
  }
  BOOST_TEST(checked >= 4);
}

BOOST_AUTO_TEST_CASE(correlation_keys_of_request_and_reply_agree) {
  auto p = acme();
  const operation& op = *p->find_operation("balance");
  fixed_generation gen;
  gen.next = 42;
  record req;
  BOOST_TEST_REQUIRE(map_request(op.request, {{"account", "1"}}, gen, req).has_value());
  BOOST_TEST(req.get(1) == "000042");
  byte_buffer payload, frame;
  BOOST_TEST_REQUIRE(encode_message(*p, op.request, req, payload, frame).has_value());
  record back;
  BOOST_TEST_REQUIRE(
      decode_payload(*p, payload_of(*p, frame), back, decode_preference::requests_first)
          .has_value());
  std::string k1, k2;
  key_of(op.request, req, k1);
  key_of(op.request, back, k2);
  BOOST_TEST(k1 == "42");
  BOOST_TEST(k1 == k2);
  // A host that pads the key with blanks in its reply still matches.
  back.set(1, "42  ");
  key_of(op.request, back, k2);
  BOOST_TEST(k1 == k2);
}
