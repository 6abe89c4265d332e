// Internal to the binary layout: field descriptions shared by the configuration reader
// (layout_binary_config.cpp) and the layout that runs them (layout_binary.cpp).
#pragma once

#include "codecs/layout.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dragoman::codecs::binary_detail {

// uint, int: integers of `size` bytes (one value, or an array of them with count_from or
// length_from); bits: a bit field of a group of consecutive bits fields; bitmap: an array of
// booleans packed LSB first (Modbus coils); bytes: raw bytes, lower-case hex.
enum class field_type { uint_, int_, bits, bitmap, bytes };

inline constexpr std::string_view type_names[] = {"uint", "int", "bits", "bitmap", "bytes"};

inline constexpr std::size_t none = static_cast<std::size_t>(-1);

struct binary_field {
  std::string name;
  field_type type = field_type::uint_;
  std::size_t size = 0;  // bytes of one value (uint, int, fixed bytes)
  bool little_endian = false;
  bool array = false;  // uint, int: a JSON array of integers; bitmap is always an array
  // The field (earlier in the message) holding this array's element count, or its byte length.
  std::size_t count_from = none;
  std::size_t length_from = none;
  // bits: width, shift from the group's least significant bit, and the group it belongs to.
  unsigned bits = 0;
  unsigned shift = 0;
  std::size_t group = none;
  // Present only when the earlier integer field when_field holds when_value.
  std::size_t when_field = none;
  std::uint64_t when_value = 0;
  std::optional<std::string> otherwise;  // the decoded value when the condition does not hold
  // Names for wire values ("true" -> 65280): the record holds the name, the wire the number.
  std::vector<std::pair<std::string, std::uint64_t>> map;
  // "length_of": "rest": the bytes after this field to the end of the message, derived on encode
  // (whatever the record holds) and checked on decode.
  bool measures_rest = false;
  // Filled from the other fields: the arrays whose count (length) this field carries.
  std::vector<std::size_t> counts;
  std::vector<std::size_t> lengths;

  bool is_integer() const noexcept {
    return type == field_type::uint_ || type == field_type::int_ || type == field_type::bits;
  }
  bool is_sized_by_field() const noexcept { return count_from != none || length_from != none; }
};

// A group of consecutive bits fields: `size` bytes at the place of its first field.
struct bits_group {
  std::size_t first = 0;  // field index
  std::size_t last = 0;
  std::size_t size = 0;
  bool little_endian = false;
};

std::unique_ptr<layout> make_configured_binary_layout(std::vector<binary_field> fields,
                                                      std::vector<bits_group> groups,
                                                      bool allow_trailing);

}  // namespace dragoman::codecs::binary_detail
