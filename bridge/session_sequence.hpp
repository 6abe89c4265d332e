// Session sequence numbers of one upstream connection (session.sequence): the number the next
// message written carries, the number the peer's next message should carry, and the small state
// file that keeps both across restarts (written whole to a temporary file, fsync'ed, renamed).
// No Asio, no clock: the connection calls it where it writes and reads.
#pragma once

#include <cstdint>
#include <optional>
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

  enum class check { in_order, gap, too_low };
  struct received_result {
    check what = check::in_order;
    std::uint64_t expected = 0;  // the number that was due
  };
  // The peer's message carried n: in order (the next one is due now), a gap (numbers missing
  // before it: the next expected is n + 1, the missing ones are expected..n-1) or too low (a
  // number already seen; nothing changes).
  received_result received(std::uint64_t n) noexcept;

  // A new session (a sign-on with the reset flag): both numbers back to 1.
  void reset() noexcept {
    next_out_ = 1;
    next_in_ = 1;
    dirty_ = true;
  }

 private:
  std::string path_;
  std::uint64_t next_out_ = 1;
  std::uint64_t next_in_ = 1;
  bool dirty_ = false;
};

}  // namespace dragoman::bridge
