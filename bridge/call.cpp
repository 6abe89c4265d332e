// The error contract's codes (names, HTTP statuses, titles from the one table) and error results.
#include "bridge/call.hpp"

namespace dragoman::bridge {

std::string_view to_string(call_code c) noexcept {
  switch (c) {
#define DRAGOMAN_CALL_CODE_NAME(name, status, title) \
  case call_code::name:                              \
    return #name;
    DRAGOMAN_CALL_CODES(DRAGOMAN_CALL_CODE_NAME)
#undef DRAGOMAN_CALL_CODE_NAME
  }
  return "unknown";
}

int http_status(call_code c) noexcept {
  switch (c) {
#define DRAGOMAN_CALL_CODE_STATUS(name, status, title) \
  case call_code::name:                                \
    return status;
    DRAGOMAN_CALL_CODES(DRAGOMAN_CALL_CODE_STATUS)
#undef DRAGOMAN_CALL_CODE_STATUS
  }
  return 500;
}

std::string_view title_of(call_code c) noexcept {
  switch (c) {
#define DRAGOMAN_CALL_CODE_TITLE(name, status, title) \
  case call_code::name:                               \
    return title;
    DRAGOMAN_CALL_CODES(DRAGOMAN_CALL_CODE_TITLE)
#undef DRAGOMAN_CALL_CODE_TITLE
  }
  return {};
}

call_result make_error_result(call_code code, std::string message) {
  call_result r;
  r.code = code;
  r.status = http_status(code);
  r.message = std::move(message);
  if (code == call_code::upstream_unavailable || code == call_code::overloaded)
    r.retry_after_seconds = 1;
  return r;
}

}  // namespace dragoman::bridge
