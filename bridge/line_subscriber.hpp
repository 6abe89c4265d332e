// The line protocol's subscription lines: {"id":…,"subscribe":[ops]} read, {"inbound":op,
// "message_id":…,"request_id":…,"data":{…}} written, {"reply_to":…,"data"|"error":…} read, and
// the error line for a reply that cannot be taken. No I/O; line_door.cpp drives them.
#pragma once

#include "bridge/deliver_client.hpp"

#include <boost/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace dragoman::bridge {

// What a line object asks for, by its keys: a call ("op"), a subscription ("subscribe"), an
// answer to a delivery ("reply_to"); more than one of them is an error.
enum class line_kind { call, subscribe, reply, ambiguous };
line_kind kind_of(const boost::json::object& o);

// The operation names of a "subscribe" line, or "" and a sentence saying what is wrong.
std::string parse_subscribe(const boost::json::object& o, std::vector<std::string>& ops);

// A "reply_to" line as the delivery's answer: "data" (an object, or absent) accepts with that
// body; "error" (a string, or an object whose message/detail/error/title is the text) refuses.
// "" or a sentence saying what is wrong; message_id is filled whenever reply_to is a string.
std::string parse_reply(const boost::json::object& o, std::string& message_id,
                        deliver_response& answer);

// The delivery line for r, with its trailing newline.
void append_inbound_line(std::string& out, const deliver_request& r);
// {"reply_to":…,"ok":false,"error":{"code":"bad_request","message":…}} and a newline.
void append_reply_error(std::string& out, const boost::json::value& reply_to,
                        std::string_view message);

}  // namespace dragoman::bridge
