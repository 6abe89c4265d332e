// Error bodies shared by the front doors: RFC 9457 problem+json for HTTP, error objects for lines.
#pragma once

#include "bridge/call.hpp"

#include <boost/json.hpp>

#include <string>
#include <string_view>

namespace dragoman::bridge {

// A result made by a front door itself (the call never reached the engine): make_error_result.
call_result door_error(call_code code, std::string message);

// A short, stable, human title for a code ("Upstream timeout"); codes outside call_code (such as
// the HTTP door's "not_found" and "method_not_allowed") get a title from their HTTP status.
std::string_view problem_title(std::string_view code, int status);

// {"type","title","status","detail","code","sent":false} plus "request_id" when given: a
// refusal of the door's own, before anything was sent anywhere.
boost::json::object make_problem(std::string_view code, int status, std::string_view detail,
                                 std::string_view request_id = {});
// The problem body for an engine's failed (or rejected) result: "sent" as the result says,
// "legacy_code" when the host gave one, "retry_after_seconds" when set and, for rejections, the
// reply fields as "data".
boost::json::object make_problem(const call_result& r, std::string_view request_id = {});

// The HTTP status to answer a result with: r.status when it is a valid status, else the code's.
int answer_status(const call_result& r) noexcept;

// Parses text into this thread's scratch memory (no allocation once warm): the value, and any
// object moved out of it, is valid until the next parse_scratch() on this thread. For a
// call_request's data, which lives until submit() returns (see call.hpp).
boost::json::value parse_scratch(std::string_view text, boost::system::error_code& ec);

// Appends v serialised as JSON to out: no tree copied, no temporary string (the answer paths).
void append_json(std::string& out, const boost::json::value& v);
void append_json(std::string& out, const boost::json::object& o);

// Appends the line protocol's answer with its trailing newline to out:
// {"id":…,"ok":true,"data":{…},"attempts":N} or
// {"id":…,"ok":false,"error":{"code","message","legacy_code"?,"retry_after_seconds"?,"sent"},
//  "attempts":N}
void append_line_answer(std::string& out, const boost::json::value& id, const call_result& r);
// The same answer as a string of its own.
std::string line_answer(const boost::json::value& id, const call_result& r);

}  // namespace dragoman::bridge
