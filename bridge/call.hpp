// A call as the front doors hand it to the engine, its result, and the error contract's codes.
#pragma once

#include "codecs/profile.hpp"
#include "codecs/record.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace dragoman::bridge {

// The stable codes of the error contract (DESIGN.md); apps model failure from these. One row per
// code: (name, HTTP status, retry, problem title). Everything that lists the codes is generated
// from this table (the enum, to_string, http_status, retry_safe, problem_title, the metrics' code
// labels), so a new code is one row. rejected's 422 is the default: the profile may say 200
// (result_rule). retry: the code is only ever answered when no byte of the request reached a
// host, so the app may send the call again (those answers carry Retry-After); every other code
// either needs a changed request or may have been acted on by the host.
#define DRAGOMAN_CALL_CODES(X)                                      \
  X(ok, 200, false, "OK")                                           \
  X(bad_request, 400, false, "Bad request")                         \
  X(unknown_operation, 404, false, "Unknown operation")             \
  X(invalid_field, 422, false, "Invalid field")                     \
  X(payload_too_large, 413, false, "Payload too large")             \
  X(rejected, 422, false, "Rejected by the legacy system")          \
  X(overloaded, 503, true, "Overloaded")                            \
  X(upstream_unavailable, 503, true, "Upstream unavailable")        \
  X(upstream_timeout, 504, false, "Upstream timeout")               \
  X(upstream_protocol_error, 502, false, "Upstream protocol error") \
  X(unauthenticated, 401, false, "Unauthenticated")                 \
  X(forbidden, 403, false, "Forbidden")                             \
  X(rate_limited, 429, true, "Rate limited")                        \
  X(idempotency_key_reused, 422, false, "Idempotency key reused")   \
  X(in_progress, 409, false, "In progress")

enum class call_code {
#define DRAGOMAN_CALL_CODE_ENUM(name, status, retry, title) name,
  DRAGOMAN_CALL_CODES(DRAGOMAN_CALL_CODE_ENUM)
#undef DRAGOMAN_CALL_CODE_ENUM
};

// Every code, in the table's order (metrics render their series in it).
inline constexpr call_code all_call_codes[] = {
#define DRAGOMAN_CALL_CODE_VALUE(name, status, retry, title) call_code::name,
    DRAGOMAN_CALL_CODES(DRAGOMAN_CALL_CODE_VALUE)
#undef DRAGOMAN_CALL_CODE_VALUE
};
inline constexpr std::size_t call_code_count = std::size(all_call_codes);

// The code's stable name ("upstream_timeout"); "unknown" for a value outside the table.
std::string_view to_string(call_code c) noexcept;
// The code's HTTP status from the table; 500 for a value outside it.
int http_status(call_code c) noexcept;
// Whether the code's answers invite a retry: nothing reached a host (the table's retry column).
bool retry_safe(call_code c) noexcept;
// The code's problem+json title ("Upstream timeout"); empty for a value outside the table.
std::string_view title_of(call_code c) noexcept;

