// Framing stage: how messages are delimited on a byte stream (length prefix, delimiter, MLLP,
// STX/ETX, fixed size, line blocks). Encoders are immutable; decoders hold per-connection state.
#pragma once

#include "codecs/bytes.hpp"
#include "codecs/config.hpp"
#include "codecs/result.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace dragoman::codecs {

enum class frame_status {
  frame,      // payload holds one whole message; drop `consumed` bytes from the input
  need_more,  // too few bytes; nothing consumed, call again with more input
  skip,   // bytes were discarded to resynchronise (oversized or corrupt frame); message says why
  fatal,  // the stream cannot be resynchronised; close the connection
};

struct frame_result {
  frame_status status = frame_status::need_more;
  std::size_t consumed = 0;  // always <= input size
  byte_view payload;         // for frame: the message without framing bytes, pointing into input
  errc reason = errc::malformed;  // for skip and fatal
  std::string message;            // for skip and fatal, names the limit or the bad byte
};

// Per-connection decoder. Never consumes a partial frame: with too few bytes it returns need_more
// and consumes nothing (except while discarding an oversized frame, which is reported as skip).
// The caller passes back the unconsumed bytes with new data appended (decoders remember how far
// they searched, so a peer trickling bytes costs linear time). When one discard spans several
// calls, only the first skip carries a message: count and log only skips with a message.
class frame_decoder {
 public:
  virtual ~frame_decoder() = default;
  virtual frame_result decode(byte_view input) = 0;
};

class framer {
 public:
  virtual ~framer() = default;
  // Appends the framed payload to out.
  virtual result<void> encode(byte_view payload, byte_buffer& out) const = 0;
  virtual std::unique_ptr<frame_decoder> make_decoder() const = 0;
  virtual std::size_t max_frame_length() const noexcept = 0;
  // The effective configuration, for admin output and `check`.
  virtual boost::json::object describe() const = 0;
};

// Builds a framer from the profile's "framing" object; on mistakes records them and returns null.
std::unique_ptr<framer> make_framer(config_object& cfg);

}  // namespace dragoman::codecs
