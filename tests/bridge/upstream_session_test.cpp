// Tests for the session layer against a fake connection (session_host) with no socket and a
// clock driven by hand: sign-on accepted, refused and unanswered, heartbeats, the peer's echo,
// sign-off answered and not.
#define BOOST_TEST_MODULE upstream_session_test
#include <boost/test/unit_test.hpp>

#include "bridge/upstream_session.hpp"
#include "upstream_fixture.hpp"

#include <vector>

using namespace dragoman;
using namespace std::chrono_literals;
using bridge::session_event;
using bridge::tracked_call;
using bridge::upstream_session;
using test::acme;
using test::manual_clock;

namespace {

// Records what the session asks of its connection.
struct fake_host final : bridge::session_host {
  void send_session(std::unique_ptr<tracked_call> m) override { sent.push_back(std::move(m)); }
  void send_answer(const codecs::operation& op, const codecs::record& answer) override {
    answered.push_back(op.name);
    last_answer = answer;
  }
  bool can_send() const override { return room; }
  void on_session(const bridge::session_outcome& o) override { events.push_back(o); }

  std::vector<std::unique_ptr<tracked_call>> sent;
  std::vector<std::string> answered;
  codecs::record last_answer;
  std::vector<bridge::session_outcome> events;
  bool room = true;
};

struct session_fixture {
  session_fixture() : bundle(acme()), session(host, "core:9000", 1) { session.bind(bundle, true); }
  const codecs::operation& op(const std::string& name) {
    return *bundle->profile->find_operation(name);
  }
  // The sign-on as sent, answered with result code `code`.
  void answer_sign_on(const std::string& code) {
    BOOST_REQUIRE(!host.sent.empty());
    auto m = std::move(host.sent.back());
    host.sent.pop_back();
    BOOST_REQUIRE((m->what == tracked_call::kind::sign_on));
    auto reply = test::reply_of(*m->op, {{"tx_code", "SONR"}, {"result", code}});
    session.replied(std::move(m), reply);
  }

  fake_host host;
  manual_clock clock;
  std::shared_ptr<bridge::profile_bundle> bundle;
  upstream_session session;
};

}  // namespace

BOOST_AUTO_TEST_CASE(sign_on_goes_out_with_the_operations_timeout_and_success_signs_on) {
  session_fixture f;
  BOOST_TEST((f.session.start(f.clock.now) == upstream_session::start_result::signing_on));
  BOOST_REQUIRE(f.host.sent.size() == 1u);
  const auto& m = *f.host.sent[0];
  BOOST_TEST(m.op->name == "sign_on");
  BOOST_TEST((m.deadline == f.clock.now + f.op("sign_on").timeout));
  BOOST_TEST(m.key_generated);  // field correlation: the connection assigns the key
  f.answer_sign_on("00");
  BOOST_REQUIRE(f.host.events.size() == 1u);
  BOOST_TEST((f.host.events[0].what == session_event::signed_on));
}

BOOST_AUTO_TEST_CASE(a_refused_sign_on_names_the_hosts_code) {
  session_fixture f;
  f.session.start(f.clock.now);
  f.answer_sign_on("91");
  BOOST_REQUIRE(f.host.events.size() == 1u);
  BOOST_TEST((f.host.events[0].what == session_event::sign_on_refused));
  BOOST_TEST(f.host.events[0].code == "91");
  BOOST_TEST(f.host.events[0].why.find("sign-on refused with code 91") == 0u);
}

BOOST_AUTO_TEST_CASE(an_unanswered_sign_on_is_a_refusal_with_the_reason) {
  session_fixture f;
  f.session.start(f.clock.now);
  auto m = std::move(f.host.sent.back());
  f.session.failed(std::move(m), "no answer in time");
  BOOST_REQUIRE(f.host.events.size() == 1u);
  BOOST_TEST((f.host.events[0].what == session_event::sign_on_refused));
  BOOST_TEST(f.host.events[0].code.empty());
  BOOST_TEST(f.host.events[0].why == "sign-on failed: no answer in time");
}

BOOST_AUTO_TEST_CASE(a_profile_without_sign_on_is_up_at_once) {
  auto b = acme();
  auto copy = std::make_shared<codecs::profile>();
  (void)copy;
  // The same profile with the session's sign-on left out.
  std::string text = test::read_file(DRAGOMAN_SOURCE_DIR "/profiles/acme-core.json");
  auto pos = text.find("\"sign_on\": \"sign_on\",");
  BOOST_REQUIRE(pos != std::string::npos);
  text.erase(pos, std::strlen("\"sign_on\": \"sign_on\","));
  auto out = codecs::compile_profile(text);
  BOOST_REQUIRE(out.compiled);
  fake_host host;
  upstream_session s(host, "core:9000", 1);
  s.bind(std::make_shared<bridge::profile_bundle>(out.compiled), true);
  BOOST_TEST((s.start(std::chrono::steady_clock::now()) == upstream_session::start_result::up));
  BOOST_TEST(host.sent.empty());
}

