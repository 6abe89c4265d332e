// Tests for the session layer against a fake connection (session_host) with no socket and a
// clock driven by hand: sign-on accepted, refused and unanswered, heartbeats, the peer's echo,
// sign-off answered and not; with profiles/fix44.json, the sequence recovery: a gap asks for a
// resend, resent copies and gap fills close it, the peer's resend request gets a gap fill, a
// number too low ends the session with a Logout saying why.
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
  void send_request(const codecs::operation& op, const codecs::record& request,
                    std::uint64_t number) override {
    requests.push_back({op.name, request, number});
  }
  bool can_send() const override { return room; }
  void on_session(const bridge::session_outcome& o) override { events.push_back(o); }

  std::vector<std::unique_ptr<tracked_call>> sent;
  std::vector<std::string> answered;
  codecs::record last_answer;
  std::vector<bridge::session_outcome> events;
  struct request_sent {
    std::string op;
    codecs::record rec;
    std::uint64_t number;
  };
  std::vector<request_sent> requests;
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

namespace {

// profiles/fix44.json's session, and the peer's messages as they are read (fields by name).
struct fix_fixture {
  fix_fixture() : session(host, "executor:9878", 1) {
    auto out = codecs::load_profile(DRAGOMAN_SOURCE_DIR "/profiles/fix44.json");
    for (const auto& e : out.errors) BOOST_TEST_MESSAGE(e);
    BOOST_REQUIRE(out.compiled);
    bundle = std::make_shared<bridge::profile_bundle>(out.compiled);
    session.bind(bundle, true);
  }
  const codecs::operation& op(const std::string& name) {
    return *bundle->profile->find_operation(name);
  }
  // The peer sends a message read as op's reply with these fields.
  upstream_session::incoming_verdict peer(
      const std::string& name, std::initializer_list<std::pair<std::string, std::string>> values) {
    const auto& o = op(name);
    last = test::reply_of(o, values);
    return session.incoming({&o, &o.reply, true}, last, seq);
  }
  std::string field(const fake_host::request_sent& r, const std::string& name) {
    auto idx = op(r.op).request.index_of(name);
    BOOST_REQUIRE(idx.has_value());
    return std::string(r.rec.get(*idx));
  }

  fake_host host;
  std::shared_ptr<bridge::profile_bundle> bundle;
  upstream_session session;
  bridge::session_sequence seq;
  codecs::record last;
};

using verdict = upstream_session::incoming_verdict;

}  // namespace

BOOST_AUTO_TEST_CASE(a_gap_asks_for_a_resend_and_resent_copies_are_taken_once) {
  fix_fixture f;
  BOOST_TEST((f.peer("logon", {{"msg_seq_num", "1"}}) == verdict::handle));
  // The executor's next message says 7: 2..6 are missing. It is handled (it may answer a call),
  // and one ResendRequest goes out: BeginSeqNo 2, EndSeqNo 0, numbered like any message.
  BOOST_TEST((f.peer("new_order_single", {{"msg_seq_num", "7"}}) == verdict::handle));
  BOOST_REQUIRE(f.host.requests.size() == 1u);
  const auto& rr = f.host.requests[0];
  BOOST_TEST(rr.op == "resend_request");
  BOOST_TEST(rr.number == 0u);
  BOOST_TEST(f.field(rr, "begin_seq_no") == "2");
  BOOST_TEST(f.field(rr, "end_seq_no") == "0");
  BOOST_TEST(f.field(rr, "msg_type") == "2");
  BOOST_TEST((f.peer("test_request", {{"msg_seq_num", "8"}}) == verdict::handle));
  BOOST_TEST(f.host.requests.size() == 1u);  // one resend per gap
  // The resend: 2..4 were session messages (a gap fill), 5 and 6 business ones sent again.
  BOOST_TEST((f.peer("sequence_reset", {{"msg_seq_num", "2"},
                                        {"poss_dup_flag", "Y"},
                                        {"gap_fill_flag", "Y"},
                                        {"new_seq_no", "5"}}) == verdict::taken));
  BOOST_TEST(f.seq.next_in() == 5u);
  BOOST_TEST((f.peer("new_order_single", {{"msg_seq_num", "5"}, {"poss_dup_flag", "Y"}}) ==
              verdict::handle));
  BOOST_TEST((f.peer("new_order_single", {{"msg_seq_num", "6"}, {"poss_dup_flag", "Y"}}) ==
              verdict::handle));
  BOOST_TEST(f.seq.next_in() == 9u);  // 7 and 8 were taken ahead
  BOOST_TEST(!f.seq.recovering());
  // Their copies (the resend runs to the end) are not handled again.
  BOOST_TEST((f.peer("new_order_single", {{"msg_seq_num", "7"}, {"poss_dup_flag", "Y"}}) ==
              verdict::taken));
  BOOST_TEST((f.peer("sequence_reset", {{"msg_seq_num", "8"},
                                        {"poss_dup_flag", "Y"},
                                        {"gap_fill_flag", "Y"},
                                        {"new_seq_no", "9"}}) == verdict::taken));
  BOOST_TEST(f.seq.next_in() == 9u);
  BOOST_TEST(f.host.events.empty());
}

