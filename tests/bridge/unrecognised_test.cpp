// Frames that match no operation, in simulate and in serve: logged, counted, and answered with the
// profile's negative reply (HL7 ACK AR, ISO 8583 response code 30); recognition by match only.
#define BOOST_TEST_MODULE unrecognised_test
#include <boost/test/unit_test.hpp>

#include "bridge/engine.hpp"
#include "bridge/io_pool.hpp"
#include "bridge/simulator.hpp"
#include "codecs/pipeline.hpp"
#include "codecs/profile.hpp"
#include "wait.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include <array>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace dragoman;
using namespace std::chrono_literals;
using asio::ip::tcp;
using test::eventually;

namespace {

json::object profile_json(const std::string& file) {
  std::ifstream in(DRAGOMAN_SOURCE_DIR "/profiles/" + file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  return json::parse(ss.str(), {}, opts).as_object();
}

std::shared_ptr<const codecs::profile> compile(const json::object& o) {
  auto out = codecs::compile_profile(json::serialize(o));
  for (const auto& e : out.errors) BOOST_TEST_MESSAGE(e);
  BOOST_REQUIRE(out.compiled);
  return out.compiled;
}

// A simulator on its own thread, stopped and joined at scope end.
struct sim_host {
  explicit sim_host(std::shared_ptr<const codecs::profile> p, json::object rules = {}) {
    bridge::simulator_options o;
    o.rules = std::move(rules);
    sim = bridge::start_simulator(ctx, std::move(p), o);
    thread = std::thread([this] { ctx.run(); });
  }
  ~sim_host() {
    sim->stop();
    ctx.stop();
    thread.join();
  }
  asio::io_context ctx;
  asio::executor_work_guard<asio::io_context::executor_type> guard{ctx.get_executor()};
  std::shared_ptr<bridge::simulator> sim;
  std::thread thread;
};

// Writes frame to the simulator and returns the payload of the first frame it answers with
// (empty when none arrives within the limit).
std::string exchange(const codecs::profile& p, const sim_host& host, const std::string& frame) {
  asio::io_context ctx;
  tcp::socket socket(ctx);
  socket.connect(host.sim->local_endpoint());
  asio::write(socket, asio::buffer(frame));
  auto decoder = p.framing->make_decoder();
  codecs::byte_buffer input;
  std::array<std::uint8_t, 4096> buf{};
  std::string payload;
  bool done = false;
  std::function<void()> read = [&] {
    socket.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      input.insert(input.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
      auto fr = decoder->decode(input);
      if (fr.status == codecs::frame_status::frame) {
        payload.assign(codecs::as_chars(fr.payload));
        done = true;
        return;
      }
      read();
    });
  };
  read();
  // Bounded: the answer arrives within the limit or the test fails on an empty payload.
  ctx.run_for(std::chrono::milliseconds(test::default_wait_limit));
  BOOST_TEST(done);
  return payload;
}

const char* const hl7_frame_start = "\x0b";
const char* const hl7_frame_end = "\x1c\x0d";

}  // namespace

// An ADT^A01 as most senders write it (no MSH-18, HL7 2.3) is an admit and gets its ACK AA.
BOOST_AUTO_TEST_CASE(an_admit_without_msh18_gets_its_ack) {
  auto p = compile(profile_json("hl7v2-mllp.json"));
  sim_host host(p);
  const std::string answer =
      exchange(*p, host,
               std::string(hl7_frame_start) +
                   "MSH|^~\\&|LAB|FAC|DRAGOMAN|SIDECAR|20260101120000||ADT^A01|MSG00042|P|2.3\r"
                   "EVN|A01|20260101120000\rPID|1||555^^^^MR||DOE^JANE\rPV1|1|I\r" +
                   hl7_frame_end);
  BOOST_TEST(answer.find("\rMSA|AA|MSG00042") != std::string::npos, answer);
  BOOST_TEST(host.sim->requests_for("admit") == 1u);
  BOOST_TEST(host.sim->stats().unrecognised.load() == 0u);
}

