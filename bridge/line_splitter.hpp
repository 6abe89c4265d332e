// The line door's splitter: newline-delimited input cut into lines, callable on bytes alone (by the
// door, its unit test and a fuzz target).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dragoman::bridge {

// Cuts input into lines without copying them: a line is a view into the splitter's buffer, valid
// until the next append(), finish() or compact(). "\n" and "\r\n" both end a line; blank lines
// (only spaces, tabs, '\r') are skipped. A line longer than max_line is reported once as too long
// and the rest of it, whenever it comes, is skipped.
class line_splitter {
 public:
  enum class kind { line, too_long, need_more };
  struct piece {
    kind what = kind::need_more;
    std::string_view line;  // when what is kind::line
  };

  explicit line_splitter(std::size_t max_line) : max_line_(max_line) {}

  void append(std::string_view bytes) { in_.append(bytes.data(), bytes.size()); }
  // At the end of the stream: a last line without its newline still counts (`printf '{…}' | nc`
  // is a fair client).
  void finish() {
    if (!discarding_ && in_.size() > start_) in_.push_back('\n');
  }
  // The next line, a line that was too long, or need_more when no whole line is buffered.
  piece next();
  // Drops the lines taken, and gives the memory back once the buffer is empty after a burst or a
  // long line. Call it after taking lines, before waiting for more bytes.
  void compact();

  std::size_t buffered() const noexcept { return in_.size() - start_; }
  std::size_t capacity() const noexcept { return in_.capacity(); }

 private:
  std::string in_;           // received bytes; lines are taken from start_
  std::size_t start_ = 0;    // first byte not yet taken
  std::size_t scan_ = 0;     // bytes before this were searched for '\n' already
  bool discarding_ = false;  // skipping the rest of an over-long line
  std::size_t max_line_;
};

}  // namespace dragoman::bridge
