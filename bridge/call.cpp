// The error contract's codes: their stable names and HTTP statuses.
#include "bridge/call.hpp"

namespace dragoman::bridge {

std::string_view to_string(call_code c) noexcept {
  switch (c) {
    case call_code::ok:
      return "ok";
    case call_code::bad_request:
      return "bad_request";
    case call_code::unknown_operation:
      return "unknown_operation";
    case call_code::invalid_field:
      return "invalid_field";
    case call_code::payload_too_large:
      return "payload_too_large";
    case call_code::rejected:
      return "rejected";
    case call_code::overloaded:
      return "overloaded";
    case call_code::upstream_unavailable:
      return "upstream_unavailable";
    case call_code::upstream_timeout:
      return "upstream_timeout";
    case call_code::upstream_protocol_error:
      return "upstream_protocol_error";
  }
  return "unknown";
}

int http_status(call_code c) noexcept {
  switch (c) {
    case call_code::ok:
      return 200;
    case call_code::bad_request:
      return 400;
    case call_code::unknown_operation:
      return 404;
    case call_code::invalid_field:
      return 422;
    case call_code::payload_too_large:
      return 413;
    case call_code::rejected:
      return 422;  // the profile may say 200 (result_rule)
    case call_code::overloaded:
      return 503;
    case call_code::upstream_unavailable:
      return 503;
    case call_code::upstream_timeout:
      return 504;
    case call_code::upstream_protocol_error:
      return 502;
  }
  return 500;
}

}  // namespace dragoman::bridge