// An event no operation matches: counted, and answered ACK AR with the sender's control id.
BOOST_AUTO_TEST_CASE(an_unknown_hl7_event_is_counted_and_answered_ar) {
  auto p = compile(profile_json("hl7v2-mllp.json"));
  sim_host host(p);
  const std::string answer =
      exchange(*p, host,
               std::string(hl7_frame_start) +
                   "MSH|^~\\&|LAB|FAC|DRAGOMAN|SIDECAR|20260101120000||ADT^A03|MSG00043|P|2.5\r"
                   "EVN|A03|20260101120000\rPID|1||555^^^^MR||DOE^JANE\r" +
                   hl7_frame_end);
  BOOST_TEST(answer.find("|ACK^A03|MSG00043|") != std::string::npos, answer);
  BOOST_TEST(
      answer.find("\rMSA|AR|MSG00043|unsupported message type or event\r") != std::string::npos,
      answer);
  BOOST_TEST(host.sim->stats().unrecognised.load() == 1u);
  BOOST_TEST(host.sim->stats().requests.load() == 0u);
}

// ISO 8583: an MTI no operation matches gets the response MTI (+10) with field 39 = 30 (format
// error), the STAN and terminal echoed.
BOOST_AUTO_TEST_CASE(an_unknown_mti_is_answered_with_a_format_error) {
  auto p = compile(profile_json("iso8583-ascii.json"));
  sim_host host(p);
  const codecs::operation* op = p->find_operation("format_error");
  BOOST_REQUIRE(op);
  BOOST_TEST(op->internal);
  codecs::counter_generation_context gen(*p);
  codecs::record req;
  auto mapped = codecs::map_request(
      op->request,
      json::parse(R"({"mti":"0300","stan":"000123","terminal_id":"TERM0001"})").as_object(), gen,
      req);
  BOOST_REQUIRE(mapped.has_value());
  codecs::byte_buffer scratch, frame;
  BOOST_REQUIRE(codecs::encode_message(*p, op->request, req, scratch, frame).has_value());
  const std::string answer = exchange(*p, host, std::string(codecs::as_chars(frame)));
  codecs::record reply;
  auto decoded = codecs::decode_payload(*p, codecs::as_bytes(answer), reply,
                                        codecs::decode_preference::replies_first, op);
  BOOST_REQUIRE(decoded.has_value());
  BOOST_TEST(decoded->is_reply);
  auto fields = codecs::map_reply(op->reply, reply, true);
  BOOST_TEST(fields.at("mti").as_string() == "0310");
  BOOST_TEST(fields.at("response_code").as_string() == "30");
  BOOST_TEST(fields.at("stan").as_string() == "000123");
  BOOST_TEST(fields.at("terminal_id").as_string() == "TERM0001");
  BOOST_TEST(host.sim->stats().unrecognised.load() == 1u);
}

// serve: a message the host pushes that no operation matches (an ADT^A03 from a host whose
// profile has a discharge operation) is counted in dragoman_upstream_unmatched_frames_total and
// answered ACK AR, which the host reads as the answer to its discharge; the connection stays up.
BOOST_AUTO_TEST_CASE(a_pushed_frame_matching_nothing_is_counted_and_answered) {
  json::object ours = profile_json("hl7v2-mllp.json");
  json::object theirs = ours;
  json::object discharge = theirs["operations"].as_object()["admit"].as_object();
  auto& request = discharge["request"].as_object();
  request["match"] = {{"message_type", "ADT"}, {"trigger_event", "A03"}};
  for (auto& f : request["fields"].as_array()) {
    auto& field = f.as_object();
    const std::string name(field["name"].as_string());
    if (name == "trigger_event" || name == "event_type") field["value"] = "A03";
    field.erase("required");  // the simulator sends it without fields
  }
  theirs["operations"].as_object()["discharge"] = discharge;
  auto p = compile(ours);
  sim_host host(
      compile(theirs),
      json::object{{"send", json::array{json::object{{"op", "discharge"}, {"every_ms", 50}}}}});

  bridge::io_pool pool(1);
  bridge::engine_options o;
  o.upstreams = {"127.0.0.1:" + std::to_string(host.sim->local_endpoint().port())};
  o.connections_per_endpoint = 1;
  auto engine = bridge::make_engine(p, o, pool);
  pool.start();
  auto stat = [&](const char* name) { return engine->stats().at(name).to_number<std::uint64_t>(); };
  BOOST_TEST(eventually([&] { return host.sim->stats().answers.load() >= 2u; }));
  BOOST_TEST(stat("unmatched_frames_total") >= 2u);
  BOOST_TEST(stat("protocol_errors_total") == 0u);
  BOOST_TEST(host.sim->stats().connections.load() == 1u);
  engine.reset();
  pool.stop();
  pool.join();
}