BOOST_AUTO_TEST_CASE(a_sequence_reset_without_gap_fill_moves_the_number_due) {
  fix_fixture f;
  f.peer("logon", {{"msg_seq_num", "1"}});
  BOOST_TEST(
      (f.peer("sequence_reset", {{"msg_seq_num", "1"}, {"new_seq_no", "40"}}) == verdict::taken));
  BOOST_TEST(f.seq.next_in() == 40u);
  BOOST_TEST((f.peer("sequence_reset", {{"msg_seq_num", "1"}, {"new_seq_no", "3"}}) ==
              verdict::taken));  // never backwards
  BOOST_TEST(f.seq.next_in() == 40u);
  BOOST_TEST(f.host.requests.empty());
}

BOOST_AUTO_TEST_CASE(the_peers_resend_request_is_answered_with_a_gap_fill) {
  fix_fixture f;
  for (int i = 0; i < 11; ++i) f.seq.take_out();  // we sent 1..11: 12 is next
  f.peer("logon", {{"msg_seq_num", "1"}});
  BOOST_TEST((f.peer("resend_request",
                     {{"msg_seq_num", "2"}, {"begin_seq_no", "7"}, {"end_seq_no", "0"}}) ==
              verdict::taken));
  BOOST_REQUIRE(f.host.requests.size() == 1u);
  const auto& gf = f.host.requests[0];
  BOOST_TEST(gf.op == "sequence_reset");
  BOOST_TEST(gf.number == 7u);  // MsgSeqNum = BeginSeqNo: no new number taken
  BOOST_TEST(f.field(gf, "msg_type") == "4");
  BOOST_TEST(f.field(gf, "gap_fill_flag") == "Y");
  BOOST_TEST(f.field(gf, "poss_dup_flag") == "Y");
  BOOST_TEST(f.field(gf, "new_seq_no") == "12");
  BOOST_TEST(f.seq.next_out() == 12u);
  // One asking for what was never sent is not answered.
  BOOST_TEST((f.peer("resend_request",
                     {{"msg_seq_num", "3"}, {"begin_seq_no", "12"}, {"end_seq_no", "0"}}) ==
              verdict::taken));
  BOOST_TEST(f.host.requests.size() == 1u);
  BOOST_TEST(f.seq.next_in() == 4u);
}

BOOST_AUTO_TEST_CASE(a_number_too_low_without_possdup_logs_out_and_breaks_the_session) {
  fix_fixture f;
  f.peer("logon", {{"msg_seq_num", "1"}});
  f.peer("test_request", {{"msg_seq_num", "2"}});
  f.peer("test_request", {{"msg_seq_num", "3"}});
  BOOST_TEST((f.peer("test_request", {{"msg_seq_num", "2"}, {"poss_dup_flag", "Y"}}) ==
              verdict::taken));  // a copy: ignored
  BOOST_TEST(f.host.requests.empty());
  BOOST_TEST((f.peer("new_order_single", {{"msg_seq_num", "2"}}) == verdict::broken));
  BOOST_REQUIRE(f.host.requests.size() == 1u);
  const auto& lo = f.host.requests[0];
  BOOST_TEST(lo.op == "logout");
  BOOST_TEST(lo.number == 0u);
  BOOST_TEST(f.field(lo, "msg_type") == "5");
  BOOST_TEST(f.field(lo, "text") == "sequence number too low, expecting 4 but received 2");
  BOOST_REQUIRE(f.host.events.size() == 1u);
  BOOST_TEST((f.host.events[0].what == session_event::sequence_broken));
  BOOST_TEST(f.host.events[0].why == "sequence number too low, expecting 4 but received 2");
  BOOST_TEST(f.seq.next_in() == 4u);
}
