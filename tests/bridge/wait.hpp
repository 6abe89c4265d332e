// The one bounded wait of the loopback tests (engine_test, resilience_test): wait for an event
// to be observable, never for a length of time, and never assert on how long it took.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>

namespace dragoman::test {

// Generous: the tests share a loaded 2-core machine. Reaching a limit means the event did not
// happen, not that something was slow.
inline constexpr std::chrono::milliseconds default_wait_limit{10000};

// Checks pred until it holds or limit passes; true when it held. For what only another thread
// can change and nobody announces (a counter, a gauge, a stats value, a breaker's cool-down in
// real time). Between checks it waits on a condition variable with a timeout (nobody notifies
// it): the pause only spaces the checks, the answer is always pred's.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = default_wait_limit) {
  constexpr std::chrono::milliseconds between_checks{5};
  const auto until = std::chrono::steady_clock::now() + limit;
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock lock(m);
  while (!pred()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return pred();
    cv.wait_until(lock, std::min(now + between_checks, until));
  }
  return true;
}

// A future's value has arrived within limit.
template <class T>
bool arrives(const std::future<T>& f, std::chrono::milliseconds limit = default_wait_limit) {
  return f.wait_for(limit) == std::future_status::ready;
}

}  // namespace dragoman::test
