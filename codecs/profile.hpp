// A compiled profile: one legacy protocol dialect, validated once and then immutable.
#pragma once

#include "codecs/charset.hpp"
#include "codecs/checksum.hpp"
#include "codecs/framing.hpp"
#include "codecs/layout.hpp"
#include "codecs/length_stage.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::codecs {

enum class generator_kind { none, counter, timestamp };

// Where a counter starts (the profile's "start"): a number (the same values in every process, for
// tests and fixed vectors), the wall clock ("time", the default) or a random point ("random").
// codecs/correlation_key.hpp says how each turns into values.
enum class counter_origin { number, clock, random };

// The common (layout-independent) part of a field: where its value comes from and goes to.
struct field_spec {
  std::string name;                     // record name, unique within the message
  std::string from;                     // request: JSON path ("patient.id"); empty if none
  std::string to;                       // reply: JSON path; empty if not given to the app
  std::optional<std::string> constant;  // "value": always this
  std::optional<std::string> default_value;
  bool required = false;
  bool sensitive = false;  // masked in logs, traces and admin output
  // array: a JSON array carried in the record as its compact JSON text; the layout expands it
  // and judges its elements (objects for repeating groups such as HL7 OBX segments, integers or
  // booleans for binary arrays such as Modbus registers and coils).
  enum class json_kind { string, number, boolean, array } json = json_kind::string;
  generator_kind generate = generator_kind::none;
  std::size_t generator_slot = 0;   // index of this counter in the profile's counters
  std::uint32_t counter_width = 6;  // counter: digits
  std::uint64_t counter_start = 1;
  counter_origin origin = counter_origin::number;  // the profile compiler's default is clock
  std::uint64_t counter_wrap = 999999;             // largest value before wrapping to counter_start
  std::string timestamp_format;                    // strftime-like: %Y %m %d %H %M %S %y %j
  bool timestamp_utc = true;
  // Further names the app may give the field by in a request (an open dictionary's "f18" and
  // the dictionary's own name); replies use reply_name().
  std::vector<std::string> aliases;

  // The name the app knows the field by: from/to when set, else the record name.
  std::string_view request_name() const noexcept { return from.empty() ? name : from; }
  std::string_view reply_name() const noexcept { return to.empty() ? name : to; }
};

// What a request does with a JSON field that names none of its fields ("unknown_fields"):
// reject it (invalid_field naming every such field), ignore it, or, for a layout with a
// dictionary (ISO 8583), take any field of the dictionary as well as the listed ones (fields in
// neither are rejected) and decode every dictionary field found on the wire.
enum class unknown_fields { reject, ignore, dictionary };

// One name an app may use in a request: a field's `from` path or alias ("patient.id"), or an
// object such a path passes through ("patient"). A message keeps them sorted by name.
struct request_name {
  std::string name;
  std::uint32_t field = 0;  // index into message_def::fields (leaves only)
  bool object = false;      // a path prefix: its value must be a JSON object
};

struct message_def {
  std::string path;  // "operations.balance.request", for errors and admin
  bool is_request = true;
  unknown_fields unknown = unknown_fields::reject;
  std::vector<field_spec> fields;
  std::size_t listed_fields = 0;  // fields[0, listed) are the profile's; the rest its dictionary's
  std::vector<request_name> request_names;  // sorted; built by index_request_names
  std::unique_ptr<layout> codec;
  std::vector<std::pair<std::size_t, std::string>> match;  // field index → constant to recognise it
  std::optional<std::size_t> correlation_field;            // the generated part of the key
  std::vector<std::size_t> correlation_key_fields;         // every part, correlation_field first
  // An operation's own correlation (its "correlation"): "operation" gives every message of it
  // this one key (one in flight per connection: a sign-on's reply is the next of its kind);
  // "none": no key at all (a session reject, found by the sequence number it refers to).
  std::string correlation_constant;
  bool correlation_none = false;
  // session.sequence: the field stamped with the connection's next outgoing number (and checked
  // on what is read), the field that refers to the number of a message it answers, the sign-on's
  // reset flag and the timestamps written again at write time. Absent: none.
  std::optional<std::size_t> sequence_field;
  std::optional<std::size_t> reference_field;
  std::optional<std::size_t> reset_field;
  std::vector<std::size_t> stamp_time_fields;
  // session.sequence.possible_duplicate: the flag of a message sent again (FIX PossDupFlag 43).
  std::optional<std::size_t> possible_duplicate_field;

