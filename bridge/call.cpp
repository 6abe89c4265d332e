// The error contract's codes (names, HTTP statuses, titles from the one table) and error results.
#include "bridge/call.hpp"

#include "bridge/problem.hpp"

namespace dragoman::bridge {

std::string_view to_string(call_code c) noexcept {
  switch (c) {
#define DRAGOMAN_CALL_CODE_NAME(name, status, retry, title) \
  case call_code::name:                                     \
    return #name;
    DRAGOMAN_CALL_CODES(DRAGOMAN_CALL_CODE_NAME)
#undef DRAGOMAN_CALL_CODE_NAME
  }
  return "unknown";
}

int http_status(call_code c) noexcept {
  switch (c) {
#define DRAGOMAN_CALL_CODE_STATUS(name, status, retry, title) \
  case call_code::name:                                       \
    return status;
    DRAGOMAN_CALL_CODES(DRAGOMAN_CALL_CODE_STATUS)
#undef DRAGOMAN_CALL_CODE_STATUS
  }
  return 500;
}

bool retry_safe(call_code c) noexcept {
  switch (c) {
#define DRAGOMAN_CALL_CODE_RETRY(name, status, retry, title) \
  case call_code::name:                                      \
    return retry;
    DRAGOMAN_CALL_CODES(DRAGOMAN_CALL_CODE_RETRY)
#undef DRAGOMAN_CALL_CODE_RETRY
  }
  return false;
}

std::string_view title_of(call_code c) noexcept {
  switch (c) {
#define DRAGOMAN_CALL_CODE_TITLE(name, status, retry, title) \
  case call_code::name:                                      \
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
  if (retry_safe(code)) r.retry_after_seconds = 1;
  return r;
}

void mark_sent(call_result& r) {
  r.sent = true;
  if (!retry_safe(r.code)) return;
  r.code = call_code::upstream_timeout;
  r.status = http_status(r.code);
  r.retry_after_seconds.reset();
  r.message = "the request was sent and no reply came (" + r.message + ")";
}

}  // namespace dragoman::bridge

namespace dragoman::bridge {

message_answer call_engine::read_message(std::string_view id) const {
  return {404, make_problem("not_found", 404,
                            "no message " + std::string(id) +
                                ": serve keeps messages only with a journal (--journal PATH)")};
}

message_answer call_engine::admin_messages(std::string_view, std::string_view, std::string_view) {
  return {404, make_problem("not_found", 404,
                            "serve keeps messages only with a journal (--journal PATH)")};
}

}  // namespace dragoman::bridge
