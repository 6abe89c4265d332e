// A call as the front doors hand it to the engine, its result, and the error contract's codes.
#pragma once

#include "codecs/profile.hpp"
#include "codecs/record.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace dragoman::bridge {

// The stable codes of the error contract (DESIGN.md); apps model failure from these.
enum class call_code {
  ok,
  bad_request,
  unknown_operation,
  invalid_field,
  payload_too_large,
  rejected,
  overloaded,
  upstream_unavailable,
  upstream_timeout,
  upstream_protocol_error,
};

std::string_view to_string(call_code c) noexcept;
// 200, 400, 404, 422, 413, (rejected: per profile), 503, 503, 504, 502.
int http_status(call_code c) noexcept;

struct call_request {
  std::string op;
  // The app's fields. The doors parse into per-thread scratch memory, so data is valid only until
  // submit() returns: an engine that keeps it copies it (boost::json::object(data, {})).
  boost::json::object data;
  std::string request_id;                            // X-Request-Id or the line's id (for logs)
  std::optional<std::chrono::milliseconds> timeout;  // the app's wish; capped by the engine
  bool trace = false;  // keep the records of this call for a wire trace
};

// What a wire trace of one call needs: the profile the call used and its records (the trace
// re-encodes them with sensitive fields masked, so no secret reaches a log).
struct call_trace {
  std::shared_ptr<const codecs::profile> profile;
  const codecs::operation* op = nullptr;
  codecs::record request;
  codecs::record reply;
  bool has_reply = false;
};

struct call_result {
  call_code code = call_code::ok;
  boost::json::object data;  // reply fields on ok (and on rejected, what the reply carried)
  std::string message;       // human text for errors (names the field for invalid_field)
  std::string legacy_code;   // the host's result code (rejected, and ok when known)
  int status = 200;          // HTTP status to answer with
  int attempts = 0;          // upstream attempts made
  std::optional<int> retry_after_seconds;      // for upstream_unavailable / overloaded
  std::string endpoint;                        // the endpoint of the last attempt ("" if none)
  std::chrono::microseconds upstream_time{0};  // request written → reply read, last attempt
  std::shared_ptr<const call_trace> trace;     // when the request asked for it
};

// Called exactly once per submitted call, on the executor given to submit().
using call_handler = std::function<void(call_result&&)>;

// The translator plus upstream pool: takes a call, answers it exactly once.
class call_engine {
 public:
  virtual ~call_engine() = default;
  virtual void submit(call_request req, boost::asio::any_io_executor caller, call_handler done) = 0;
  // True when at least one upstream connection can carry calls (for /readyz).
  virtual bool ready() const = 0;

  // Every endpoint and connection: state, since when, calls in flight and queued, last error,
  // breaker state (GET /admin/upstreams).
  virtual boost::json::object describe_upstreams() const { return {}; }
  // Engine-wide counters and gauges for /metrics, as {"name": number, ...} plus per-endpoint
  // objects under "endpoints" (see bridge/metrics for the names rendered).
  virtual boost::json::object stats() const { return {}; }
  // New calls use the new profile; connections and calls in flight are kept.
  virtual void reload(std::shared_ptr<const codecs::profile>) {}
  // Stop taking calls; calls in flight may finish until deadline, then get
  // upstream_unavailable; sign off; done() is called once everything is closed.
  virtual void drain(std::chrono::steady_clock::time_point deadline, std::function<void()> done) {
    (void)deadline;
    if (done) done();
  }
};

}  // namespace dragoman::bridge