  std::optional<std::size_t> index_of(std::string_view field_name) const noexcept;
  // The entry for an app's name, or null.
  const request_name* find_request_name(std::string_view name) const noexcept;
  // Fills request_names from the fields' `from` paths and aliases.
  void index_request_names();
  // The names an app may give, for error messages: "account, amount" (listed fields only).
  std::string listed_request_names() const;
};

// How a reply's legacy result code maps to success or a business rejection.
struct result_rule {
  std::optional<std::size_t> field;          // reply field holding the code; none = always success
  std::vector<std::string> success;          // codes meaning success
  std::optional<std::size_t> message_field;  // reply field with the host's text, passed along
  int rejected_status = 422;                 // HTTP status of a rejection: 422 or 200
  // Names of the codes ("02" -> "illegal data address"): a rejection's message when the reply
  // carries no text of its own.
  std::vector<std::pair<std::string, std::string>> code_names;
};

// A value put into a reply built by dragoman (session.unrecognised, an inbound operation's
// reply): a text, a request field's value (plus a number), or the failure's text.
struct reply_value {
  std::size_t field = 0;            // reply field
  std::string text;                 // the value, when from is empty and failure is false
  std::optional<std::size_t> from;  // a request field whose value is taken
  std::int64_t add = 0;             // added to it as a number, keeping its width
  bool failure = false;             // {"from": "$failure"}: why the delivery failed (negative)
};

// Who starts an operation: the app (outbound, the default), the host (inbound), or either.
enum class direction { outbound, inbound, both };

// An operation the host sends (the "inbound" section): how dragoman answers it.
struct inbound_spec {
  std::vector<reply_value> reply;  // on top of build_reply, before the app's fields
  // The answer when the app fails (non-2xx, timeout, unreachable, no --deliver): the reply's
  // values with these on top. Absent ("negative": null): nothing is answered.
  bool negative = false;
  std::vector<reply_value> negative_reply;
  // Request fields (one or more, e.g. STAN and terminal id): a re-sent message with the same
  // values gets the same reply. Empty: no deduplication.
  std::vector<std::size_t> dedupe_key;
  std::chrono::milliseconds dedupe_window{600000};
  // "answer": false: nothing is ever written back (FIX acknowledges no ExecutionReport).
  bool answer = true;
};

// "delivery": how the journal delivers the operation's asynchronous calls (docs/journal.md).
struct delivery_spec {
  enum class ordering { parallel, per_key, global };
  ordering order = ordering::parallel;
  std::uint32_t key_field = 0;  // per_key: the request field whose value is the queue's key
  std::string key;              // its request name
  int max_attempts = 5;
  // Whether the profile says max_attempts: without it, the host's messages kept in the journal
  // are delivered to the app until it accepts them (no attempt limit); calls stop at 5.
  bool max_attempts_given = false;
  std::chrono::milliseconds backoff_min{500}, backoff_max{60000};
  std::chrono::milliseconds ttl{0};  // 0: no time to live
  // Codes (call codes by name) after which the message is sent again; the codes that say no byte
  // reached a host (upstream_unavailable, overloaded, rate_limited) always are.
  std::vector<std::string> retry_on;
  bool dead_blocks_queue = false;  // "on_dead": "wait" (true) or "move_aside"
};

// "compensation": the operation sent to undo a call whose outcome is unknown (docs/journal.md),
// and how its request is built from the original request's values (profile_compensation.cpp).
struct compensation_spec {
  // One piece of a value: an original request field's value (left-padded with `pad` to `width`
  // when width is set) or a text.
  struct part {
    std::optional<std::size_t> from;  // index into the original operation's request.fields
    std::string text;
    std::size_t width = 0;  // 0: as it is
    char pad = '0';
  };
  struct value {
    std::string target;  // a request name of the compensating operation
    std::vector<part> parts;
    bool single = false;  // one bare field: left out when the original has no value for it
  };
  std::optional<std::size_t> operation;  // index into profile::operations; none: no compensation
  std::string operation_name;
  std::vector<value> fields;
};

