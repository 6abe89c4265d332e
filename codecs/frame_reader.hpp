// The one frame driver: a connection's input buffer and frame_decoder, with the progress guard
// (Netty's ByteToMessageDecoder.callDecode). Pure: the caller reads the socket into prepare().
#pragma once

#include "codecs/bytes.hpp"
#include "codecs/framing.hpp"
#include "codecs/result.hpp"

#include <cstddef>
#include <memory>
#include <span>
#include <string>

namespace dragoman::codecs {

// Drives one connection's frame_decoder over its input buffer (bounded by capacity).
//
//   for (;;) {
//     auto space = reader.prepare();        // empty: a frame does not fit; close
//     std::size_t n = read_some(space);
//     reader.commit(n);
//     for (auto e = reader.next(); e.kind != event_kind::need_more; e = reader.next()) ...
//   }
class frame_reader {
 public:
  enum class event_kind { frame, need_more, skip, fatal };
  struct event {
    event_kind kind = event_kind::need_more;
    byte_view payload;              // frame: valid until the next prepare(), append() or reset()
    errc reason = errc::malformed;  // skip (with a message) and fatal
    std::string message;            // skip: only the first skip of one discard has one; fatal: why
                                    // ("no progress" when a decoder returned frame/skip consuming 0
                                    //  bytes or more than it was given)
  };

  frame_reader() = default;
  frame_reader(std::unique_ptr<frame_decoder> decoder, std::size_t capacity);

  // A new stream (a new connection): new decoder, empty buffer, capacity at least `capacity`
  // (the buffer never shrinks, so a reconnect allocates nothing).
  void reset(std::unique_ptr<frame_decoder> decoder, std::size_t capacity);
  // Free space after the buffered bytes, compacting first; empty when the buffer is full.
  std::span<byte> prepare();
  // n bytes were written into prepare()'s span.
  void commit(std::size_t n);
  // Copies; false (nothing copied) when over capacity.
  bool append(byte_view bytes);
  // Consumes what it reports (frame or skip). Never calls the decoder on an empty buffer. After a
  // fatal event every call returns it again, until reset().
  event next();

  std::size_t buffered() const noexcept { return end_ - begin_; }
  std::size_t capacity() const noexcept { return buffer_.size(); }
  // buffered() == capacity: a frame that cannot fit.
  bool full() const noexcept { return buffered() == capacity(); }
  bool has_decoder() const noexcept { return decoder_ != nullptr; }

 private:
  void compact() noexcept;

  std::unique_ptr<frame_decoder> decoder_;
  byte_buffer buffer_;  // its size is the capacity
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool failed_ = false;
  errc fatal_reason_ = errc::malformed;
  std::string fatal_message_;
};

}  // namespace dragoman::codecs
