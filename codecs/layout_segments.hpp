// Internal to the delimited layout: the segment model's factory, which make_delimited_layout
// calls when the message has a segment_separator. Not part of the codecs interface.
#pragma once

#include "codecs/delimited_text.hpp"
#include "codecs/layout.hpp"

#include <memory>

namespace dragoman::codecs::delimited_detail {

// Reads the segment keys and the fields once the keys both models share are read (o), and
// records every mistake with its path.
std::unique_ptr<layout> make_segment_layout(layout_context& ctx, text_options o);

}  // namespace dragoman::codecs::delimited_detail
