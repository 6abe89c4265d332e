// Wire bytes → frames → records → JSON through every profile: framing, checksum, layout and
// charset on bytes a peer chose. Input: a selector byte (profile, preference, whether to skip
// the framing), a piece size, then the bytes.
#include "fuzz/fuzz_profiles.hpp"

#include "codecs/pipeline.hpp"

#include <cstddef>
#include <cstdint>

using namespace dragoman;

namespace {

void decode_one(const codecs::profile& p, codecs::byte_view payload,
                codecs::decode_preference pref) {
  codecs::record rec;
  auto d = codecs::decode_payload(p, payload, rec, pref);
  if (!d) return;
  // The decoded record as the app would see it, and as `decode` prints it.
  (void)codecs::map_reply(*d->msg, rec, false);
  (void)codecs::map_reply(*d->msg, rec, true, true);
  if (d->is_reply) (void)codecs::classify_reply(*d->op, rec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t selector = data[0];
  const std::size_t piece = data[1] + 1u;
  const codecs::profile& p = fuzz::pick_profile(selector & 0x0f);
  const auto pref = (selector & 0x10) ? codecs::decode_preference::requests_first
                                      : codecs::decode_preference::replies_first;
  const codecs::byte_view bytes(data + 2, size - 2);
  if (selector & 0x20) {
    decode_one(p, bytes, pref);  // the payload as the framing would hand it over
    return 0;
  }
  fuzz::for_each_frame(p, bytes, piece,
                       [&](codecs::byte_view payload) { decode_one(p, payload, pref); });
  return 0;
}
