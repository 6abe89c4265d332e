// Pacing toward a fragile host (the profile's upstream.pacing): a token bucket, rate per second
// with a burst, whose waiting calls take their turns in arrival order. No Asio and no clock: time
// points are passed in, so tests drive it by hand; the pool waits with a timer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace dragoman::bridge {

// The generic cell rate algorithm: each call is given the time of its token when it arrives (the
// theoretical arrival time, less the burst's tolerance), so turns are first come, first served
// and a waiting call needs nothing but a timer. In any window of W seconds at most
// burst + rate × W calls get their tokens.
class pacer {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  // rate: tokens per second (> 0); burst: tokens at once (>= 1); max_waiting: calls that may
  // wait for their turn at once (the queue's bound).
  pacer(double rate, std::uint32_t burst, std::size_t max_waiting);

  enum class verdict {
    go,        // a token now
    wait,      // a token at `at`, reserved: the caller waits, then calls turn_came()
    full,      // max_waiting calls wait already: nothing reserved
    too_late,  // the turn would come after the deadline: nothing reserved
  };
  struct turn {
    verdict v;
    time_point at;  // go: now; wait and too_late: the turn
  };
  turn admit(time_point now, time_point deadline);
  // A call that was told to wait has had its turn (it leaves the queue).
  void turn_came();
  std::size_t waiting() const;
  double rate() const noexcept { return rate_; }
  std::uint32_t burst() const noexcept { return burst_; }
  std::size_t max_waiting() const noexcept { return max_waiting_; }

 private:
  mutable std::mutex m_;
  const double rate_;
  const std::uint32_t burst_;
  const std::size_t max_waiting_;
  const std::chrono::nanoseconds interval_;   // between tokens
  const std::chrono::nanoseconds tolerance_;  // (burst - 1) intervals
  time_point tat_{};                          // the next token's time, ignoring the burst
  std::size_t waiting_ = 0;
};

}  // namespace dragoman::bridge
