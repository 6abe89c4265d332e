// Hex helpers for tools and wire traces.
#include "codecs/bytes.hpp"

#include <cstdio>

namespace dragoman::codecs {

namespace {
constexpr char hex_digits[] = "0123456789abcdef";
}  // namespace

std::string to_hex(byte_view b) {
  std::string out;
  out.reserve(b.size() * 2);
  for (byte x : b) {
    out.push_back(hex_digits[x >> 4]);
    out.push_back(hex_digits[x & 0xF]);
  }
  return out;
}

std::optional<byte_buffer> from_hex(std::string_view text) {
  byte_buffer out;
  out.reserve(text.size() / 2);
  int high = -1;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    int v = hex_value(c);
    if (v < 0) return std::nullopt;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<byte>(high << 4 | v));
      high = -1;
    }
  }
  if (high >= 0) return std::nullopt;
  return out;
}

std::string hex_dump(byte_view b) {
  std::string out;
  char line[96];
  for (std::size_t off = 0; off < b.size(); off += 16) {
    int n = std::snprintf(line, sizeof line, "%08zx ", off);
    out.append(line, static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < 16; ++i) {
      if (i == 8) out.push_back(' ');
      if (off + i < b.size()) {
        out.push_back(' ');
        out.push_back(hex_digits[b[off + i] >> 4]);
        out.push_back(hex_digits[b[off + i] & 0xF]);
      } else {
        out.append("   ");
      }
    }
    out.append("  |");
    for (std::size_t i = 0; i < 16 && off + i < b.size(); ++i) {
      byte x = b[off + i];
      out.push_back(x >= 0x20 && x < 0x7F ? static_cast<char>(x) : '.');
    }
    out.append("|\n");
  }
  return out;
}

}  // namespace dragoman::codecs
