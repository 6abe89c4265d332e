// The profiles the codec fuzz targets drive: every shipped profile, compiled once, plus acme-core
// under each framing type no shipped profile uses, so every framing and every layout is reached.
#pragma once

#include "codecs/bytes.hpp"
#include "codecs/frame_reader.hpp"
#include "codecs/profile.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace dragoman::fuzz {

// Compiled on first use; a profile that does not compile aborts (the fuzzer would test nothing).
const std::vector<std::shared_ptr<const codecs::profile>>& fuzz_profiles();

// The profile a selector byte picks.
const codecs::profile& pick_profile(std::uint8_t selector);

// Every whole frame's payload in bytes, split by the profile's framing; feeds the bytes in pieces
// of `piece` bytes (at least 1), as a socket would deliver them. Stops at a fatal event.
template <class OnFrame>
void for_each_frame(const codecs::profile& p, codecs::byte_view bytes, std::size_t piece,
                    OnFrame&& on_frame) {
  // As large as the connection's buffer, or as the input when that is smaller: a frame the input
  // holds always fits, and no execution pays for a megabyte it cannot fill.
  codecs::frame_reader reader(p.framing->make_decoder(),
                              std::min(p.framing->max_frame_length() + 16, bytes.size() + 16));
  if (piece == 0) piece = 1;
  std::size_t at = 0;
  // Every event consumes bytes or asks for more, and every round offers up to `piece` new bytes:
  // bounded by the input's length.
  while (at < bytes.size()) {
    const std::size_t n = std::min(piece, bytes.size() - at);
    if (!reader.append(bytes.subspan(at, n))) return;  // a frame larger than the buffer
    at += n;
    for (auto e = reader.next(); e.kind != codecs::frame_reader::event_kind::need_more;
         e = reader.next()) {
      if (e.kind == codecs::frame_reader::event_kind::fatal) return;
      if (e.kind == codecs::frame_reader::event_kind::frame) on_frame(e.payload);
    }
  }
}

}  // namespace dragoman::fuzz