struct operation {
  std::string name;
  std::size_t index = 0;
  bool idempotent = false;
  bool internal = false;  // session traffic: apps may not call it (unknown_operation)
  direction dir = direction::outbound;
  inbound_spec inbound;  // for inbound and both
  // session.unmatched_replies: a reply of this operation that answers no call (a later fill) is
  // read again as this inbound operation's request and delivered to the app.
  std::optional<std::size_t> unmatched_as;
  // Some operation's unmatched_as names this one (set when the profile is compiled): its messages
  // are read only when asked for (decode_payload's only_op), not as a candidate of every frame.
  bool reads_unmatched = false;
  bool receives() const noexcept { return dir != direction::outbound; }
  std::chrono::milliseconds timeout{5000};
  // "serialize_by": request fields (indices into request.fields) whose values make a key; at
  // most one call per key value is in flight (operations naming the same fields share keys).
  std::vector<std::size_t> serialize_by;
  delivery_spec delivery;
  compensation_spec compensation;
  message_def request;
  message_def reply;
  result_rule result;
};

// sequential: one call in flight per connection; ordered: many in flight, replies in request
// order (pipelining, as memcached answers); field: many in flight, matched by a key field.
enum class correlation_mode { sequential, ordered, field };

struct correlation_spec {
  correlation_mode mode = correlation_mode::sequential;
  std::string field;  // record field name in requests and replies (mode field); generated
  std::vector<std::string> also;  // further key fields copied from request to reply (ISO 8583: 41)
  // The most calls in flight on one connection the peer accepts (field and ordered modes); 0: no
  // limit of the profile's own (serve's --max-in-flight-per-connection applies).
  std::size_t max_in_flight = 0;
};

// upstream.tls: TLS toward the host (the --tls* flags override each key). Paths as written
// (relative to the working directory).
struct upstream_tls_spec {
  bool enabled = false;  // the section is present
  std::string ca, cert, key, server_name, ciphers;
  std::string min_version = "1.2";  // "1.2" or "1.3"
};

// A rate of messages toward the host: tokens per second and a burst; rate 0: not paced.
struct pacing_rate {
  double rate = 0;
  std::uint32_t burst = 1;
};

// upstream.pacing: rates per endpoint (every message sent to one endpoint) and per operation
// (its messages to one endpoint), and how many calls may wait for a turn in each bucket.
struct upstream_pacing_spec {
  pacing_rate endpoint;
  std::vector<std::pair<std::string, pacing_rate>> operations;  // by operation name
  std::size_t queue = 1000;
  bool enabled() const noexcept { return endpoint.rate > 0 || !operations.empty(); }
};

struct upstream_defaults {
  std::vector<std::string> endpoints;  // "host:port"
  upstream_tls_spec tls;
  upstream_pacing_spec pacing;
  std::chrono::milliseconds connect_timeout{2000};
  std::size_t connections = 2;
  std::chrono::milliseconds max_timeout{30000};  // cap on a caller's requested deadline
};

// The session layer (the "session" section): operations exchanged on every connection besides
// the apps' calls. Indices into profile::operations; absent: none.
struct session_spec {
  std::optional<std::size_t> sign_on;   // sent on connect; calls flow only after its success
  std::optional<std::size_t> sign_off;  // sent before a connection is closed on purpose
  std::optional<std::size_t> echo;      // sent after heartbeat_interval of silence
  std::chrono::milliseconds heartbeat_interval{30000};  // 0: no heartbeats
  std::chrono::milliseconds echo_timeout{5000};         // an echo unanswered this long: dead
  std::vector<std::size_t> answer;  // operations whose requests the peer sends and we answer
  // "unrecognised": a frame that matches no operation is read as this operation's request and
  // answered with its reply (build_reply), with unrecognised_reply's values on top: the
  // protocol's negative answer (HL7 ACK AR, ISO 8583 response code 30). Absent: not answered.
  std::optional<std::size_t> unrecognised;
  std::vector<reply_value> unrecognised_reply;

