// JSON text shared by the stages and the bridge: a JSON scalar as record text, and a JSON string
// literal written as boost::json::serialize writes it (for hand-built JSON on hot paths).
#pragma once

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace dragoman::codecs {

// The record text of a JSON scalar, as a request field's value reaches the wire: strings as they
// are, integers in decimal, doubles in fixed notation (shortest round trip, never an exponent:
// 1e21 is "1000000000000000000000"), booleans as true/false. Null, objects and arrays: nullopt.
std::optional<std::string> scalar_text(const boost::json::value& v);
// The same into out (replacing what it held, reusing its memory); false, out untouched, for null,
// objects and arrays. For hot paths that fill a record slot.
bool scalar_text(const boost::json::value& v, std::string& out);

// Appends s as a quoted JSON string: '"' and '\\' escaped, \b \f \n \r \t as short escapes,
// other control characters as \u00xx, everything else (UTF-8, DEL) as it is. Byte for byte what
// boost::json::serialize writes for boost::json::string(s).
void append_json_string(std::string& out, std::string_view s);

}  // namespace dragoman::codecs