BOOST_AUTO_TEST_CASE(heartbeats_wait_for_idleness_then_send_one_echo_at_a_time) {
  session_fixture f;
  const auto interval = f.session.heartbeat_interval();
  BOOST_TEST(interval.count() == 30000);
  const auto last = f.clock.now;
  using step = upstream_session::heartbeat_step;
  BOOST_TEST((f.session.heartbeat_due(last + interval - 1ms, last, false) == step::wait));
  BOOST_TEST((f.session.heartbeat_due(last + interval, last, true) == step::none));  // quiet
  f.host.room = false;
  BOOST_TEST((f.session.heartbeat_due(last + interval, last, false) == step::touch));
  f.host.room = true;
  BOOST_TEST((f.session.heartbeat_due(last + interval, last, false) == step::sent));
  BOOST_TEST(f.session.echo_out());
  BOOST_REQUIRE(f.host.sent.size() == 1u);
  BOOST_TEST((f.host.sent[0]->what == tracked_call::kind::echo));
  BOOST_TEST(
      (f.host.sent[0]->deadline == last + interval + f.bundle->profile->session.echo_timeout));
  // One at a time: while it is out, nothing more.
  BOOST_TEST((f.session.heartbeat_due(last + 2 * interval, last, false) == step::none));
  auto m = std::move(f.host.sent[0]);
  auto reply = test::reply_of(*m->op, {{"tx_code", "ECHR"}, {"result", "00"}});
  f.session.replied(std::move(m), reply);
  BOOST_TEST(!f.session.echo_out());
  BOOST_REQUIRE(f.host.events.size() == 1u);
  BOOST_TEST((f.host.events[0].what == session_event::peer_alive));
}

BOOST_AUTO_TEST_CASE(an_unanswered_echo_loses_the_peer) {
  session_fixture f;
  const auto last = f.clock.now;
  f.session.heartbeat_due(last + f.session.heartbeat_interval(), last, false);
  BOOST_REQUIRE(f.host.sent.size() == 1u);
  f.session.failed(std::move(f.host.sent[0]), "no answer in time");
  BOOST_TEST(!f.session.echo_out());
  BOOST_REQUIRE(f.host.events.size() == 1u);
  BOOST_TEST((f.host.events[0].what == session_event::peer_lost));
  BOOST_TEST(f.host.events[0].why == "heartbeat unanswered: no answer in time");
}

BOOST_AUTO_TEST_CASE(the_peers_echo_is_answered_with_its_key) {
  session_fixture f;
  const auto& echo = f.op("echo");
  codecs::record request;
  request.reset(echo.request.fields.size());
  request.set(*echo.request.index_of("tx_code"), "ECHQ");
  request.set(*echo.request.index_of("trace"), "000123");
  f.session.peer_request(echo, request);
  BOOST_REQUIRE(f.host.answered.size() == 1u);
  BOOST_TEST(f.host.answered[0] == "echo");
  BOOST_TEST(f.host.last_answer.get(*echo.reply.index_of("trace")) == "000123");
  // An operation the profile does not answer is only noted.
  f.session.peer_request(f.op("balance"), request);
  BOOST_TEST(f.host.answered.size() == 1u);
}

BOOST_AUTO_TEST_CASE(sign_off_answered_or_not_ends_the_session) {
  for (bool answered : {true, false}) {
    session_fixture f;
    f.session.sign_off(f.clock.now + 1000ms);
    BOOST_TEST(f.session.signing_off());
    BOOST_REQUIRE(f.host.sent.size() == 1u);
    auto m = std::move(f.host.sent[0]);
    BOOST_TEST((m->what == tracked_call::kind::sign_off));
    BOOST_TEST((m->deadline == f.clock.now + 1000ms));
    if (answered)
      f.session.replied(std::move(m), test::reply_of(*f.bundle->profile->find_operation("sign_off"),
                                                     {{"tx_code", "SOFR"}, {"result", "00"}}));
    else
      f.session.failed(std::move(m), "no answer in time");
    BOOST_REQUIRE(f.host.events.size() == 1u);
    BOOST_TEST((f.host.events[0].what == session_event::signed_off));
  }
}

BOOST_AUTO_TEST_CASE(sign_off_without_room_in_order_closes_at_once) {
  auto b = acme("sequential");
  fake_host host;
  host.room = false;
  upstream_session s(host, "core:9000", 1);
  s.bind(b, false);
  s.sign_off(std::chrono::steady_clock::now());
  BOOST_TEST(host.sent.empty());
  BOOST_REQUIRE(host.events.size() == 1u);
  BOOST_TEST((host.events[0].what == session_event::signed_off));
}
