// Correlation keys and the counters that generate them.
#include "codecs/correlation_key.hpp"

#include <charconv>

namespace dragoman::codecs {

counter_bank::counter_bank(const profile& p)
    : size_(p.counter_count ? p.counter_count : 1),
      counters_(new std::atomic<std::uint64_t>[size_]) {
  for (std::size_t i = 0; i < size_; ++i) counters_[i].store(0, std::memory_order_relaxed);
}

std::uint64_t counter_bank::next(const field_spec& field) noexcept {
  const std::size_t slot = field.generator_slot < size_ ? field.generator_slot : 0;
  const std::uint64_t n = counters_[slot].fetch_add(1, std::memory_order_relaxed);
  // A wrap below the start would make the span wrap around to a huge (or zero) modulus.
  const std::uint64_t span =
      field.counter_wrap >= field.counter_start ? field.counter_wrap - field.counter_start + 1 : 1;
  return field.counter_start + n % span;
}

void counter_bank::copy_from(const counter_bank& other) noexcept {
  for (std::size_t i = 0; i < size_ && i < other.size_; ++i)
    counters_[i].store(other.counters_[i].load(std::memory_order_relaxed),
                       std::memory_order_relaxed);
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
