// The translator, in one place: the app's call → the legacy request (operation lookup, mapping,
// validation, deadline) and the legacy reply → the app's answer (classification, reply mapping,
// wire-trace records). No Asio, no connections.
#pragma once

#include "bridge/call.hpp"
#include "bridge/correlation.hpp"
#include "codecs/bytes.hpp"
#include "codecs/profile.hpp"
#include "codecs/record.hpp"

#include <chrono>
#include <memory>
#include <optional>

namespace dragoman::bridge {

// A profile in service with its shared counters; reload() swaps it, calls keep theirs.
struct profile_bundle {
  explicit profile_bundle(std::shared_ptr<const codecs::profile> p)
      : profile(std::move(p)), bank(*profile) {}
  std::shared_ptr<const codecs::profile> profile;
  counter_bank bank;
};

// An app call mapped to its legacy request.
struct mapped_request {
  std::shared_ptr<profile_bundle> bundle;  // the profile the call started with
  const codecs::operation* op = nullptr;
  codecs::record request;
  // The frame to send as is; empty when the connection assigns the correlation key (a counter
  // unique among its calls in flight) and so encodes the frame itself, once.
  codecs::byte_buffer frame;
  bool key_generated = false;
  std::chrono::milliseconds timeout{0};  // the app's wish capped, else the operation's
};

// Maps req with the bundle's profile into out (op, request, frame, timeout). Answers with the
// error to give the app when the call cannot be sent: unknown_operation, invalid_field (a field
// that does not map or does not fit its layout, whatever the state of the upstreams), or
// upstream_protocol_error (an operation without its correlation field).
std::optional<call_result> translate_request(const call_request& req,
                                             std::shared_ptr<profile_bundle> bundle,
                                             std::chrono::milliseconds max_timeout,
                                             mapped_request& out);

// The reply half: classification by the operation's result rule and reply mapping.
call_result reply_result(const codecs::operation& op, const codecs::record& reply);
// A reply of a session.rejects operation (a FIX Reject) answering a call of another: always
// rejected, with its result field as the legacy code and its message field as the text.
call_result rejection_result(const codecs::operation& reject_op, const codecs::record& reply);

// The records of one call for a wire trace (re-encoded later with sensitive fields masked).
std::shared_ptr<call_trace> make_trace(const mapped_request& call, const codecs::record* reply);

}  // namespace dragoman::bridge
