// Decoding a payload from the host in the one fallback order.
#include "codecs/incoming.hpp"

namespace dragoman::codecs {

result<decoded_message> decode_incoming(const profile& conn, byte_view payload, record& out,
                                        reply_expectation in_order, const reply_finder& by_key) {
  if (in_order.op || !by_key) return decode_in_order(conn, payload, out, in_order);
  auto decoded = decode_payload(conn, payload, out, decode_preference::replies_first);
  if (!decoded || !decoded->is_reply) return decoded;
  reply_expectation want = by_key(*decoded, out);
  if (want.op && want.op != decoded->op) {
    auto again = decode_payload(want.prof ? *want.prof : conn, payload, out,
                                decode_preference::replies_first, want.op);
    if (again && again->is_reply) return again;
    // The failed attempt wrote into out: read the payload again as what it was.
    auto first = decode_payload(conn, payload, out, decode_preference::replies_first, decoded->op);
    if (first) return first;
  }
  return decoded;
}

}  // namespace dragoman::codecs
