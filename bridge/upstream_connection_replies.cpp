// One upstream connection, the frames it reads: split from the stream, decoded, matched to the
// call they answer (or to an operation the host starts, or to nothing, said so).
#include "bridge/upstream_connection.hpp"

#include "bridge/call_handoff.hpp"
#include "bridge/log.hpp"
#include "codecs/pipeline.hpp"
#include "codecs/unrecognised.hpp"

#include <algorithm>

namespace dragoman::bridge {

using steady = std::chrono::steady_clock;

// ---- matching replies -----------------------------------------------------------------------

// Handles the complete frames read so far. False when reading stops here: the connection closed,
// or deliveries of inbound messages are at their bound (back-pressure: resume_reading goes on).
bool upstream_connection::read_frames() {
  const std::uint64_t my_epoch = epoch_;
  for (;;) {
    codecs::frame_reader::event e = reader_.next();
    using kind = codecs::frame_reader::event_kind;
    if (e.kind == kind::need_more) break;
    if (e.kind == kind::fatal) {
      count_rejected(e.reason);
      protocol_failure("framing: " + (e.message.empty() ? std::string("no progress") : e.message));
      return false;
    }
    if (e.kind == kind::skip) {
      ++counters().frames_skipped;
      if (!e.message.empty()) count_rejected(e.reason);
      // A reply longer than max_frame_length (a length prefix announcing gigabytes, say) is not
      // waited for: nothing is allocated for it, the stream is dropped and replaced, and the
      // calls in flight get upstream_protocol_error at once rather than a timeout each.
      if (e.reason == codecs::errc::frame_too_long && !e.message.empty()) {
        protocol_failure("framing: " + e.message);
        return false;
      }
      continue;
    }
    handle_payload(e.payload);
    if (epoch_ != my_epoch || state_ == state::stopped) return false;  // the payload closed it
    if (inbound_full()) {
      read_paused_ = true;
      paused_epoch_ = epoch_;
      return false;
    }
  }
  return true;
}

void upstream_connection::handle_payload(codecs::byte_view payload) {
  codecs::reply_expectation expected;
  match_ = {};
  const bool keyed = book_.keyed();
  if (!keyed)
    if (const tracked_call* head = book_.head()) expected = {head->bundle->profile.get(), head->op};
  auto decoded = keyed ? codecs::decode_incoming(profile(), payload, reply_, expected, find_by_key_)
                       : codecs::decode_in_order(profile(), payload, reply_, expected);
  if (!decoded) {
    // A request of the host's that no operation reads: answered when the profile says how, and
    // the connection goes on; anything else that reads as nothing is a broken reply.
    if (decoded.error().code == codecs::errc::unknown_message &&
        unrecognised_frame(payload, decoded.error().to_string()))
      return;
    ++counters().decode_errors;
    count_rejected(decoded.error().code);
    protocol_failure("undecodable reply: " + decoded.error().to_string());
    return;
  }
  if (!close_when_written_.empty()) return;  // the session broke: nothing more is handled
  if (check_sequence(*decoded, reply_) != upstream_session::incoming_verdict::handle) return;
  if (decoded->is_reply) last_reply_at_ = steady::now();
  if (!decoded->is_reply) {
    ++counters().unsolicited;
    if (decoded->op->receives()) {
      inbound_message(*decoded->op, payload);
      return;
    }
    if (!session_.peer_request(*decoded->op, reply_))
      unrecognised_frame(payload, "a " + decoded->op->name +
                                      " request, which the session does "
                                      "not answer (session.answer)");
    return;
  }
  if (book_.keyed()) {
    if (match_.what == call_book::match::kind::late) {
      ++counters().late;
      return;
    }
    if (!match_.call) {
      const auto& consume = profile().session.consume;
      if (std::find(consume.begin(), consume.end(), decoded->op->index) != consume.end()) {
        ++counters().unsolicited;  // the peer's own heartbeat, say: nothing to answer
        return;
      }
      if (decoded->op->unmatched_as &&
          deliver_unmatched(profile().operations[*decoded->op->unmatched_as], payload))
        return;
      unmatched(book_.key_text(), decoded->op->name);
      return;
    }
    complete_with_reply(match_.call, *decoded);
    if (state_ == state::stopped) return;
    pump_queue();
    return;
  }
  call_book::match head = book_.take_head();
  if (head.what == call_book::match::kind::unmatched) {
    unmatched("(in order, nothing in flight)", decoded->op->name);
    return;
  }
  if (head.call) {
    complete_with_reply(head.call, *decoded);
    if (state_ == state::stopped) return;
  } else {
    ++counters().late;
  }
  if (book_.head_is_late()) arm_timer();
  pump_queue();
}

void upstream_connection::complete_with_reply(tracked_call* c,
                                              const codecs::decoded_message& decoded) {
  auto owned = book_.release(c, steady::now());
  const auto& rejects = profile().session.rejects;
  if (decoded.op != owned->op &&
      std::find(rejects.begin(), rejects.end(), decoded.op->index) != rejects.end()) {
    // A reject of the protocol's (FIX Reject, BusinessMessageReject) answers this call.
    if (owned->is_app()) owned->call->written = true;
    if (!owned->is_app()) {
      session_.failed(std::move(owned), "answered with a " + decoded.op->name);
      return;
    }
    if (ep_.record_success(owned->probe)) shared_->breaker_closed(ep_);
    owned->probe = false;
    end_attempt(std::move(owned), rejection_result(*decoded.op, reply_), false, &reply_);
    return;
  }
  if (decoded.op != owned->op) {
    std::string why =
        "the reply is a " + decoded.op->name + " reply, the call was " + owned->op->name;
    if (owned->is_app()) owned->call->written = true;  // the host answered something
    ep_.record_failure(why, owned->probe, steady::now(), failure_kind::answer);
    owned->probe = false;
    if (!owned->is_app()) {
      session_.failed(std::move(owned), why);
      return;
    }
    end_attempt(std::move(owned), make_error_result(call_code::upstream_protocol_error, why));
    return;
  }
  if (!owned->is_app()) {
    session_.replied(std::move(owned), reply_);
    return;
  }
  owned->call->written = true;  // the host answered it
  if (ep_.record_success(owned->probe)) shared_->breaker_closed(ep_);
  owned->probe = false;
  call_result r = reply_result(*owned->op, reply_);
  end_attempt(std::move(owned), std::move(r), false, &reply_);
}

bool upstream_connection::deliver_unmatched(const codecs::operation& as,
                                            codecs::byte_view payload) {
  auto again = codecs::decode_payload(profile(), payload, reply_,
                                      codecs::decode_preference::requests_first, &as);
  if (!again || again->is_reply) return false;
  ++counters().unsolicited;
  inbound_message(as, payload);
  return true;
}

void upstream_connection::unmatched(std::string key, const std::string& op) {
  std::uint64_t n = ++counters().unmatched;
  std::replace(key.begin(), key.end(), '\x1f', '/');
  if (n <= 100 || n % 1000 == 0)
    log::warn("unmatched_reply",
              {{"endpoint", ep_.name()}, {"operation", op}, {"key", key}, {"unmatched_total", n}});
}

// A frame from the host that matches no call and no session operation: counted, logged with why
// and a masked excerpt, and answered with the profile's negative reply when it gives one.
bool upstream_connection::unrecognised_frame(codecs::byte_view payload, const std::string& why) {
  const std::uint64_t n = ++counters().unmatched_frames;
  const codecs::operation* op =
      codecs::answer_unrecognised(profile(), payload, reply_, unrecognised_answer_);
  if (n <= 100 || n % 1000 == 0)
    log::warn("unrecognised_frame",
              {{"endpoint", ep_.name()},
               {"reason", why},
               {"bytes", payload.size()},
               {"excerpt", codecs::masked_excerpt(payload)},
               {"answered_with", op ? boost::json::value(op->name) : boost::json::value(nullptr)},
               {"unmatched_frames_total", n}});
  if (!op) return false;
  send_answer(*op, unrecognised_answer_);
  return true;
}

}  // namespace dragoman::bridge
