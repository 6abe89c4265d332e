// Internal to the template layout: the compiled form of templates, shared by the compiler
// (layout_template_compile.cpp) and the layout that runs it (layout_template.cpp).
#pragma once

#include "codecs/layout.hpp"
#include "codecs/layout_impl.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dragoman::codecs::template_detail {

enum class value_type { text, token, number };
inline constexpr std::string_view type_names[] = {"text", "token", "number"};

struct template_field {
  std::string name;
  value_type type = value_type::text;
  const charset* cs = nullptr;
  std::size_t max_length = 0;  // 0: no limit
  bool is_signed = true;       // number: a leading '-' or '+' is allowed
  std::optional<std::size_t> length_from;
  std::string length_from_name;  // for describe
};

enum class seg_kind : unsigned char { literal, field, length_of };
enum class count_kind : unsigned char { none, field, length_segment };

struct segment {
  seg_kind kind = seg_kind::literal;
  std::string literal;    // literal: wire bytes
  std::size_t field = 0;  // field: the field; length_of: whose length
  count_kind count = count_kind::none;
  std::size_t count_from = 0;  // count field index, or the {len:} segment's index
  // field: this field is the count of a later counted placeholder of target (written from its
  // length when the record has no value for it).
  std::optional<std::size_t> counts;
};

// Placeholders per template; counts of {len:} segments live in a stack array of this size.
inline constexpr std::size_t max_segments = 64;

struct alternative {
  std::string text;  // as written, for describe and messages
  std::vector<segment> segs;
  std::vector<std::pair<std::size_t, std::string>> sets;
  std::vector<std::size_t> needs;  // fields a record must have for encode to choose this
};

inline std::string quote(std::string_view s) {
  return layout_detail::quote_bytes(s);
}

// The layout that encodes and decodes by the compiled alternatives (single: one "template").
std::unique_ptr<layout> make_compiled_template_layout(std::vector<template_field> fields,
                                                      std::vector<alternative> alts,
                                                      const charset* cs, bool single);

}  // namespace dragoman::codecs::template_detail
