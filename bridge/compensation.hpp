// Unknown outcomes resolved: a call of an operation with a "compensation" (an ISO 8583 purchase)
// that was written to a host and never answered, or whose connection was lost after writing, may
// have been acted on. Its compensation (the reversal) is built from the call's values as the
// profile declares, its own generated values (STAN, times) drawn once, and it is stored in the
// journal to be sent until the host answers it, every attempt the same (docs/journal.md).
#pragma once

#include "bridge/call.hpp"
#include "journal/journal.hpp"

#include <boost/json.hpp>

#include <string>

namespace dragoman::bridge {

// r is an unknown outcome of a call of op that op's compensation resolves: the operation names
// one, the call timed out (or lost its connection) after some of its bytes were written.
bool needs_compensation(const codecs::operation& op, const call_result& r) noexcept;

// The compensation of a call of `original` (made with the app's `data` and the generated values
// `fixed`) as a journal message: {"data": its fields, "fixed": its own generated values,
// "compensates": what it undoes}, its control id set. error says why it cannot be made (a value
// longer than its width, a field the compensating operation refuses).
struct compensation_message {
  journal::new_message message;
  const codecs::operation* op = nullptr;  // the compensating operation
  std::string error;
};
compensation_message make_compensation(call_engine& inner, const codecs::profile& profile,
                                       const codecs::operation& original,
                                       const boost::json::object& data,
                                       const boost::json::object& fixed,
                                       boost::json::object compensates, std::int64_t now_ms);

}  // namespace dragoman::bridge
