// The one frame driver: buffer bookkeeping, the progress guard and sticky fatal ends.
#include "codecs/frame_reader.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

namespace dragoman::codecs {

frame_reader::frame_reader(std::unique_ptr<frame_decoder> decoder, std::size_t capacity) {
  reset(std::move(decoder), capacity);
}

void frame_reader::reset(std::unique_ptr<frame_decoder> decoder, std::size_t capacity) {
  decoder_ = std::move(decoder);
  if (buffer_.size() < capacity) buffer_.resize(capacity);
  begin_ = end_ = 0;
  failed_ = false;
  fatal_message_.clear();
}

// Moving the unconsumed tail to the front only happens here (from prepare, append and reset), so a
// payload next() returned stays valid until then. Each byte moves at most about twice: once when
// the frames before it are consumed, then it waits at the front until its own frame is complete.
void frame_reader::compact() noexcept {
  if (begin_ == 0) return;
  const std::size_t n = buffered();
  if (n > 0) std::memmove(buffer_.data(), buffer_.data() + begin_, n);
  begin_ = 0;
  end_ = n;
}

std::span<byte> frame_reader::prepare() {
  compact();
  return std::span<byte>(buffer_).subspan(end_);
}

void frame_reader::commit(std::size_t n) {
  assert(n <= buffer_.size() - end_);
  end_ += std::min(n, buffer_.size() - end_);
}

bool frame_reader::append(byte_view bytes) {
  if (bytes.size() > capacity() - buffered()) return false;
  compact();
  if (!bytes.empty()) std::memcpy(buffer_.data() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
  return true;
}

frame_reader::event frame_reader::next() {
  event e;
  if (failed_) {
    e.kind = event_kind::fatal;
    e.reason = fatal_reason_;
    e.message = fatal_message_;
    return e;
  }
  if (!decoder_ || begin_ == end_) return e;

  const byte_view input(buffer_.data() + begin_, end_ - begin_);
  frame_result r = decoder_->decode(input);
  const bool consuming = r.status == frame_status::frame || r.status == frame_status::skip;
  if (consuming && (r.consumed == 0 || r.consumed > input.size())) {
    // A decoder that consumes nothing would be called again forever (Netty: "did not read
    // anything but decoded a message").
    r.status = frame_status::fatal;
    r.reason = errc::malformed;
    r.message = "no progress";
  }
  switch (r.status) {
    case frame_status::need_more:
      return e;
    case frame_status::frame:
      e.kind = event_kind::frame;
      e.payload = r.payload;
      begin_ += r.consumed;
      break;
    case frame_status::skip:
      e.kind = event_kind::skip;
      e.reason = r.reason;
      e.message = std::move(r.message);
      begin_ += r.consumed;
      break;
    case frame_status::fatal:
      failed_ = true;
      fatal_reason_ = r.reason;
      fatal_message_ = r.message;
      e.kind = event_kind::fatal;
      e.reason = r.reason;
      e.message = std::move(r.message);
      break;
  }
  if (begin_ == end_) begin_ = end_ = 0;
  return e;
}

}  // namespace dragoman::codecs
