// The session's sequence recovery (session.sequence: possible_duplicate, resend_request,
// sequence_reset, too_low): every message the peer sends is checked against the number due; a gap
// asks for the missing messages again, the peer's resent copies and sequence resets close it, a
// duplicate is not handled twice, the peer's own resend request is answered with a gap fill, and a
// number too low ends the session with the profile's last word. Generic: FIX's ResendRequest,
// SequenceReset and PossDupFlag are named by profiles/fix44.json, not here.
#include "bridge/correlation.hpp"
#include "bridge/log.hpp"
#include "bridge/upstream_session.hpp"
#include "codecs/pipeline.hpp"

#include <charconv>

namespace dragoman::bridge {

namespace {

// A sequence number field's value; 0 when absent or not a whole number of at least 1.
std::uint64_t number_in(const codecs::message_def& msg, const codecs::record& rec,
                        const std::string& name) {
  auto idx = msg.index_of(name);
  if (!idx || !rec.has(*idx)) return 0;
  const std::string_view text = rec.get(*idx);
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return 0;
  return n;
}

bool holds(const codecs::message_def& msg, const codecs::record& rec, const std::string& name,
           const std::string& value) {
  if (name.empty()) return false;
  auto idx = msg.index_of(name);
  return idx && rec.has(*idx) && rec.get(*idx) == value;
}

}  // namespace

bool upstream_session::build(std::size_t op_index) {
  const auto& op = bundle_->profile->operations[op_index];
  call_generation_context gen(bundle_->bank, nullptr);
  static const boost::json::object no_fields;
  if (auto mapped = codecs::map_request(op.request, no_fields, gen, built_); !mapped) {
    log::error(
        "session_message_invalid",
        {{"endpoint", endpoint_}, {"operation", op.name}, {"error", mapped.error().to_string()}});
    return false;
  }
  return true;
}

upstream_session::incoming_verdict upstream_session::incoming(const codecs::decoded_message& d,
                                                              const codecs::record& rec,
                                                              session_sequence& seq) {
  const auto& q = spec().sequence;
  if (!d.msg || !d.msg->sequence_field || !rec.has(*d.msg->sequence_field))
    return incoming_verdict::handle;
  const std::uint64_t n = number_in(*d.msg, rec, q.field);
  if (n == 0) {
    log::warn("sequence_invalid", {{"endpoint", endpoint_},
                                   {"connection", id_},
                                   {"operation", d.op->name},
                                   {"value", std::string(rec.get(*d.msg->sequence_field))}});
    return incoming_verdict::handle;
  }
  const bool duplicate = holds(*d.msg, rec, q.possible_duplicate_field, q.possible_duplicate_value);
  if (q.reset_op && d.op->index == *q.reset_op) return sequence_reset(d, rec, n, duplicate, seq);
  const auto r = seq.received(n, duplicate);
  auto verdict = after_check(d, n, r, false);
  if (verdict == incoming_verdict::handle && q.resend_op && d.op->index == *q.resend_op) {
    answer_resend(d, rec, seq);
    return incoming_verdict::taken;
  }
  return verdict;
}

// The peer's sequence reset: a gap fill (in order, it moves the number due) or a reset (the
// number due becomes its new number whatever its own).
upstream_session::incoming_verdict upstream_session::sequence_reset(
    const codecs::decoded_message& d, const codecs::record& rec, std::uint64_t n, bool duplicate,
    session_sequence& seq) {
  const auto& q = spec().sequence;
  const std::uint64_t new_number = number_in(*d.msg, rec, q.reset_new_number);
  const bool gap_fill = holds(*d.msg, rec, q.gap_fill_field, q.gap_fill_value);
  if (new_number == 0) {
    log::warn("sequence_reset_invalid", {{"endpoint", endpoint_},
                                         {"connection", id_},
                                         {"received", n},
                                         {"why", "no " + q.reset_new_number}});
    return incoming_verdict::taken;
  }
  if (!gap_fill) {
    const std::uint64_t expected = seq.next_in();
    const bool moved = seq.reset_in(new_number);
    boost::json::object line{{"endpoint", endpoint_},
                             {"connection", id_},
                             {"expected", expected},
                             {"new_number", new_number},
                             {"applied", moved}};
    if (moved)
      log::warn("sequence_reset", line);
    else
      log::error("sequence_reset", line);
    return incoming_verdict::taken;
  }
  const auto r = seq.gap_fill(n, new_number, duplicate);
  if (r.what == session_sequence::check::in_order)
    log::info("sequence_gap_fill", {{"endpoint", endpoint_},
                                    {"connection", id_},
                                    {"received", n},
                                    {"new_number", new_number},
                                    {"next_in", seq.next_in()}});
  const auto verdict = after_check(d, n, r, true);
  return verdict == incoming_verdict::broken ? verdict : incoming_verdict::taken;
}

// What the check of number n found: logged, a resend asked for, or the session ended.
upstream_session::incoming_verdict upstream_session::after_check(
    const codecs::decoded_message& d, std::uint64_t n, const session_sequence::received_result& r,
    bool consumed) {
  const auto& q = spec().sequence;
  using check = session_sequence::check;
  switch (r.what) {
    case check::in_order:
      return incoming_verdict::handle;
    case check::duplicate:
      log::info("sequence_duplicate", {{"endpoint", endpoint_},
                                       {"connection", id_},
                                       {"operation", d.op->name},
                                       {"expected", r.expected},
                                       {"received", n}});
      return incoming_verdict::taken;
    case check::gap:
      log::warn("sequence_gap", {{"endpoint", endpoint_},
                                 {"connection", id_},
                                 {"operation", d.op->name},
                                 {"expected", r.expected},
                                 {"received", n},
                                 {"resend_requested", r.resend && q.resend_op.has_value()}});
      if (r.resend && q.resend_op) ask_resend(r.expected);
      return consumed ? incoming_verdict::taken : incoming_verdict::handle;
    case check::too_low:
      break;
  }
  const std::string why = "sequence number too low, expecting " + std::to_string(r.expected) +
                          " but received " + std::to_string(n);
  log::error("sequence_too_low", {{"endpoint", endpoint_},
                                  {"connection", id_},
                                  {"operation", d.op->name},
                                  {"expected", r.expected},
                                  {"received", n},
                                  {"closing", q.too_low_op.has_value()}});
  if (!q.too_low_op) return incoming_verdict::handle;
  if (build(*q.too_low_op)) {
    const auto& op = bundle_->profile->operations[*q.too_low_op];
    if (!q.too_low_text.empty()) built_.set(*op.request.index_of(q.too_low_text), why);
    host_.send_request(op, built_, 0);
  }
  host_.on_session({session_event::sequence_broken, why, {}});
  return incoming_verdict::broken;
}

// Asks the peer for every message from begin on.
void upstream_session::ask_resend(std::uint64_t begin) {
  const auto& q = spec().sequence;
  if (!build(*q.resend_op)) return;
  const auto& op = bundle_->profile->operations[*q.resend_op];
  built_.set(*op.request.index_of(q.resend_begin), std::to_string(begin));
  built_.set(*op.request.index_of(q.resend_end), q.resend_end_value);
  log::info("resend_requested",
            {{"endpoint", endpoint_}, {"connection", id_}, {"begin", begin}, {"end", "all"}});
  host_.send_request(op, built_, 0);
}

// The peer asks for our messages from its begin on: one gap fill, numbered begin, moves it to our
// next number (nothing is sent again: session messages are not worth it, and business messages
// would be stale).
void upstream_session::answer_resend(const codecs::decoded_message& d, const codecs::record& rec,
                                     const session_sequence& seq) {
  const auto& q = spec().sequence;
  const std::uint64_t begin = number_in(*d.msg, rec, q.resend_begin);
  const std::uint64_t next = seq.next_out();
  if (begin == 0 || begin >= next) {
    log::warn("resend_request_unanswered",
              {{"endpoint", endpoint_},
               {"connection", id_},
               {"begin", begin},
               {"next_out", next},
               {"why", begin == 0 ? "no " + q.resend_begin + " in it"
                                  : std::string("it asks for messages not sent yet")}});
    return;
  }
  if (!build(*q.reset_op)) return;
  const auto& op = bundle_->profile->operations[*q.reset_op];
  built_.set(*op.request.index_of(q.reset_new_number), std::to_string(next));
  built_.set(*op.request.index_of(q.gap_fill_field), q.gap_fill_value);
  if (op.request.possible_duplicate_field)
    built_.set(*op.request.possible_duplicate_field, q.possible_duplicate_value);
  log::info("gap_fill_sent",
            {{"endpoint", endpoint_}, {"connection", id_}, {"begin", begin}, {"new_number", next}});
  host_.send_request(op, built_, begin);
}

}  // namespace dragoman::bridge
