// Wire traces: a call's request and reply re-encoded with sensitive fields masked, each stage's
// bytes (layout, checksum, frame) as hex dumps, written as one JSON log line per call.
#pragma once

#include "bridge/call.hpp"
#include "codecs/pipeline.hpp"

#include <boost/json.hpp>

#include <string>
#include <string_view>

namespace dragoman::bridge {

// A value of the same shape that the layout still accepts, revealing nothing secret. level 0:
// digit strings of 12 or more keep their first 6 and last 4 digits with zeros between (a card
// number), shorter digit strings and hex strings become zeros, other text keeps '=' '^' and
// spaces (track data separators) with digits as '0' and the rest as '*'; level 1: all zeros.
std::string shaped_mask(std::string_view value, int level = 0);

// The record with each present sensitive field replaced by shaped_mask(value, level), or (level
// 2) removed.
codecs::record masked_record(const codecs::message_def& msg, const codecs::record& r, int level);

// {"record":{masked fields by JSON name},"stages":[{"stage","length","hex"},...]} for one
// message, re-encoded from its masked record; "error" when no mask the layout accepts was found.
boost::json::object trace_message(const codecs::profile& p, const codecs::message_def& msg,
                                  const codecs::record& r);

// {"request":{...},"reply":{...}} for a call's trace (reply absent when none came).
boost::json::object build_wire_trace(const call_trace& t);

// Writes {"event":"wire_trace","door","request_id","op","endpoint","attempts","code",
// "request":{...},"reply":{...}} at info level. Without records (the engine kept none: the call
// failed before mapping, or the engine does not trace) the line says so in "note".
void write_wire_trace(std::string_view door, std::string_view request_id, std::string_view op,
                      const call_result& r);

}  // namespace dragoman::bridge