struct call_request {
  std::string op;
  // The app's fields. The doors parse into per-thread scratch memory, so data is valid only until
  // submit() returns: an engine that keeps it copies it (boost::json::object(data, {})).
  boost::json::object data;
  std::string request_id;                            // X-Request-Id or the line's id (for logs)
  std::optional<std::chrono::milliseconds> timeout;  // the app's wish; capped by the engine
  bool trace = false;  // keep the records of this call for a wire trace
  // The app prefers an answer once the call is durable (Prefer: respond-async, "async":true):
  // an engine with a journal accepts it (202 and the message's location); others answer it as
  // any call (a preference, RFC 7240).
  bool async = false;
  // Values by record field name that the profile would otherwise generate (control ids, trace
  // numbers, times, the correlation key): a journaled call is sent with those it was given when
  // accepted, on every attempt (call_engine::prepare).
  boost::json::object fixed = {};
  // Idempotency-Key (HTTP) or "idempotency_key" (line), already scoped by the door to the
  // caller's identity; empty: none (bridge/idempotency.hpp).
  std::string idempotency_key = {};
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
  std::optional<int> retry_after_seconds;  // for upstream_unavailable / overloaded
  // Some byte of the request was handed to a host's socket, by any attempt (or the host
  // answered): the host may have acted on it. Never with a retry_safe code (see mark_sent).
  bool sent = false;
  std::string endpoint;                        // the endpoint of the last attempt ("" if none)
  std::chrono::microseconds upstream_time{0};  // request written → reply read, last attempt
  std::shared_ptr<const call_trace> trace;     // when the request asked for it
  // An asynchronous call accepted into the journal: where its state is read
  // ("/v1/messages/{id}"), answered 202 with data {"id","state"}.
  std::string location;
  // The answer of an earlier call with the same idempotency key, given again (no wire message).
  bool replayed = false;
  // A call of an operation with a compensation whose outcome is unknown (upstream_timeout, sent):
  // "queued" (the compensation is in the journal as message compensation_id), or "unavailable"
  // (no journal, or it could not be built or stored: nothing undoes the call).
  std::string compensation;
  std::string compensation_id;
};

// A message of the journal as GET /v1/messages/{id} answers it.
struct message_answer {
  int status = 404;
  boost::json::object body;  // the message, or a problem (status not 200)
};

// A failed result with the code's status and the message; not sent. The retry_safe codes
// (upstream_unavailable, overloaded) also say when to try again (retry_after_seconds = 1): both
// usually pass within a second (a breaker's probe, a queue draining), and an app left to guess
// backs off far longer.
call_result make_error_result(call_code code, std::string message);

// The call's bytes reached a host (some attempt wrote them, or it answered): the result says
// sent, and a code that would invite a retry becomes upstream_timeout (504, no Retry-After),
// since the host may have acted on the request though no reply came.
void mark_sent(call_result& r);

// Called exactly once per submitted call, on the executor given to submit(). A copyable
// std::function<void(call_result&&)> with room inside for the doors' closures (a session pointer
// and what the answer needs): submitting a call allocates nothing for its handler. A callable
// larger than inline_size (or that may throw when moved) is kept on the heap, as std::function
// keeps every one that holds a std::shared_ptr.
class call_handler {
 public:
  static constexpr std::size_t inline_size = 128;

  call_handler() noexcept = default;
  call_handler(std::nullptr_t) noexcept {}
  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, call_handler> &&
                                     std::is_invocable_v<D&, call_result&&>>>
  call_handler(F&& f) {
    static_assert(std::is_copy_constructible_v<D>, "a call_handler is copyable");
    if constexpr (fits<D>) {
      ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
    } else {
      D* p = new D(std::forward<F>(f));
      std::memcpy(buf_, &p, sizeof p);
    }
    ops_ = &ops_for<D>;
  }
  call_handler(const call_handler& o) {
    if (o.ops_) o.ops_->copy(o, *this);
  }
  call_handler(call_handler&& o) noexcept {
    if (o.ops_) o.ops_->move(o, *this);
  }
  call_handler& operator=(const call_handler& o) {
    if (this != &o) *this = call_handler(o);
    return *this;
  }
  call_handler& operator=(call_handler&& o) noexcept {
    if (this != &o) {
      reset();
      if (o.ops_) o.ops_->move(o, *this);
    }
    return *this;
  }
  call_handler& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  ~call_handler() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  // As std::function: the callable is invoked as a non-const lvalue. Throws
  // std::bad_function_call when empty.
  void operator()(call_result&& r) const {
    if (!ops_) throw std::bad_function_call();
    ops_->invoke(const_cast<call_handler&>(*this), std::move(r));
  }
  // Whether the callable is held inside (tests).
  bool stored_inline() const noexcept { return ops_ && ops_->inline_storage; }

