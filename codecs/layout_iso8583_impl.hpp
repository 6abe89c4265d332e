// Internal to the ISO 8583 layout: the dictionary shared by the configuration reader
// (layout_iso8583_config.cpp) and the layout that runs it (layout_iso8583.cpp).
#pragma once

#include "codecs/layout.hpp"

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::codecs::iso8583_detail {

// ISO 8583:1987 numbers data elements 2..128; bit 1 of each bitmap announces the next bitmap,
// so element 1 is the secondary bitmap and never a dictionary entry.
inline constexpr int max_field = 128;

enum class data_type { n, an, ans, b, z };
enum class length_format { fixed, llvar, lllvar };
// How digits (MTI, n and z data) are written: one character per digit or packed two a byte.
enum class digit_encoding { ascii, ebcdic, bcd };
// How an LL/LLL length is written.
enum class prefix_encoding { ascii, ebcdic, bcd, binary };

inline constexpr std::string_view type_names[] = {"n", "an", "ans", "b", "z"};
inline constexpr std::string_view format_names[] = {"fixed", "llvar", "lllvar"};
inline constexpr std::string_view digit_names[] = {"ascii", "ebcdic", "bcd"};
inline constexpr std::string_view prefix_names[] = {"ascii", "ebcdic", "bcd", "binary"};

template <class E, std::size_t N>
E enum_of(const std::string_view (&names)[N], std::string_view text, E fallback) {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == text) return static_cast<E>(i);
  return fallback;
}

template <class E, std::size_t N>
std::string_view name_of(const std::string_view (&names)[N], E e) {
  return names[static_cast<std::size_t>(e)];
}

// One data element of the dictionary. length: the fixed length or the maximum, in digits (n, z),
// characters (an, ans) or bytes (b).
struct element {
  bool defined = false;
  data_type type = data_type::n;
  length_format format = length_format::fixed;
  std::size_t length = 0;
  digit_encoding digits = digit_encoding::ascii;  // n and z
  prefix_encoding prefix = prefix_encoding::ascii;
  bool pad_right = false;  // BCD with an odd digit count: pad nibble F after, else 0 before
};

struct dictionary {
  digit_encoding mti = digit_encoding::ascii;
  bool bitmap_hex = false;
  bool secondary_always = false;
  prefix_encoding prefix = prefix_encoding::ascii;
  digit_encoding digits = digit_encoding::ascii;
  const charset* cs = nullptr;
  byte space = ' ';  // the charset's space, the pad of fixed an/ans fields
  std::array<element, max_field + 1> elements{};
};

// The layout of one message: numbers[i] is the data element of record field i (0: the MTI).
std::unique_ptr<layout> make_compiled_iso8583_layout(std::shared_ptr<const dictionary> dict,
                                                     std::vector<int> numbers,
                                                     std::vector<std::string> names);

}  // namespace dragoman::codecs::iso8583_detail
