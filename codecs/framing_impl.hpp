// Internal to the framing stage: result builders, limits and per-type factories shared by the
// framing_*.cpp files. Not part of the codecs interface; include codecs/framing.hpp instead.
#pragma once

#include "codecs/framing.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace dragoman::codecs::framing_detail {

// Netty keeps frame lengths in an int; so do we, which also keeps every length sum in int64 exact.
inline constexpr std::int64_t max_frame_length_limit = 2147483647;

inline frame_result need_more() {
  return frame_result{};
}

inline frame_result frame_of(byte_view input, std::size_t begin, std::size_t end,
                             std::size_t consumed) {
  frame_result r;
  r.status = frame_status::frame;
  r.consumed = consumed;
  r.payload = input.subspan(begin, end - begin);
  return r;
}

// A skip with an empty message continues a discard that an earlier skip already reported (an
// oversized frame or a garbage run spanning several reads): drivers count and log only skips
// that carry a message.
inline frame_result skip(std::size_t consumed, errc reason, std::string message) {
  frame_result r;
  r.status = frame_status::skip;
  r.consumed = consumed;
  r.reason = reason;
  r.message = std::move(message);
  return r;
}

inline frame_result fatal(errc reason, std::string message) {
  frame_result r;
  r.status = frame_status::fatal;
  r.reason = reason;
  r.message = std::move(message);
  return r;
}

// "frame of 5000 bytes exceeds max_frame_length 4096"
std::string too_long_message(std::uint64_t frame_length, std::size_t max_frame_length);
// "0x1c"
std::string byte_name(byte b);
// A byte sequence for describe(): a JSON string when it is plain ASCII, else an array of bytes,
// both of which config_object::get_bytes reads back.
boost::json::value bytes_to_json(std::string_view bytes);
// The index of the first occurrence of b in input at or after from, or input.size().
std::size_t find_byte(byte_view input, std::size_t from, byte b) noexcept;
// The encoder's error for a payload the framing cannot carry.
codec_error encode_error(errc code, std::string message);

// Factories per framing type. Each reads its keys from cfg (which make_framer finishes) and
// returns null when any of them was wrong; the reasons are in cfg.diag().
std::unique_ptr<framer> make_length_prefix_framer(config_object& cfg);
std::unique_ptr<framer> make_delimiter_framer(config_object& cfg);
std::unique_ptr<framer> make_mllp_framer(config_object& cfg);
std::unique_ptr<framer> make_stx_etx_framer(config_object& cfg);
std::unique_ptr<framer> make_fixed_size_framer(config_object& cfg);
std::unique_ptr<framer> make_line_blocks_framer(config_object& cfg);

}  // namespace dragoman::codecs::framing_detail