  // "sequence": every message dragoman writes carries the connection's next outgoing number in
  // `field`, stamped at write time; the peer's numbers are checked; both kept in state_file.
  struct sequence_spec {
    bool enabled = false;
    std::string field;                    // e.g. msg_seq_num (FIX 34)
    std::string reference;                // a reply field naming the number it answers (FIX 45)
    std::vector<std::string> stamp_time;  // timestamp fields generated again at write time
    std::string state_file;               // empty: kept in memory only
    std::string reset_field;  // non-empty: every sign-on restarts both numbers at 1 and carries
    std::string reset_value;  // this value in reset_field (FIX 141=Y)
    // "possible_duplicate": the field and value that mark a message sent again (FIX 43=Y).
    std::string possible_duplicate_field, possible_duplicate_value;
    // "resend_request": the operation whose request asks for messages again from `begin` to
    // `end` (end_value: to the last one): sent on a gap, and read from the peer (FIX 35=2).
    std::optional<std::size_t> resend_op;
    std::string resend_begin, resend_end, resend_end_value;
    // "sequence_reset": the operation whose request moves the peer's expected number to
    // `new_number`, filling a gap when gap_fill_field holds gap_fill_value (FIX 35=4, 36, 123=Y):
    // read from the peer, and sent (gap fill) to answer the peer's resend request.
    std::optional<std::size_t> reset_op;
    std::string reset_new_number, gap_fill_field, gap_fill_value;
    // "too_low": the operation sent (its `text` field saying expected and received) before
    // closing the connection when the peer's number is too low without possible_duplicate.
    std::optional<std::size_t> too_low_op;
    std::string too_low_text;
  } sequence;
  // Operations whose replies also come unasked (FIX's own Heartbeats): such a reply that answers
  // no message of ours is taken silently.
  std::vector<std::size_t> consume;
  // Operations whose replies may answer a call of any operation (FIX Reject, BusinessMessageReject,
  // OrderCancelReject): the call is rejected with the code of their result field.
  std::vector<std::size_t> rejects;

  bool signs_on() const noexcept { return sign_on.has_value(); }
};

struct profile {
  std::string name;
  std::string description;
  std::unique_ptr<framer> framing;
  const charset* text_charset = nullptr;
  std::unique_ptr<length_stage> length;      // null: none; runs before the checksum
  std::unique_ptr<checksum_stage> checksum;  // null: none
  correlation_spec correlation;
  upstream_defaults upstream;
  session_spec session;
  std::vector<operation> operations;
  std::size_t counter_count = 0;  // generator slots used by counters across all messages
  boost::json::object source;     // the profile as written (comments stripped)

  const operation* find_operation(std::string_view name) const noexcept;
  // The compiled profile as readable JSON: operations, fields, stages, policies.
  boost::json::object describe() const;
};

class diagnostics;
class config_object;
// The reply values of an object {field: value | {"from": request field, "add": N}} at path, for
// op's reply (profile_inbound.cpp); allow_failure accepts {"from": "$failure"}.
std::vector<reply_value> compile_reply_values(const boost::json::object& values,
                                              const std::string& path, const operation& op,
                                              bool allow_failure, diagnostics& diag);
// "direction" and "inbound" of an operation whose request and reply are compiled.
void compile_inbound(config_object& o, operation& op, diagnostics& diag);
// The "upstream" section into out.upstream (profile_upstream.cpp).
void compile_upstream(const boost::json::object& obj, profile& out, diagnostics& diag);
// Once the operations are compiled: upstream.pacing.operations name operations that exist.
void check_upstream_pacing(const profile& out, diagnostics& diag);
// An operation's "serialize_by" (request field names) into op.serialize_by.
void compile_serialize_by(config_object& o, operation& op, diagnostics& diag);
// The "session" section into out.session, once the operations are compiled (profile_session.cpp);
// its "sequence" into out.session.sequence and the messages' sequence fields.
void compile_session(const boost::json::object& obj, profile& out, diagnostics& diag);
void compile_sequence(const boost::json::object& obj, profile& out, diagnostics& diag);
// An operation's "delivery" into op.delivery (profile_delivery.cpp).
void compile_delivery(config_object& o, operation& op, diagnostics& diag);

// Every operation's "compensation" (ops: the profile's "operations" object), once every
// operation is compiled: the operation it names and the fields it is given, checked.
void compile_compensations(const boost::json::object& ops, profile& out, diagnostics& diag);
// The compensating call's fields (its request names → values) for a call of `original` made
// with the app's `data` and the generated values `fixed` (record field names → values, as
// call_engine::prepare pins them). Empty error on success; else why it cannot be built.
struct compensation_request {
  boost::json::object data;
  std::string error;
};
compensation_request build_compensation(const operation& original, const boost::json::object& data,
                                        const boost::json::object& fixed);

struct compile_output {
  std::shared_ptr<const profile> compiled;  // null when errors is not empty
  std::vector<std::string> errors;          // every mistake as "path: reason"
};

// From JSON text with comments and trailing commas allowed; a syntax error gives line and column.
compile_output compile_profile(std::string_view json_text);
// Reads a file; an unreadable file is one error naming it.
compile_output load_profile(const std::string& file_path);

}  // namespace dragoman::codecs