 private:
  struct ops {
    void (*invoke)(call_handler&, call_result&&);
    void (*copy)(const call_handler&, call_handler&);
    void (*move)(call_handler&, call_handler&) noexcept;  // leaves the source empty
    void (*destroy)(call_handler&) noexcept;
    bool inline_storage;
  };
  alignas(std::max_align_t) unsigned char buf_[inline_size];
  const ops* ops_ = nullptr;

  template <class D>
  static constexpr bool fits =
      sizeof(D) <= inline_size &&
      alignof(D) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<D>;
  template <class D>
  D* target() const noexcept {
    if constexpr (fits<D>) {
      return std::launder(reinterpret_cast<D*>(const_cast<unsigned char*>(buf_)));
    } else {
      D* p;
      std::memcpy(&p, buf_, sizeof p);
      return p;
    }
  }
  template <class D>
  static constexpr ops ops_for = {
      [](call_handler& h, call_result&& r) { (*h.target<D>())(std::move(r)); },
      [](const call_handler& from, call_handler& to) {
        if constexpr (fits<D>) {
          ::new (static_cast<void*>(to.buf_)) D(*from.target<D>());
        } else {
          D* p = new D(*from.target<D>());
          std::memcpy(to.buf_, &p, sizeof p);
        }
        to.ops_ = from.ops_;
      },
      [](call_handler& from, call_handler& to) noexcept {
        if constexpr (fits<D>) {
          D* src = from.target<D>();
          ::new (static_cast<void*>(to.buf_)) D(std::move(*src));
          src->~D();
        } else {
          std::memcpy(to.buf_, from.buf_, sizeof(D*));
        }
        to.ops_ = from.ops_;
        from.ops_ = nullptr;
      },
      [](call_handler& h) noexcept {
        if constexpr (fits<D>)
          h.target<D>()->~D();
        else
          delete h.target<D>();
      },
      fits<D>};
  void reset() noexcept {
    if (const ops* o = std::exchange(ops_, nullptr)) o->destroy(*this);
  }
};

// The translator plus upstream pool: takes a call, answers it exactly once.
class call_engine {
 public:
  virtual ~call_engine() = default;
  virtual void submit(call_request req, boost::asio::any_io_executor caller,
                      call_handler&& done) = 0;
  // True when at least one upstream connection can carry calls (for /readyz).
  virtual bool ready() const = 0;

  // Every endpoint and connection: state, since when, calls in flight and queued, last error,
  // breaker state (GET /admin/upstreams).
  virtual boost::json::object describe_upstreams() const { return {}; }
  // The address the legacy host connects to (--upstream-listen), or "".
  virtual std::string upstream_listen_address() const { return {}; }
  // Engine-wide counters and gauges for /metrics, as {"name": number, ...} plus per-endpoint
  // objects under "endpoints" (bridge/upstream_stats.hpp lists the keys and their metric names).
  virtual boost::json::object stats() const { return {}; }
  // Maps a call as submit() would without sending it: the error to answer, or nothing, and then
  // `pinned` holds the values the profile generated for it (control ids, trace numbers, times,
  // a correlation key) by record field name, and control_id the correlation key or the first
  // counter: a call sent later with `fixed` = `pinned`, and every resend of it, carries the same.
  virtual std::optional<call_result> prepare(const call_request& req, boost::json::object& pinned,
                                             std::string& control_id) {
    (void)req, (void)pinned, (void)control_id;
    return make_error_result(call_code::bad_request, "this engine cannot prepare calls");
  }
  // A message of the journal by id (GET /v1/messages/{id}); 404 without a journal.
  virtual message_answer read_message(std::string_view id) const;
  // The operators' view of the journal (/admin/messages, docs/journal.md): method, the path after
  // "/admin/messages" ("", "/{id}", "/{id}/retry", ...) and the query string; 404 without a
  // journal. The admin endpoints check the admin token before they ask.
  virtual message_answer admin_messages(std::string_view method, std::string_view rest,
                                        std::string_view query);
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
