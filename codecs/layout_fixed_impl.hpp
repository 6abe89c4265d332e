// Internal to the fixed layout: field descriptions shared by the configuration reader
// (layout_fixed_config.cpp) and the layout that runs them (layout_fixed.cpp).
#pragma once

#include "codecs/decimal.hpp"
#include "codecs/layout.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::codecs::fixed_detail {

using decimal::charset_digits;

enum class field_type { alpha, numeric, zoned, packed, binary, hex };

inline constexpr std::string_view type_names[] = {"alpha",  "numeric", "zoned",
                                                  "packed", "binary",  "hex"};

// Decimal digits an unsigned binary integer of n bytes can hold (index n).
inline constexpr int binary_digits[] = {0, 3, 5, 8, 10, 13, 15, 17, 20};

struct fixed_field {
  std::string name;
  field_type type = field_type::alpha;
  std::size_t offset = 0;
  std::size_t length = 0;
  int decimals = 0;
  bool is_signed = false;
  decimal::digits_style style = decimal::digits_style::canonical;  // numeric, zoned, packed
  bool align_right = false;
  bool little_endian = false;
  byte pad = ' ';        // wire byte of the pad character (or pad_byte for hex)
  std::string pad_text;  // as configured, for describe
  const charset* cs = nullptr;
  const charset_digits* digits = nullptr;  // numeric and zoned
};

// The layout over fields at consecutive offsets, length bytes in all. digit_tables are owned by
// the layout; the numeric and zoned fields point into them.
std::unique_ptr<layout> make_configured_fixed_layout(
    std::vector<fixed_field> fields, std::size_t length, const charset* cs, std::string pad_text,
    bool allow_trailing, std::vector<std::unique_ptr<charset_digits>> digit_tables);

}  // namespace dragoman::codecs::fixed_detail
