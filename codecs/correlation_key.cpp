// Correlation keys and the counters that generate them.
#include "codecs/correlation_key.hpp"

#include <algorithm>
#include <charconv>
#include <random>

namespace dragoman::codecs {

namespace {

// From this width on, a clock counter writes the clock in 9 digits and a lane in the rest.
constexpr std::uint32_t wide_width = 10;
constexpr std::uint64_t clock_modulus = 1000000000;  // hundredths of a second: 115 days
constexpr std::uint64_t ms_per_day = 86400000;

bool wide_clock(const field_spec& f) noexcept {
  return f.origin == counter_origin::clock && f.counter_width >= wide_width;
}

std::uint64_t lanes_of(const field_spec& f) noexcept {
  std::uint64_t lanes = 1;
  for (std::uint32_t i = 9; i < f.counter_width; ++i) lanes *= 10;
  return lanes;
}

}  // namespace

std::uint64_t counter_span(const field_spec& f) {
  if (wide_clock(f)) return clock_modulus;
  // A wrap below the start would make the span wrap around to a huge (or zero) modulus.
  return f.counter_wrap >= f.counter_start ? f.counter_wrap - f.counter_start + 1 : 1;
}

std::uint64_t counter_clock_position(const field_spec& f,
                                     std::chrono::system_clock::time_point now) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  if (ms.count() <= 0) return 0;
  const auto t = static_cast<std::uint64_t>(ms.count());
  if (f.counter_width >= wide_width) return t / 10;
  // Days times the span, plus the time of day scaled to it: exact in 64 bits (span < 10^9).
  const std::uint64_t span = counter_span(f);
  return t / ms_per_day * span + t % ms_per_day * span / ms_per_day;
}

std::uint64_t counter_position_now(const field_spec& f, std::uint64_t next,
                                   std::chrono::system_clock::time_point now) {
  if (f.origin != counter_origin::clock) return next;
  return std::max(next, counter_clock_position(f, now));
}

std::uint64_t counter_value(const field_spec& f, std::uint64_t position, std::uint64_t random) {
  if (wide_clock(f)) {
    const std::uint64_t lanes = lanes_of(f);
    return position % clock_modulus * lanes + random % lanes;
  }
  const std::uint64_t span = counter_span(f);
  if (f.origin == counter_origin::random) position = position % span + random % span;
  return f.counter_start + position % span;
}

std::uint64_t draw_counter_random() {
  std::random_device device;
  const std::uint64_t a = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  const auto t =
      static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  return std::mt19937_64(a ^ t)();
}

counter_bank::counter_bank(const profile& p, std::uint64_t random)
    : size_(p.counter_count ? p.counter_count : 1),
      positions_(new std::atomic<std::uint64_t>[size_]),
      random_(new std::uint64_t[size_]) {
  std::mt19937_64 draw(random);
  for (std::size_t i = 0; i < size_; ++i) {
    positions_[i].store(0, std::memory_order_relaxed);
    random_[i] = draw();
  }
}

std::uint64_t counter_bank::next(const field_spec& field,
                                 std::chrono::system_clock::time_point now) {
  const std::size_t slot = field.generator_slot < size_ ? field.generator_slot : 0;
  std::uint64_t next = positions_[slot].load(std::memory_order_relaxed);
  std::uint64_t position = 0;
  do {
    position = counter_position_now(field, next, now);
  } while (!positions_[slot].compare_exchange_weak(next, position + 1, std::memory_order_relaxed));
  return counter_value(field, position, random_[slot]);
}

void counter_bank::copy_from(const counter_bank& other) noexcept {
  for (std::size_t i = 0; i < size_ && i < other.size_; ++i) {
    positions_[i].store(other.positions_[i].load(std::memory_order_relaxed),
                        std::memory_order_relaxed);
    random_[i] = other.random_[i];
  }
}

void format_counter(std::string& out, std::uint64_t value, std::uint32_t width) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, value);
  const auto len = static_cast<std::size_t>(r.ptr - buf);
  if (len < width) out.append(width - len, '0');
  out.append(buf, len);
}

void normalize_key(std::string_view raw, std::string& out) {
  while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.remove_prefix(1);
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
  // A generated counter is "000042" in the request and decodes as "42" from a numeric field.
  bool digits = !raw.empty();
  for (char c : raw)
    if (c < '0' || c > '9') digits = false;
  if (digits) {
    while (raw.size() > 1 && raw.front() == '0') raw.remove_prefix(1);
  }
  out.assign(raw.data(), raw.size());
}

void key_suffix(const message_def& msg, const record& r, std::string& out) {
  out.clear();
  std::string part;
  for (std::size_t i = 1; i < msg.correlation_key_fields.size(); ++i) {
    normalize_key(r.get(msg.correlation_key_fields[i]), part);
    out += '\x1f';
    out += part;
  }
}

void key_of(const message_def& msg, const record& r, std::string& out) {
  if (msg.correlation_key_fields.empty()) {
    if (msg.correlation_field)
      normalize_key(r.get(*msg.correlation_field), out);
    else
      out.clear();
    return;
  }
  normalize_key(r.get(msg.correlation_key_fields.front()), out);
  std::string rest;
  key_suffix(msg, r, rest);
  out += rest;
}

}  // namespace dragoman::codecs
