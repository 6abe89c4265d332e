// The one fallback order for decoding what arrives on a client connection: the answering call's
// operation when it is known, shared reply shapes, then the peer's own request.
#pragma once

#include "codecs/pipeline.hpp"

#include <functional>

namespace dragoman::codecs {

// The call a payload should answer: its operation, in the profile the call started with.
struct reply_expectation {
  const profile* prof = nullptr;
  const operation* op = nullptr;
};

// Names the call a decoded reply belongs to (by its correlation key), or nothing.
using reply_finder = std::function<reply_expectation(const decoded_message&, const record&)>;

// Decodes a payload from the host, once on the common path:
//  - replies in order (in_order.op set): as that call's reply, in the call's profile, since
//    replies of different operations may look alike (memcached's NOT_FOUND answers delete and
//    incr); failing that, as a request of the peer's (an echo test between our replies);
//  - otherwise as any message of conn (replies first); for a reply, by_key names the call it
//    belongs to, and when that call's operation differs (replies of several operations share a
//    shape, as HL7 ACKs do; or the call uses the profile it started with) the payload is decoded
//    again as that operation, keeping the first result if that fails.
result<decoded_message> decode_incoming(const profile& conn, byte_view payload, record& out,
                                        reply_expectation in_order, const reply_finder& by_key);

// decode_incoming without a finder (replies in order, or nothing in flight), inline: the call's
// own reply is the common case.
inline result<decoded_message> decode_in_order(const profile& conn, byte_view payload, record& out,
                                               reply_expectation in_order) {
  if (!in_order.op) return decode_payload(conn, payload, out, decode_preference::replies_first);
  auto decoded = decode_payload(in_order.prof ? *in_order.prof : conn, payload, out,
                                decode_preference::replies_first, in_order.op);
  if (decoded) return decoded;
  auto as_request = decode_payload(conn, payload, out, decode_preference::requests_first);
  if (as_request && !as_request->is_reply) return as_request;
  return decoded;
}

}  // namespace dragoman::codecs
