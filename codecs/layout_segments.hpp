// Internal to the delimited layout: the segment model (segments, fields by path, repeating groups)
// and its factory, which make_delimited_layout calls for a message with a segment_separator.
#pragma once

#include "codecs/delimited_text.hpp"
#include "codecs/layout.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace dragoman::codecs::delimited_detail {

// Where a value sits in a segment. slot is the index after splitting the segment at the field
// separator (the segment id is slot 0); it is the HL7 field number, minus one in a header
// segment whose first field is the separator itself.
struct address {
  std::size_t slot = 0;
  std::uint32_t field = 0;
  std::uint32_t repetition = 1;
  std::uint32_t component = 0;     // 0: the whole repetition
  std::uint32_t subcomponent = 0;  // 0: the whole component

  auto key() const noexcept { return std::tuple(slot, repetition, component, subcomponent); }
  // True when two addresses cover overlapping bytes.
  bool overlaps(const address& o) const noexcept {
    if (slot != o.slot || repetition != o.repetition) return false;
    if (component == 0 || o.component == 0) return true;
    if (component != o.component) return false;
    return subcomponent == 0 || o.subcomponent == 0 || subcomponent == o.subcomponent;
  }
};

struct segment_field {
  value_format value;
  std::string path;  // as written
  address at;
  int group = -1;  // index of the segment group this field carries as a JSON array
};

// One key of the JSON objects of a repeating segment group and where it goes in the segment.
struct group_component {
  std::string key;
  std::string path;
  address at;
};

struct segment_group {
  std::size_t field = 0;                    // the record field holding the JSON array text
  std::vector<group_component> components;  // by address
  int sequence = -1;  // component numbered 1, 2, ... when an element does not give it
};

struct segment_def {
  std::string id;
  std::string wire_id;
  bool header = false;              // carries the separators (MSH-1, MSH-2)
  int group = -1;                   // a repeating group: one segment per array element
  std::vector<std::size_t> fields;  // by address
};

// Everything a segment layout is made of, as its factory reads it from the profile.
struct segment_model {
  std::vector<segment_field> fields;  // one per record field, same order
  std::vector<segment_def> segments;  // in encode order
  std::vector<segment_group> groups;
  int header_segment = -1;
  bool header_carries = false;
  std::string blank;  // wire bytes of CR and LF, skipped between segments on decode
};

// Reads the segment keys and the fields once the keys both models share are read (o), and
// records every mistake with its path.
std::unique_ptr<layout> make_segment_layout(layout_context& ctx, text_options o);

}  // namespace dragoman::codecs::delimited_detail
