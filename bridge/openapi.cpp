// The OpenAPI 3.1 document of the app-facing API, from the compiled profile: schemas from each
// field's common attributes and its layout's description (describe_field), errors from the one
// list of call codes. No I/O.
#include "bridge/openapi.hpp"

#include "bridge/call.hpp"

#include <algorithm>
#include <map>
#include <string_view>
#include <vector>

namespace dragoman::bridge {

namespace json = boost::json;
using codecs::field_spec;
using codecs::message_def;

namespace {

std::int64_t int_of(const json::object& d, std::string_view key, std::int64_t otherwise = 0) {
  if (auto* v = d.if_contains(key); v && v->is_int64()) return v->get_int64();
  if (auto* v = d.if_contains(key); v && v->is_uint64())
    return static_cast<std::int64_t>(v->get_uint64());
  return otherwise;
}

bool bool_of(const json::object& d, std::string_view key) {
  auto* v = d.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}

std::string_view string_of(const json::object& d, std::string_view key) {
  auto* v = d.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// Decimal text as the layouts read it (codecs/decimal.hpp): an optional sign when signed, at most
// `integer_digits` significant integer digits (leading zeros are free), at most `decimals`
// fraction digits beyond which only zeros may follow; empty means zero. integer_digits < 0: any.
std::string decimal_pattern(std::int64_t integer_digits, std::int64_t decimals, bool is_signed) {
  std::string p = "^(";
  if (is_signed) p += "[+-]?";
  p += "(?=\\.?[0-9])0*";
  p += integer_digits < 0 ? "[0-9]*" : "[0-9]{0," + std::to_string(integer_digits) + "}";
  p += decimals > 0 ? "(\\.[0-9]{0," + std::to_string(decimals) + "}0*)?" : "(\\.0*)?";
  p += ")?$";
  return p;
}

std::string hex_pattern(std::int64_t max_bytes) {
  return "^([0-9A-Fa-f]{2}){0," + std::to_string(max_bytes) + "}$";
}

// How many decimal digits every value of an unsigned (or signed) binary field of n bytes holds.
std::int64_t binary_digits(std::int64_t bytes, bool is_signed) {
  const unsigned bits = static_cast<unsigned>(std::clamp<std::int64_t>(bytes * 8, 8, 64));
  long double largest = 1;
  for (unsigned i = 0; i < bits - (is_signed ? 1 : 0); ++i) largest *= 2;
  std::int64_t digits = 0;
  for (long double v = largest; v >= 10; v /= 10) ++digits;  // 10^digits <= largest
  return digits;
}

// A binary layout integer: a JSON integer or its digits; a mapped one, one of its names (JSON
// booleans for the names "true" and "false").
json::object binary_integer_schema(const json::object& d, bool is_signed) {
  json::object s;
  if (const json::value* map = d.if_contains("map"); map && map->is_object()) {
    json::array names;
    for (const auto& kv : map->get_object()) {
      names.emplace_back(kv.key());
      if (kv.key() == "true" || kv.key() == "false") names.emplace_back(kv.key() == "true");
    }
    s["enum"] = std::move(names);
    return s;
  }
  // The range of the field (its digits as a string are accepted too).
  const unsigned bits = static_cast<unsigned>(std::clamp<std::int64_t>(
      d.contains("bits") ? int_of(d, "bits") : 8 * int_of(d, "size", 8), 1, 64));
  s["type"] = "integer";
  if (is_signed) {
    const std::uint64_t top =
        bits >= 64 ? ~std::uint64_t{0} >> 1 : (std::uint64_t{1} << (bits - 1)) - 1;
    s["minimum"] = -static_cast<std::int64_t>(top) - 1;
    s["maximum"] = top;
  } else {
    s["minimum"] = 0;
    s["maximum"] = bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
  }
  return s;
}

// The JSON Schema of one field's value from its layout's description.
json::object value_schema(const field_spec& f, const json::object& d, bool request) {
  json::object s;
  if (f.json == field_spec::json_kind::array) {
    s["type"] = "array";
    // The layout says what one element is (binary arrays: integers or booleans); segment groups
    // hold objects.
    if (const json::value* items = d.if_contains("items"); items && items->is_object())
      s["items"] = *items;
    else
      s["items"] = {{"type", "object"}};
    return s;
  }
  if (!request && f.json == field_spec::json_kind::number) {
    s["type"] = "number";
    return s;
  }
  if (!request && f.json == field_spec::json_kind::boolean) {
    s["type"] = "boolean";
    return s;
  }
  s["type"] = "string";
  const std::string_view type = string_of(d, "type");
  const std::int64_t length = int_of(d, "length", int_of(d, "max_length", -1));
  const std::int64_t decimals = int_of(d, "decimals");
  const bool is_signed = bool_of(d, "signed");
  const std::string n = std::to_string(length);
  if (d.contains("field")) {  // ISO 8583 data elements (layout_iso8583.cpp, encode_element)
    const bool fixed = string_of(d, "format") == "fixed";
    const std::string count = fixed ? "{" + n + "}" : "{0," + n + "}";
    if (type == "mti") s["pattern"] = "^[0-9]{4}$";
    if (type == "n") s["pattern"] = "^[0-9]{0," + n + "}$";
    if (type == "z") s["pattern"] = "^[0-9=]" + count + "$";
    if (type == "b") s["pattern"] = "^([0-9A-Fa-f]{2})" + count + "$";
    if (type == "an") s["pattern"] = "^[0-9A-Za-z ]{0," + n + "}$";
    if (type == "ans") {
      s["pattern"] = "^[^\\x00-\\x1f\\x7f]*$";
      s["maxLength"] = length;
    }
    return s;
  }
  if (d.contains("tag")) {  // tag=value fields (layout_tagvalue.cpp): a word or its code, or text
    if (const json::value* e = d.if_contains("enum"); e && e->is_object()) {
      json::array values;
      for (const auto& kv : e->get_object()) values.emplace_back(kv.key());
      for (const auto& kv : e->get_object()) values.push_back(kv.value());
      s["enum"] = std::move(values);
    } else if (bool_of(d, "data")) {
      s["minLength"] = 1;
    } else {
      const auto sep = static_cast<unsigned char>(
          string_of(d, "separator_byte").empty() ? 1 : string_of(d, "separator_byte")[0]);
      static constexpr char hex[] = "0123456789abcdef";
      s["pattern"] = std::string("^[^\\x") + hex[sep >> 4] + hex[sep & 0xF] + "]+$";
    }
    return s;
  }
  if (type == "numeric" || type == "zoned" || type == "packed") {
    const std::int64_t digits = type == "packed" ? int_of(d, "digits", -1) : length;
    // Delimited numbers (implied_decimals present) take a sign when signed; fixed numeric never.
    const bool delimited = d.contains("implied_decimals");
    const bool implied = !delimited || bool_of(d, "implied_decimals");
    s["pattern"] = decimal_pattern(digits < 0 || !implied ? -1 : digits - decimals, decimals,
                                   type == "numeric" && !delimited ? false : is_signed);
    if (!implied && length >= 0) s["maxLength"] = length;
  } else if (type == "binary") {
    s["pattern"] =
        decimal_pattern(binary_digits(length, is_signed) - decimals, decimals, is_signed);
  } else if (type == "uint" || type == "int" || type == "bits") {  // binary layout integers
    return binary_integer_schema(d, type == "int");
  } else if (type == "hex") {
    s["pattern"] = hex_pattern(length);
  } else if (type == "token") {  // template: no spaces, no control characters, not empty
    s["pattern"] = "^[^\\x00-\\x20\\x7f]+$";
    if (length >= 0) s["maxLength"] = length;
  } else if (type == "number") {  // template: whole numbers
    s["pattern"] = is_signed ? "^[+-]?[0-9]+$" : "^[0-9]+$";
    if (length >= 0) s["maxLength"] = length;
  } else if (length >= 0) {  // alpha, text
    s["maxLength"] = length;
  }
  return s;
}

// Puts a property at a dotted path ("patient.id") into an object schema, making the objects on
// the way; `required` marks it (and the objects on its way) required.
void put_property(json::object& schema, std::string_view path, json::object value, bool required,
                  bool closed) {
  json::object* at = &schema;
  while (true) {
    const auto dot = path.find('.');
    const std::string_view key = path.substr(0, dot);
    // Both keys first: inserting into an object moves its values.
    if (!at->contains("properties")) (*at)["properties"] = json::object();
    if (required && !at->contains("required")) (*at)["required"] = json::array();
    if (required) {
      json::array& req = (*at)["required"].as_array();
      if (std::find(req.begin(), req.end(), json::value(key)) == req.end()) req.emplace_back(key);
    }
    json::object& props = (*at)["properties"].as_object();
    if (dot == std::string_view::npos) {
      props[key] = std::move(value);
      return;
    }
    json::value& next = props[key];
    if (!next.is_object() || !next.as_object().contains("type")) {
      next = json::object{{"type", "object"}};
      if (closed) next.as_object()["additionalProperties"] = false;
    }
    at = &next.as_object();
    path = path.substr(dot + 1);
  }
}

// Whether a request refuses fields it lists nowhere (unknown_fields: reject or dictionary).
bool closed(const message_def& msg) {
  return msg.unknown != codecs::unknown_fields::ignore;
}

json::object request_schema(const message_def& msg, std::string_view title) {
  const bool is_closed = closed(msg);
  json::object s{{"title", title}, {"type", "object"}, {"properties", json::object()}};
  if (is_closed) s["additionalProperties"] = false;
  for (std::size_t i = 0; i < msg.fields.size(); ++i) {
    const field_spec& f = msg.fields[i];
    if (f.from.empty()) continue;  // dragoman's to fill, not the app's
    if (f.constant) {
      // Taken and ignored: the profile's value is sent whatever the app says.
      put_property(s, f.from,
                   json::object{{"description",
                                 "ignored: the profile sends " +
                                     (f.sensitive ? std::string("its own value") : *f.constant)}},
                   false, is_closed);
      continue;
    }
    json::object v =
        value_schema(f, msg.codec ? msg.codec->describe_field(i) : json::object{}, true);
    if (f.default_value && !f.sensitive) v["default"] = *f.default_value;
    std::string about;
    if (f.generate != codecs::generator_kind::none)
      about = std::string("generated by dragoman (") +
              (f.generate == codecs::generator_kind::counter ? "counter" : "timestamp") +
              ") when absent";
    if (f.sensitive) {
      v["writeOnly"] = true;
      about += std::string(about.empty() ? "" : "; ") + "sensitive: masked in logs and traces";
    }
    if (f.name != f.from) about += std::string(about.empty() ? "" : "; ") + "wire field " + f.name;
    if (!about.empty()) v["description"] = about;
    const bool required =
        f.required && !f.default_value && f.generate == codecs::generator_kind::none;
    for (const auto& alias : f.aliases) {  // further names of the same field (ISO 8583: "f2")
      json::object a = v;
      a["description"] = "another name of " + f.from + " (give one of them)";
      put_property(s, alias, std::move(a), false, is_closed);
    }
    put_property(s, f.from, std::move(v), required, is_closed);
  }
  return s;
}

json::object reply_schema(const message_def& msg, std::string_view title) {
  json::object s{{"title", title}, {"type", "object"}, {"properties", json::object()}};
  for (std::size_t i = 0; i < msg.fields.size(); ++i) {
    const field_spec& f = msg.fields[i];
    if (f.to.empty()) continue;
    json::object v =
        value_schema(f, msg.codec ? msg.codec->describe_field(i) : json::object{}, false);
    v.erase("pattern");  // replies are decoded text (trimmed, canonical): the type is the promise
    v["readOnly"] = true;
    if (f.sensitive) v["description"] = "sensitive: masked in logs and traces";
    put_property(s, f.to, std::move(v), false, false);
  }
  return s;
}

// What dragoman fills in a request itself, for the operation's description.
std::string filled_by_dragoman(const message_def& msg) {
  std::string out;
  for (const field_spec& f : msg.fields) {
    std::string what;
    if (f.constant)
      what = f.name + (f.sensitive ? "" : " = " + *f.constant);
    else if (f.from.empty() && f.generate == codecs::generator_kind::counter)
      what = f.name + " (counter)";
    else if (f.from.empty() && f.generate == codecs::generator_kind::timestamp)
      what = f.name + " (timestamp)";
    else if (f.from.empty() && f.default_value)
      what = f.name + (f.sensitive ? "" : " = " + *f.default_value);
    if (what.empty()) continue;
    out += (out.empty() ? "" : ", ") + what;
  }
  return out;
}

json::value ref(std::string_view kind, std::string_view name) {
  return json::object{{"$ref", "#/components/" + std::string(kind) + "/" + std::string(name)}};
}

// The codes of the call table answered with an HTTP status, for one response's schema.
std::vector<std::string> codes_with_status(int status) {
  std::vector<std::string> out;
  for (call_code c : all_call_codes)
    if (c != call_code::ok && http_status(c) == status) out.emplace_back(to_string(c));
  return out;
}

json::object problem_response(std::string_view description, const std::vector<std::string>& codes,
                              const json::value* rejected_data) {
  // Retry-After comes with the codes answered only when nothing reached a host.
  bool retry_after = false;
  for (call_code c : all_call_codes)
    if (retry_safe(c) && std::find(codes.begin(), codes.end(), to_string(c)) != codes.end())
      retry_after = true;
  json::array enums;
  for (const auto& c : codes) enums.emplace_back(c);
  json::object narrowed{{"properties", json::object{{"code", json::object{{"enum", enums}}}}}};
  if (rejected_data) narrowed["properties"].as_object()["data"] = *rejected_data;
  json::object headers{{"X-Request-Id", ref("headers", "X-Request-Id")}};
  if (retry_after) headers["Retry-After"] = ref("headers", "Retry-After");
  json::object schema{{"allOf", json::array{ref("schemas", "Problem"), std::move(narrowed)}}};
  return {{"description", description},
          {"headers", std::move(headers)},
          {"content", json::object{{"application/problem+json",
                                    json::object{{"schema", std::move(schema)}}}}}};
}

json::object components() {
  json::array all_codes;
  for (call_code c : all_call_codes)
    if (c != call_code::ok) all_codes.emplace_back(to_string(c));
  for (const char* c : {"not_found", "method_not_allowed"}) all_codes.emplace_back(c);
  json::object problem{
      {"title", "Problem"},
      {"description",
       "RFC 9457 problem details; code is stable, detail names the field for "
       "invalid_field"},
      {"type", "object"},
      {"required", json::array{"type", "title", "status", "detail", "code", "sent"}},
      {"properties",
       json::object{
           {"type", {{"type", "string"}, {"format", "uri-reference"}}},
           {"title", {{"type", "string"}}},
           {"status", {{"type", "integer"}}},
           {"detail", {{"type", "string"}}},
           {"code", {{"type", "string"}, {"enum", all_codes}}},
           {"sent",
            {{"type", "boolean"},
             {"description",
              "whether any byte of the request reached a host (it may have acted "
              "on it); false: sending the call again is safe"}}},
           {"request_id", {{"type", "string"}}},
           {"legacy_code", {{"type", "string"}, {"description", "the host's result code"}}},
           {"retry_after_seconds", {{"type", "integer"}, {"minimum", 0}}},
           {"data", {{"type", "object"}, {"description", "rejected: the reply's fields"}}},
           {"compensation",
            {{"type", "string"},
             {"enum", json::array{"queued", "unavailable"}},
             {"description",
              "an unknown outcome of an operation with a compensation: queued in the journal "
              "(compensation_id), or unavailable (nothing undoes the call)"}}},
           {"compensation_id",
            {{"type", "string"},
             {"description", "the compensation's message: GET /v1/messages/{id}"}}}}}};
  json::object parameters{
      {"Idempotency-Key",
       {{"name", "Idempotency-Key"},
        {"in", "header"},
        {"required", false},
        {"description",
         "the same key and body again (same caller, within --idempotency-window-ms) gets the "
         "first answer again, marked Idempotent-Replayed: true, without a second wire message; "
         "another body: 422 idempotency_key_reused; the first still in flight: 409 in_progress "
         "(docs/idempotency.md)"},
        {"schema", {{"type", "string"}, {"minLength", 1}, {"maxLength", 257}}}}},
      {"Request-Timeout",
       {{"name", "Request-Timeout"},
        {"in", "header"},
        {"required", false},
        {"description",
         "the caller's deadline in milliseconds, capped by --max-timeout-ms; "
         "default: the operation's timeout_ms"},
        {"schema", {{"type", "integer"}, {"minimum", 1}}}}},
      {"X-Request-Id",
       {{"name", "X-Request-Id"},
        {"in", "header"},
        {"required", false},
        {"description", "echoed in the answer and the call's log line; one is made when absent"},
        {"schema",
         {{"type", "string"},
          {"minLength", 1},
          {"maxLength", 200},
          {"pattern", "^[\\x21-\\x7e]+$"}}}}},
      {"Prefer",
       {{"name", "Prefer"},
        {"in", "header"},
        {"required", false},
        {"description",
         "respond-async: with a journal (serve --journal), 202 once the call is durable, "
         "delivered later (docs/journal.md); without one, answered as any call"},
        {"schema", {{"type", "string"}}}}},
      {"X-Dragoman-Trace",
       {{"name", "X-Dragoman-Trace"},
        {"in", "header"},
        {"required", false},
        {"description", "1: a wire trace of this call (only with --allow-trace-header)"},
        {"schema", {{"type", "string"}, {"enum", json::array{"0", "1"}}}}}}};
  json::object headers{
      {"X-Request-Id",
       {{"description", "the request's X-Request-Id, or the one dragoman made"},
        {"schema", {{"type", "string"}}}}},
      {"X-Dragoman-Attempts",
       {{"description", "upstream attempts made for the call"},
        {"schema", {{"type", "integer"}, {"minimum", 0}}}}},
      {"Retry-After",
       {{"description", "seconds before a retry may succeed"},
        {"schema", {{"type", "integer"}, {"minimum", 0}}}}},
      {"WWW-Authenticate",
       {{"description", "the scheme the door takes: Bearer"}, {"schema", {{"type", "string"}}}}}};
  json::object security{
      {"bearer",
       {{"type", "http"},
        {"scheme", "bearer"},
        {"description",
         "a token of --door-tokens; needed only when the door is configured with tokens"}}}};
  json::object accepted{{"type", "object"},
                        {"required", json::array{"id", "state", "location"}},
                        {"properties",
                         {{"id", {{"type", "string"}}},
                          {"state", {{"type", "string"}, {"enum", json::array{"queued"}}}},
                          {"location", {{"type", "string"}}}}}};
  json::object message{
      {"type", "object"},
      {"required", json::array{"id", "operation", "state", "attempts", "created_at"}},
      {"properties",
       {{"id", {{"type", "string"}}},
        {"operation", {{"type", "string"}}},
        {"state",
         {{"type", "string"},
          {"enum", json::array{"queued", "sending", "delivered", "failed", "expired", "dead",
                               "discarded"}}}},
        {"attempts", {{"type", "integer"}, {"minimum", 0}}},
        {"created_at", {{"type", "string"}, {"format", "date-time"}}},
        {"updated_at", {{"type", "string"}, {"format", "date-time"}}},
        {"next_attempt_at", {{"type", "string"}, {"format", "date-time"}}},
        {"order_key", {{"type", "string"}}},
        {"control_id", {{"type", "string"}}},
        {"reply", {{"type", "object"}, {"description", "delivered: the host's reply, mapped"}}},
        {"error", {{"type", "object"}, {"description", "the last problem"}}}}}};
  return {{"schemas", json::object{{"Problem", std::move(problem)},
                                   {"Accepted", std::move(accepted)},
                                   {"Message", std::move(message)}}},
          {"parameters", std::move(parameters)},
          {"headers", std::move(headers)},
          {"securitySchemes", std::move(security)}};
}

json::object probe(std::string_view summary, bool ready) {
  json::object status_schema{{"type", "object"}};
  status_schema["properties"] = json::object{{"status", json::object{{"type", "string"}}},
                                             {"upstream", json::object{{"type", "string"}}}};
  json::object ok{{"description", ready ? "ready" : "alive"}};
  ok["content"] = json::object{{"application/json", json::object{{"schema", status_schema}}}};
  json::object responses{{"200", std::move(ok)}};
  if (ready)
    responses["503"] = json::object{{"description", "not ready (see docs/observability.md)"}};
  json::object get{{"summary", summary}, {"tags", json::array{"health"}}};
  get["responses"] = std::move(responses);
  return {{"get", std::move(get)}};
}

json::object message_item() {
  json::object ok{{"description", "the message"},
                  {"content", json::object{{"application/json",
                                            json::object{{"schema", ref("schemas", "Message")}}}}}};
  json::object get{
      {"operationId", "read_message"},
      {"summary", "an asynchronous call's state and outcome"},
      {"tags", json::array{"messages"}},
      {"parameters",
       json::array{json::object{
           {"name", "id"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}}}},
      {"security", json::array{json::object{}, json::object{{"bearer", json::array{}}}}},
      {"responses", json::object{{"200", std::move(ok)},
                                 {"404", problem_response("no such message, or no journal",
                                                          {"not_found"}, nullptr)}}}};
  return {{"get", std::move(get)}};
}

json::object operation_item(const codecs::operation& op, json::object& schemas) {
  const std::string req_name = op.name + ".request", rep_name = op.name + ".reply";
  schemas[req_name] = request_schema(op.request, req_name);
  schemas[rep_name] = reply_schema(op.reply, rep_name);

  std::string about = std::string(op.idempotent ? "Idempotent: retried on another endpoint "
                                                  "when an attempt fails. "
                                                : "Not idempotent: never sent twice. ") +
                      "Timeout " + std::to_string(op.timeout.count()) + " ms unless " +
                      "Request-Timeout says otherwise.";
  if (auto filled = filled_by_dragoman(op.request); !filled.empty())
    about += " dragoman fills: " + filled + ".";

  json::object ok{
      {"description", "the host's reply, mapped"},
      {"headers", json::object{{"X-Request-Id", ref("headers", "X-Request-Id")},
                               {"X-Dragoman-Attempts", ref("headers", "X-Dragoman-Attempts")}}},
      {"content",
       json::object{{"application/json", json::object{{"schema", ref("schemas", rep_name)}}}}}};
  const json::value rejected_data = ref("schemas", rep_name);
  json::object responses;
  const bool rejection_in_200 = op.result.field && op.result.rejected_status == 200;
  if (rejection_in_200) {
    json::object rej = problem_response("", {"rejected"}, &rejected_data);
    ok["content"].as_object()["application/problem+json"] =
        rej["content"].as_object()["application/problem+json"];
    ok["description"] = "the host's reply, mapped; a rejection by the host as problem+json";
  }
  responses["200"] = std::move(ok);
  responses["202"] = json::object{
      {"description",
       "Prefer: respond-async, with a journal: the call is durable, delivered later"},
      {"headers",
       json::object{{"Location", json::object{{"schema", {{"type", "string"}}}}},
                    {"Preference-Applied", json::object{{"schema", {{"type", "string"}}}}}}},
      {"content",
       json::object{{"application/json", json::object{{"schema", ref("schemas", "Accepted")}}}}}};
  responses["400"] =
      problem_response("malformed request (JSON, headers)", codes_with_status(400), nullptr);
  responses["405"] = problem_response("not POST", {"method_not_allowed"}, nullptr);
  responses["413"] =
      problem_response("body over --max-body-bytes", codes_with_status(413), nullptr);
  json::object unauthenticated = problem_response(
      "with --door-tokens: no known bearer token (and no verified client certificate)",
      codes_with_status(401), nullptr);
  unauthenticated["headers"].as_object()["WWW-Authenticate"] = ref("headers", "WWW-Authenticate");
  responses["401"] = std::move(unauthenticated);
  responses["403"] = problem_response("with --policy: the client may not call this operation",
                                      codes_with_status(403), nullptr);
  responses["429"] = problem_response("with --policy: the client is over its rate",
                                      codes_with_status(429), nullptr);
  std::vector<std::string> unprocessable{"invalid_field"};
  if (op.result.field && !rejection_in_200) unprocessable.emplace_back("rejected");
  unprocessable.emplace_back("idempotency_key_reused");
  responses["422"] = problem_response(
      "invalid_field: a field is missing or does not fit (detail names it); rejected: the host "
      "said no (legacy_code, data); idempotency_key_reused: the Idempotency-Key came with another "
      "body before",
      unprocessable, rejection_in_200 ? nullptr : &rejected_data);
  responses["409"] = problem_response("Idempotency-Key: the first call with this key is in flight",
                                      codes_with_status(409), nullptr);
  responses["502"] = problem_response("the host answered what the profile cannot read",
                                      codes_with_status(502), nullptr);
  responses["503"] =
      problem_response("no endpoint can take the call now", codes_with_status(503), nullptr);
  responses["504"] =
      problem_response("no reply within the deadline", codes_with_status(504), nullptr);

  json::object post{
      {"operationId", op.name},
      {"summary", op.name},
      {"description", about},
      {"tags", json::array{"operations"}},
      {"parameters",
       json::array{ref("parameters", "Request-Timeout"), ref("parameters", "X-Request-Id"),
                   ref("parameters", "Prefer"), ref("parameters", "X-Dragoman-Trace"),
                   ref("parameters", "Idempotency-Key")}},
      // No requirement, or a bearer token: which one is the deployment's choice.
      {"security", json::array{json::object{}, json::object{{"bearer", json::array{}}}}},
      {"requestBody",
       {{"required", false},
        {"description", "an empty body is an empty object"},
        {"content", {{"application/json", {{"schema", ref("schemas", req_name)}}}}}}},
      {"responses", std::move(responses)}};
  return {{"post", std::move(post)}};
}

}  // namespace

json::object openapi_document(const codecs::profile& p, const openapi_options& o) {
  json::object comps = components();
  json::object& schemas = comps["schemas"].as_object();
  json::object paths;
  for (const auto& op : p.operations) {
    if (op.internal || op.dir == codecs::direction::inbound) continue;
    paths["/v1/ops/" + op.name] = operation_item(op, schemas);
  }
  paths["/v1/messages/{id}"] = message_item();
  paths["/healthz"] = probe("the process is alive", false);
  paths["/readyz"] = probe("ready to serve calls", true);

  std::string description = p.description.empty() ? "" : p.description + ". ";
  description += "Generated by dragoman " DRAGOMAN_VERSION " from the profile " + p.name +
                 ": the same operations are served as NDJSON lines on the line door.";
  return {
      {"openapi", "3.1.0"},
      {"info",
       {{"title", "dragoman: " + p.name},
        {"version", DRAGOMAN_VERSION},
        {"description", std::move(description)}}},
      {"servers", json::array{json::object{{"url", o.server_url}}}},
      {"tags", json::array{json::object{{"name", "operations"}}, json::object{{"name", "messages"}},
                           json::object{{"name", "health"}}}},
      {"paths", std::move(paths)},
      {"components", std::move(comps)}};
}

}  // namespace dragoman::bridge
