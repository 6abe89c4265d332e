// Session sequence numbers of one upstream connection (session.sequence): the number the next
// message written carries, the number the peer's next message should carry, and the small state
// file that keeps both across restarts (written whole to a temporary file, fsync'ed, renamed).
// No Asio, no clock: the connection calls it where it writes and reads.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace dragoman::bridge {

class session_sequence {
 public:
  // path empty: numbers kept in memory only (they restart at 1 with the process).
  explicit session_sequence(std::string path = {}) : path_(std::move(path)) {}

  const std::string& path() const noexcept { return path_; }
  // Reads the state file; a missing file is a fresh session (1 and 1). Error text on a file
  // that exists and cannot be read or parsed (the numbers are left as they were).
  std::optional<std::string> load();
  // Writes the numbers when they changed since the last save; error text when it fails.
  std::optional<std::string> save();

  // The number for the next message written, then one more.
  std::uint64_t take_out() noexcept {
    dirty_ = true;
    return next_out_++;
  }
  std::uint64_t next_out() const noexcept { return next_out_; }
  std::uint64_t next_in() const noexcept { return next_in_; }

  // Numbers taken for frames that never reached the socket are given back: the next message
  // carries `next` again (the peer never saw the ones after it).
  void give_back_to(std::uint64_t next) noexcept {
    if (next < next_out_) {
      next_out_ = next;
      dirty_ = true;
    }
  }

  enum class check { in_order, gap, too_low, duplicate };
  struct received_result {
    check what = check::in_order;
    std::uint64_t expected = 0;  // the number that was due
    bool resend = false;         // a gap: ask the peer to send again from `expected` (once)
  };
  // The peer's message carried n (possible_duplicate: it says it may have been sent before):
  //  - in order (n is the number due): the next one is due now, and any numbers already taken
  //    ahead of it are passed over;
  //  - a gap (n is higher): the message is taken and n remembered, the number due stays where it
  //    is until the missing ones come (resend is set for the first gap of a recovery);
  //  - a duplicate: n was taken already (below the number due with the possible-duplicate flag,
  //    or taken ahead during a recovery): not to be handled again;
  //  - too low: below the number due without the flag (nothing changes; the session is broken).
  received_result received(std::uint64_t n, bool possible_duplicate = false) noexcept;
  // The peer's sequence reset in gap-fill mode carried n and fills up to new_number: like
  // received(), and when in order the number due becomes new_number (a fill that does not move
  // forward changes nothing). A gap-fill that is itself ahead is not applied (the resend brings
  // it again): gap.
  received_result gap_fill(std::uint64_t n, std::uint64_t new_number,
                           bool possible_duplicate = false) noexcept;
  // The peer's sequence reset without gap fill: the number due becomes new_number whatever the
  // message's own number; false (nothing changes) when new_number is lower than the number due.
  bool reset_in(std::uint64_t new_number) noexcept;
  // Numbers taken ahead of the number due (a recovery in progress), at most max_ahead.
  std::size_t ahead() const noexcept { return ahead_.size(); }
  bool recovering() const noexcept { return resend_asked_; }
  // A new connection: nothing is ahead, no resend is awaited (the peer's first message asks again).
  void new_connection() noexcept {
    ahead_.clear();
    resend_asked_ = false;
  }
  static constexpr std::size_t max_ahead = 10000;

  // A new session (a sign-on with the reset flag): both numbers back to 1.
  void reset() noexcept {
    next_out_ = 1;
    next_in_ = 1;
    new_connection();
    dirty_ = true;
  }

 private:
  std::string path_;
  std::uint64_t next_out_ = 1;
  std::uint64_t next_in_ = 1;
  bool dirty_ = false;
  std::set<std::uint64_t> ahead_;  // numbers above next_in_ already taken (bounded)
  bool resend_asked_ = false;      // a resend was asked and the gap is not closed yet

  // next_in_ moved: numbers taken ahead are passed over; a closed gap ends the recovery.
  void catch_up() noexcept;
};

}  // namespace dragoman::bridge
