// The session layer over one upstream connection: sign-on, heartbeats (echo), sign-off, and the
// answers to the peer's own requests. It decides; its connection acts through session_host.
// No Asio, no socket: the heartbeat timer stays with the connection, which asks when it is due.
#pragma once

#include "bridge/call_book.hpp"
#include "bridge/session_sequence.hpp"
#include "codecs/profile.hpp"
#include "codecs/record.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace dragoman::bridge {

// What the session tells its connection.
enum class session_event {
  signed_on,        // the connection may carry calls
  sign_on_refused,  // refused (code set) or unanswered/unsendable: drop and reconnect
  peer_alive,       // an echo was answered
  peer_lost,        // an echo was not answered: the connection is lost
  signed_off,       // the sign-off was answered, or not: close for good
  sequence_broken,  // the peer's number is too low (its message was not sent again): the
                    // session's last word is written, then the connection closes (why set)
};

struct session_outcome {
  session_event what;
  std::string why;   // for refusals and losses
  std::string code;  // the host's result code of a refused sign-on
};

// The connection, as the session sees it.
class session_host {
 public:
  virtual ~session_host() = default;
  // Adopts and sends a session message; a failure comes back through upstream_session::failed().
  virtual void send_session(std::unique_ptr<tracked_call> message) = 0;
  // Encodes and writes the answer to the peer's own request.
  virtual void send_answer(const codecs::operation& op, const codecs::record& answer) = 0;
  // Encodes and writes op's request, built by the session, that nothing answers (a resend request,
  // a gap fill, the last word before closing). number 0: it carries the next outgoing sequence
  // number; else that number (a gap fill stands in for messages already numbered).
  virtual void send_request(const codecs::operation& op, const codecs::record& request,
                            std::uint64_t number) = 0;
  // One more message may be in flight now.
  virtual bool can_send() const = 0;
  virtual void on_session(const session_outcome& outcome) = 0;
};

class upstream_session {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  upstream_session(session_host& host, std::string endpoint_name, std::uint64_t connection_id)
      : host_(host), endpoint_(std::move(endpoint_name)), id_(connection_id) {}

  // The profile the connection speaks from this connect on; keyed: field correlation.
  void bind(std::shared_ptr<profile_bundle> bundle, bool keyed);
  // A reloaded profile with the same wire: new session messages use it.
  void use(std::shared_ptr<profile_bundle> bundle) { bundle_ = std::move(bundle); }
  const codecs::session_spec& spec() const noexcept { return bundle_->profile->session; }

  enum class start_result { up, signing_on, cannot_sign_on };
  // A new connection: sends the sign-on when the profile has one.
  start_result start(time_point now);

  // Heartbeats: the interval of idleness after which an echo goes out (zero: none).
  std::chrono::milliseconds heartbeat_interval() const noexcept;
  enum class heartbeat_step {
    none,   // nothing to do now (an echo is out, or the connection is quiet): do not re-arm
    wait,   // not idle long enough: re-arm from the last activity
    touch,  // busy in order: the call in flight shows whether the peer lives; re-arm from now
    sent,   // an echo went out: its answer or its loss re-arms
  };
  // quiet: draining or being replaced, no echo now.
  heartbeat_step heartbeat_due(time_point now, time_point last_activity, bool quiet);
  bool echo_out() const noexcept { return echo_out_; }

  // Sign-off: sends it when the profile has one and it can go now, else reports signed_off.
  void sign_off(time_point until);
  bool signing_off() const noexcept { return signing_off_; }

  // The answer to one of its messages, or the message's failure (no answer in time, unsendable).
  void replied(std::unique_ptr<tracked_call> message, const codecs::record& reply);
  void failed(std::unique_ptr<tracked_call> message, const std::string& why);

  // The peer's own request (an echo test): answered when the profile says so; false when the
  // session does not answer its operation (the connection treats it as unrecognised).
  bool peer_request(const codecs::operation& op, const codecs::record& request);

  // session.sequence: the peer's message d, read into rec, checked against seq
  // (session_recovery.cpp). handle: the connection goes on with it; taken: the session consumed
  // it (a duplicate, a sequence reset, a resend request answered with a gap fill); broken: the
  // number is too low, sequence_broken was reported and nothing more is read.
  enum class incoming_verdict { handle, taken, broken };
  incoming_verdict incoming(const codecs::decoded_message& d, const codecs::record& rec,
                            session_sequence& seq);

  // The connection closed: nothing of the session is out any more.
  void reset() noexcept { echo_out_ = false; }

 private:
  bool send(tracked_call::kind what, std::size_t op_index, time_point deadline);
  // The request of operation op_index built without the app into built_; false (logged) when it
  // cannot be.
  bool build(std::size_t op_index);
  incoming_verdict sequence_reset(const codecs::decoded_message& d, const codecs::record& rec,
                                  std::uint64_t n, bool duplicate, session_sequence& seq);
  incoming_verdict after_check(const codecs::decoded_message& d, std::uint64_t n,
                               const session_sequence::received_result& r, bool consumed);
  void ask_resend(std::uint64_t begin);
  void answer_resend(const codecs::decoded_message& d, const codecs::record& rec,
                     const session_sequence& seq);

  session_host& host_;
  std::string endpoint_;
  std::uint64_t id_;
  std::shared_ptr<profile_bundle> bundle_;
  bool keyed_ = false;
  bool echo_out_ = false;
  bool signing_off_ = false;
  codecs::record answer_;
  codecs::record built_;
};

}  // namespace dragoman::bridge
