// ISO 8583 layout: MTI, primary/secondary bitmap and data elements described by a profile
// dictionary.
#pragma once

#include "codecs/layout.hpp"

#include <memory>

namespace dragoman::codecs {

// Builds the layout of one message from ctx.fields ({"field": N} entries) and the profile's root
// "dictionary". Returns null after recording every mistake (by path) in ctx.message.diag().
std::unique_ptr<layout> make_iso8583_layout(layout_context& ctx);

}  // namespace dragoman::codecs
