// One upstream connection, its session sequence numbers (session.sequence): each frame written
// carries the next outgoing number, stamped as it is encoded for writing; the peer's numbers are
// checked as frames are read; both are saved in the state file before a batch is written.
#include "bridge/log.hpp"
#include "bridge/upstream_connection.hpp"
#include "codecs/pipeline.hpp"

#include <charconv>

namespace dragoman::bridge {

// The state file of this connection: the profile's state_file for the pool's first connection,
// with ".<connection id>" appended for the others.
std::optional<std::string> upstream_connection::open_sequence() {
  if (!sequenced() || seq_) return std::nullopt;
  std::string path = options().session_state.empty() ? profile().session.sequence.state_file
                                                     : options().session_state;
  if (!path.empty() && gauge_.id() != 1) path += "." + std::to_string(gauge_.id());
  seq_.emplace(path);
  if (auto err = seq_->load()) {
    seq_.reset();
    return err;
  }
  seq_committed_ = seq_->next_out();
  log::info("session_sequence", {{"endpoint", ep_.name()},
                                 {"connection", gauge_.id()},
                                 {"next_out", seq_->next_out()},
                                 {"next_in", seq_->next_in()},
                                 {"state_file", path}});
  return std::nullopt;
}

std::uint64_t upstream_connection::stamp(const codecs::message_def& msg, codecs::record& rec,
                                         std::uint64_t keep) {
  if (!seq_ || !msg.sequence_field) return 0;
  const std::uint64_t n = keep ? keep : seq_->take_out();
  rec.set(*msg.sequence_field, std::to_string(n));
  if (msg.reset_field) rec.set(*msg.reset_field, profile().session.sequence.reset_value);
  if (!msg.stamp_time_fields.empty()) {
    const auto now = std::chrono::system_clock::now();
    for (std::size_t idx : msg.stamp_time_fields) {
      rec.slot(idx).clear();
      codecs::format_timestamp(rec.slot(idx), msg.fields[idx], now);
      rec.set_present(idx);
    }
  }
  return keep ? 0 : n;
}

upstream_session::incoming_verdict upstream_connection::check_sequence(
    const codecs::decoded_message& d, const codecs::record& rec) {
  if (!seq_) return upstream_session::incoming_verdict::handle;
  return session_.incoming(d, rec, *seq_);
}

// A session message nothing answers (a resend request, a gap fill, the last word).
void upstream_connection::send_request(const codecs::operation& op, const codecs::record& request,
                                       std::uint64_t number) {
  if (!writable()) return;
  if (write_message(op, op.request, request, number)) start_write();
}

bool upstream_connection::write_message(const codecs::operation& op, const codecs::message_def& msg,
                                        const codecs::record& rec, std::uint64_t keep_number) {
  const std::size_t before = out_pending_.size();
  const codecs::record* r = &rec;
  std::uint64_t seq = 0;
  if (seq_ && msg.sequence_field) {
    stamped_answer_ = rec;
    seq = stamp(msg, stamped_answer_, keep_number);
    r = &stamped_answer_;
  }
  auto encoded = codecs::encode_message(profile(), msg, *r, payload_, out_pending_);
  if (!encoded) {
    if (seq) seq_->give_back_to(seq);
    out_pending_.resize(before);
    log::warn(
        "session_message_unsendable",
        {{"endpoint", ep_.name()}, {"operation", op.name}, {"error", encoded.error().to_string()}});
    return false;
  }
  answer_bytes_pending_ += out_pending_.size() - before;
  return true;
}

void upstream_connection::save_sequence() {
  if (!seq_) return;
  if (auto err = seq_->save()) {
    if (!seq_save_failed_)
      log::error("session_state_unwritable",
                 {{"endpoint", ep_.name()}, {"connection", gauge_.id()}, {"error", *err}});
    seq_save_failed_ = true;
    return;
  }
  seq_save_failed_ = false;
}

}  // namespace dragoman::bridge
