// The per-call log line, and observe_call: what the front doors do once per answered call.
#pragma once

#include "bridge/call.hpp"
#include "bridge/call_metrics.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace dragoman::bridge {

// One call as the doors saw it, for the per-call log line.
struct call_observation {
  std::string_view door;  // "http" or "line"
  std::string_view request_id;
  std::string_view op;
  std::string_view client;  // the authenticated client; "" anonymous (not logged then)
  const call_result* result = nullptr;
  call_code code = call_code::ok;  // used when result is null (answered by the door)
  int status = 0;                  // used when result is null
  std::chrono::microseconds total{0};
};

// Records the call in the metrics (when m is not null) and writes its log line at info level:
// {"time","level":"info","event":"call","door","request_id","op","endpoint","attempts",
//  "upstream_us","total_us","code","status"} (and "client" when the caller authenticated) built in
//  a reused per-thread buffer, in one write.
// Never field values, so nothing sensitive.
void observe_call(metrics* m, const call_observation& c);

}  // namespace dragoman::bridge
