// The pipeline: JSON fields ↔ Record ↔ payload ↔ frame, through mapping, layout, checksum and
// framing. Pure: the clock and the counters come from the caller through generation_context.
#pragma once

#include "codecs/correlation_key.hpp"
#include "codecs/profile.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <memory>
#include <string_view>

namespace dragoman::codecs {

// Supplies generated values. The bridge's implementation keeps correlation keys unique among the
// calls in flight; the offline tools use a counter_bank (counters that start from each field's
// origin: the clock by default, so ids do not repeat from one run to the next).
class generation_context {
 public:
  virtual ~generation_context() = default;
  virtual std::uint64_t next_counter(const field_spec& field) = 0;
  virtual std::chrono::system_clock::time_point now() = 0;
};

// Thread-safe counters, one per generator slot of a profile (a counter_bank), and the system
// clock: for the offline tools, the simulator and tests.
class counter_generation_context final : public generation_context {
 public:
  explicit counter_generation_context(const profile& p) : counters_(p) {}
  std::uint64_t next_counter(const field_spec& field) override {
    return counters_.next(field, now());
  }
  std::chrono::system_clock::time_point now() override { return std::chrono::system_clock::now(); }

 private:
  counter_bank counters_;
};

// Receives each stage's output for wire traces; a null sink costs nothing.
class trace_sink {
 public:
  virtual ~trace_sink() = default;
  virtual void stage(std::string_view name, byte_view bytes) = 0;
};

// JSON object → record. Errors name the JSON field (invalid_field, missing_field). Numbers are
// accepted as JSON numbers or strings; generated and constant fields are filled here.
result<void> map_request(const message_def& msg, const boost::json::object& fields,
                         generation_context& gen, record& out);

// A timestamp field's value at `now` (its format, UTC or local), appended to out.
void format_timestamp(std::string& out, const field_spec& f,
                      std::chrono::system_clock::time_point now);

// record → JSON object. Fields with a `to` name are emitted under it; with all_fields, every
// present field is emitted (record name where no `to`/`from` is set), as for `decode`.
// Sensitive values are masked when mask_sensitive is set.
boost::json::object map_reply(const message_def& msg, const record& r, bool all_fields,
                              bool mask_sensitive = false);

// Renders a sensitive value for logs: card-like digit strings keep the first 6 and last 4
// digits, anything else becomes "****".
std::string mask_value(std::string_view value);

// record → payload (the layout and its charset: the passes that validate the fields), replacing
// what payload held; no checksum, no framing. Errors name the field as the app knows it (its JSON
// name). The engine validates a call with it before a connection assigns its correlation key.
result<void> encode_payload(const profile& p, const message_def& msg, const record& r,
                            byte_buffer& payload, trace_sink* trace = nullptr);

// payload (from encode_payload) → frame appended to out: the checksum is applied to payload in
// place, then the framing.
result<void> frame_payload(const profile& p, byte_buffer& payload, byte_buffer& out,
                           trace_sink* trace = nullptr);

// record → complete frame appended to out (encode_payload, then frame_payload). payload is
// scratch.
result<void> encode_message(const profile& p, const message_def& msg, const record& r,
                            byte_buffer& payload, byte_buffer& out, trace_sink* trace = nullptr);

// A frame's payload (after framing) → verified, recognised and decoded.
struct decoded_message {
  const operation* op = nullptr;
  const message_def* msg = nullptr;
  bool is_reply = false;
};

enum class decode_preference { replies_first, requests_first };

// Verifies the checksum, then tries the candidate messages (only `only_op`'s when given) in the
// preferred order: the first whose layout decodes and whose match constants hold wins.
result<decoded_message> decode_payload(const profile& p, byte_view payload, record& out,
                                       decode_preference pref, const operation* only_op = nullptr,
                                       trace_sink* trace = nullptr);

// The reply's classification by the operation's result rule.
struct reply_outcome {
  bool success = true;
  std::string code;     // the legacy result code, when the rule names a field
  std::string message;  // the host's text, when the rule names one
};
reply_outcome classify_reply(const operation& op, const record& reply);

// The plain answer to a request of op, as a well-behaved peer builds it: each reply field takes
// its constant or match value, a generated timestamp the time now (the reply's own, as an ACK's
// MSH-7), else the same-named request field (so the correlation key comes back), else, for the
// result rule's field, the first success code; other fields stay absent.
// The simulator builds on it; the bridge uses it to answer the peer's own echo requests.
void build_reply(const operation& op, const record& request, record& reply);

}  // namespace dragoman::codecs
