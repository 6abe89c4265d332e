// Internal to the framing stage: result builders, limits and per-type factories shared by the
// framing_*.cpp files. Not part of the codecs interface; include codecs/framing.hpp instead.
#pragma once

#include "codecs/framing.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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

// The common front of the decoders of framings that wrap a payload in a start byte and an end byte
// (MLLP, STX/ETX): bytes before the start byte are skipped (reported once per run), and the end
// byte is searched for within max_frame_length, resuming where the previous call stopped. What
// follows the end byte, and discarding an oversized frame, are the framing's own.
class start_end_decoder : public frame_decoder {
 protected:
  struct markers {
    byte start;
    byte end;
    const char* start_name;  // "STX 0x02", in "discarding bytes before STX 0x02 (first byte ..)"
    const char* end_name;    // "ETX 0x03", in "(no ETX 0x03 found); discarding to the next ETX"
    const char* end_short;   // "ETX"
  };

  start_end_decoder(markers m, std::size_t max_frame_length) noexcept
      : m_(m), max_frame_length_(max_frame_length) {}

  // A result to return as it is, or nullopt when input[0] is the start byte and input[end] the
  // first end byte after it, with the payload between them within max_frame_length. An oversized
  // payload is skipped up to (not including) its end byte, which is left to the discard.
  std::optional<frame_result> find_end(byte_view input, std::size_t& end);

  std::size_t searched_ = 0;
  bool discarding_ = false;
  bool in_garbage_ = false;

 private:
  markers m_;
  std::size_t max_frame_length_;
};

// Factories per framing type. Each reads its keys from cfg (which make_framer finishes) and
// returns null when any of them was wrong; the reasons are in cfg.diag().
std::unique_ptr<framer> make_length_prefix_framer(config_object& cfg);
std::unique_ptr<framer> make_delimiter_framer(config_object& cfg);
std::unique_ptr<framer> make_mllp_framer(config_object& cfg);
std::unique_ptr<framer> make_stx_etx_framer(config_object& cfg);
std::unique_ptr<framer> make_fixed_size_framer(config_object& cfg);
std::unique_ptr<framer> make_line_blocks_framer(config_object& cfg);
std::unique_ptr<framer> make_tag_value_framer(config_object& cfg);

}  // namespace dragoman::codecs::framing_detail
