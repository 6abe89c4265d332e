// Byte buffers and views shared by every stage, plus hex helpers for tools and traces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::codecs {

using byte = std::uint8_t;
using byte_buffer = std::vector<byte>;
using byte_view = std::span<const byte>;

inline byte_view as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const byte*>(s.data()), s.size()};
}
inline std::string_view as_chars(byte_view b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline void append(byte_buffer& out, byte_view b) {
  out.insert(out.end(), b.begin(), b.end());
}
inline void append(byte_buffer& out, std::string_view s) {
  append(out, as_bytes(s));
}

// The value of one hex digit in either case, or -1.
constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "0a1b" (lower case, no separators).
std::string to_hex(byte_view b);
// Accepts upper or lower case and ignores white space; nullopt on anything else or an odd count.
std::optional<byte_buffer> from_hex(std::string_view text);
// Classic 16-bytes-a-line dump with offsets and a printable column, for traces and tools.
std::string hex_dump(byte_view b);

}  // namespace dragoman::codecs
