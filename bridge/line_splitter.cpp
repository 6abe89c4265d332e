// The line door's splitter: cuts buffered input into lines, skipping blank and over-long ones.
#include "bridge/line_splitter.hpp"

namespace dragoman::bridge {

namespace {

// Consumed bytes at the front of the input are dropped once they exceed this (or all is consumed),
// so a burst of small lines costs one memmove, not one per line.
constexpr std::size_t compact_threshold = 65536;
// Input buffers larger than this are released when they empty (idle connections stay small).
constexpr std::size_t idle_buffer_keep = 4096;

bool blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

}  // namespace

line_splitter::piece line_splitter::next() {
  for (;;) {
    if (discarding_) {
      auto nl = in_.find('\n', start_);
      if (nl == std::string::npos) {
        in_.clear();
        start_ = scan_ = 0;
        return {};
      }
      start_ = scan_ = nl + 1;
      discarding_ = false;
      continue;
    }
    auto nl = in_.find('\n', scan_);
    if (nl == std::string::npos) {
      // A '\r' at the end may begin the "\r\n" that ends the line: it counts once a byte other
      // than '\n' follows it, as it does when the line comes whole.
      std::size_t pending = in_.size() - start_;
      if (pending != 0 && in_.back() == '\r') --pending;
      if (pending > max_line_) {
        discarding_ = true;  // the rest of this line, whenever it comes
        in_.clear();
        start_ = scan_ = 0;
        return {kind::too_long, {}};
      }
      scan_ = in_.size();
      return {};
    }
    std::string_view line(in_.data() + start_, nl - start_);
    start_ = scan_ = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_line_) return {kind::too_long, {}};
    if (!blank(line)) return {kind::line, line};
  }
}

void line_splitter::compact() {
  if (start_ == in_.size() || start_ >= compact_threshold) {
    in_.erase(0, start_);
    scan_ -= start_;
    start_ = 0;
  }
  if (in_.empty() && in_.capacity() > idle_buffer_keep) std::string().swap(in_);
}

}  // namespace dragoman::bridge
