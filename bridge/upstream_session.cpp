// Sign-on, heartbeats, sign-off and answers to the peer's requests, over a session_host.
#include "bridge/upstream_session.hpp"

#include "bridge/log.hpp"
#include "codecs/pipeline.hpp"

#include <algorithm>

namespace dragoman::bridge {

void upstream_session::bind(std::shared_ptr<profile_bundle> bundle, bool keyed) {
  bundle_ = std::move(bundle);
  keyed_ = keyed;
  echo_out_ = false;
}

// Builds a session request (sign-on, echo, sign-off) with its own deadline and hands it over.
bool upstream_session::send(tracked_call::kind what, std::size_t op_index, time_point deadline) {
  auto t = std::make_unique<tracked_call>();
  t->what = what;
  t->bundle = bundle_;
  t->op = &bundle_->profile->operations[op_index];
  t->deadline = deadline;
  const codecs::field_spec* correlation = nullptr;
  if (keyed_ && t->op->request.correlation_field)
    correlation = &t->op->request.fields[*t->op->request.correlation_field];
  call_generation_context gen(bundle_->bank, correlation);
  static const boost::json::object no_fields;
  if (auto mapped = codecs::map_request(t->op->request, no_fields, gen, t->own_request); !mapped) {
    log::error("session_message_invalid", {{"endpoint", endpoint_},
                                           {"operation", t->op->name},
                                           {"error", mapped.error().to_string()}});
    return false;
  }
  t->key_generated = gen.correlation_generated();
  host_.send_session(std::move(t));  // a failed send comes back through failed()
  return true;
}

upstream_session::start_result upstream_session::start(time_point now) {
  signing_off_ = false;
  echo_out_ = false;
  const auto& s = spec();
  if (!s.sign_on) return start_result::up;
  const auto& op = bundle_->profile->operations[*s.sign_on];
  return send(tracked_call::kind::sign_on, *s.sign_on, now + op.timeout)
             ? start_result::signing_on
             : start_result::cannot_sign_on;
}

std::chrono::milliseconds upstream_session::heartbeat_interval() const noexcept {
  const auto& s = spec();
  if (!s.echo || s.heartbeat_interval.count() <= 0) return std::chrono::milliseconds(0);
  return s.heartbeat_interval;
}

upstream_session::heartbeat_step upstream_session::heartbeat_due(time_point now,
                                                                 time_point last_activity,
                                                                 bool quiet) {
  const auto& s = spec();
  if (echo_out_ || quiet || !s.echo) return heartbeat_step::none;
  if (now - last_activity < s.heartbeat_interval) return heartbeat_step::wait;
  if (!host_.can_send()) return heartbeat_step::touch;
  echo_out_ = true;
  if (!send(tracked_call::kind::echo, *s.echo, now + s.echo_timeout)) {
    echo_out_ = false;
    return heartbeat_step::none;
  }
  return heartbeat_step::sent;
}

void upstream_session::sign_off(time_point until) {
  signing_off_ = true;
  const auto& s = spec();
  if (s.sign_off && (keyed_ || host_.can_send()) &&
      send(tracked_call::kind::sign_off, *s.sign_off, until))
    return;
  host_.on_session({session_event::signed_off, {}, {}});
}

void upstream_session::replied(std::unique_ptr<tracked_call> t, const codecs::record& reply) {
  switch (t->what) {
    case tracked_call::kind::sign_on: {
      auto outcome = codecs::classify_reply(*t->op, reply);
      if (outcome.success) {
        log::info("sign_on", {{"endpoint", endpoint_}, {"connection", id_}});
        host_.on_session({session_event::signed_on, {}, {}});
        return;
      }
      std::string why = "sign-on refused with code " + outcome.code +
                        (outcome.message.empty() ? "" : " (" + outcome.message + ")");
      host_.on_session({session_event::sign_on_refused, std::move(why), outcome.code});
      return;
    }
    case tracked_call::kind::echo:
      echo_out_ = false;
      host_.on_session({session_event::peer_alive, {}, {}});
      return;
    case tracked_call::kind::sign_off:
      log::info("sign_off", {{"endpoint", endpoint_}, {"connection", id_}, {"answered", true}});
      host_.on_session({session_event::signed_off, {}, {}});
      return;
    default:
      return;
  }
}

void upstream_session::failed(std::unique_ptr<tracked_call> t, const std::string& why) {
  switch (t->what) {
    case tracked_call::kind::sign_on:
      host_.on_session({session_event::sign_on_refused, "sign-on failed: " + why, {}});
      return;
    case tracked_call::kind::echo:
      echo_out_ = false;
      log::warn("heartbeat_timeout", {{"endpoint", endpoint_}, {"connection", id_}});
      host_.on_session({session_event::peer_lost, "heartbeat unanswered: " + why, {}});
      return;
    case tracked_call::kind::sign_off:
      log::info("sign_off", {{"endpoint", endpoint_}, {"connection", id_}, {"answered", false}});
      host_.on_session({session_event::signed_off, {}, {}});
      return;
    default:
      return;
  }
}

bool upstream_session::peer_request(const codecs::operation& op, const codecs::record& request) {
  const auto& answer = spec().answer;
  if (std::find(answer.begin(), answer.end(), op.index) == answer.end()) return false;
  codecs::build_reply(op, request, answer_);
  host_.send_answer(op, answer_);
  return true;
}

}  // namespace dragoman::bridge
