// The token bucket as the generic cell rate algorithm (see pacer.hpp).
#include "bridge/pacer.hpp"

#include <algorithm>
#include <cmath>

namespace dragoman::bridge {

namespace {

std::chrono::nanoseconds interval_of(double rate) {
  const double ns = 1e9 / rate;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::ceil(ns)));
}

}  // namespace

pacer::pacer(double rate, std::uint32_t burst, std::size_t max_waiting)
    : rate_(rate),
      burst_(std::max<std::uint32_t>(1, burst)),
      max_waiting_(max_waiting),
      interval_(interval_of(rate)),
      tolerance_(interval_ * (burst_ - 1)) {}

pacer::turn pacer::admit(time_point now, time_point deadline) {
  std::lock_guard lock(m_);
  const time_point tat = std::max(tat_, now);
  const time_point at = tat - tolerance_;
  if (at <= now) {
    tat_ = tat + interval_;
    return {verdict::go, now};
  }
  if (waiting_ >= max_waiting_) return {verdict::full, at};
  if (at >= deadline) return {verdict::too_late, at};
  tat_ = tat + interval_;
  ++waiting_;
  return {verdict::wait, at};
}

void pacer::turn_came() {
  std::lock_guard lock(m_);
  if (waiting_ > 0) --waiting_;
}

std::size_t pacer::waiting() const {
  std::lock_guard lock(m_);
  return waiting_;
}

}  // namespace dragoman::bridge
