// Internal to the tag=value layout: field descriptions shared by the configuration reader
// (layout_tagvalue_config.cpp) and the layout that runs them (layout_tagvalue.cpp).
#pragma once

#include "codecs/layout.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace dragoman::codecs::tagvalue_detail {

inline constexpr std::size_t none = static_cast<std::size_t>(-1);

// One field of a message or of a repeating group's entry.
struct tv_field {
  std::string name;           // record name (message) or JSON key (group entry)
  std::uint32_t tag = 0;      // 0 for the unknown-tags field
  bool unknown_tags = false;  // "type": "unknown_tags": every tag the message does not list
  bool required = false;
  bool number = false;  // group entries: a JSON number when it reads as one
  // "enum": words for codes ("buy" -> "1"); the record holds the word, the wire the code.
  std::vector<std::pair<std::string, std::string>> words;
  // A data field: the (earlier) field of the same list carrying its byte length, which encode
  // derives; its value may hold the separator.
  std::size_t length_from = none;
  std::size_t length_of = none;  // the data field whose length this field carries
  // A repeating group: this field's tag carries the entry count, then the entries, each one
  // starting with the first of these fields' tags.
  bool is_group = false;
  std::vector<tv_field> group;
};

struct tv_config {
  std::string separator = "\x01";
  // The tags that must open every message, in this order (FIX: 8, 9, 35).
  std::vector<std::uint32_t> ordered;
  // Tags that stages write and check (FIX: 9 BodyLength, 10 CheckSum): never written by the
  // layout, passed over on decode.
  std::vector<std::uint32_t> stage_tags;
  std::vector<tv_field> fields;
};

std::unique_ptr<layout> make_configured_tagvalue_layout(tv_config config);

}  // namespace dragoman::codecs::tagvalue_detail
