// The simulator's rules and answers without I/O: compiling the --responses JSON against a
// profile, matching a request to its rule, and planning the answer's bytes and due time.
#pragma once

#include "codecs/config.hpp"
#include "codecs/pipeline.hpp"
#include "codecs/profile.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dragoman::bridge::sim {

enum class fault_kind { none, delay, no_answer, close, garbage, wrong_key };
enum class garbage_kind { framed, unframed };

// Field index of a message → value text, in the order the rules file wrote them.
using field_values = std::vector<std::pair<std::size_t, std::string>>;

struct compiled_rule {
  std::size_t op_index = 0;
  field_values when;   // request field → expected value
  field_values reply;  // reply field → value
  fault_kind fault = fault_kind::none;
  garbage_kind garbage = garbage_kind::framed;
  std::chrono::milliseconds delay{0};
  std::optional<std::uint64_t> times;  // applies to its first N matches only
};

// A request of our own sent on every connection every `every` (a host's echo test).
struct send_rule {
  std::size_t op_index = 0;
  std::chrono::milliseconds every{1000};
};

struct compiled_rules {
  std::vector<compiled_rule> rules;
  std::vector<field_values> defaults;  // per operation of the profile
  std::vector<send_rule> sends;
};

// Each part of the rules file; mistakes go to diag with their path ("rules[2].fault: ...").
std::vector<compiled_rule> compile_rules(const codecs::profile& p, const boost::json::array& rules,
                                         codecs::diagnostics& diag);
std::vector<field_values> compile_defaults(const codecs::profile& p,
                                           const boost::json::object& defaults,
                                           codecs::diagnostics& diag);
std::vector<send_rule> compile_sends(const codecs::profile& p, const boost::json::array& sends,
                                     codecs::diagnostics& diag);

// The whole rules file (an empty object: defaults only). Throws std::runtime_error
// "simulator rules: <path>: <reason>; ..." listing every mistake (start-up, not data path).
compiled_rules compile_simulator_rules(const codecs::profile& p, const boost::json::object& root);

// A rule's `when` value against a decoded request value: equal as text (ignoring blank and NUL
// padding) or equal as numbers ("000099" matches "99").
bool values_match(std::string_view actual, std::string_view expected);

// A key that cannot be the one asked for: the last character changed, same length.
void alter_key(std::string& key);

// The compiled rules plus how often each rule with `times` has matched. Thread-safe: the
// connections of all threads share one book.
class rule_book {
 public:
  explicit rule_book(compiled_rules rules);
  // The first rule whose op and `when` match and whose `times` is not used up, or null. Counts
  // the match against the rule's `times`.
  const compiled_rule* match(std::size_t op_index, const codecs::record& request);
  const field_values& defaults_for(std::size_t op_index) const { return rules_.defaults[op_index]; }
  const std::vector<send_rule>& sends() const noexcept { return rules_.sends; }

 private:
  compiled_rules rules_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> hits_;  // per rule
};

enum class answer_action { send, skip, close };

// One answer in a connection's queue: written (or skipped, or the connection closed) in order,
// not before due.
struct planned {
  answer_action what = answer_action::send;
  std::chrono::steady_clock::time_point due;
  codecs::byte_buffer bytes;
};

// What an answer is planned from.
struct answer_input {
  const codecs::profile& profile;
  const codecs::operation& op;
  const codecs::record& request;
  const compiled_rule* rule;                  // null: the plain answer
  const field_values& defaults;               // the op's "defaults"
  std::chrono::steady_clock::time_point now;  // the delay counts from here
};

// Per-connection working space, kept to reuse its buffers; the random source makes garbage.
struct answer_scratch {
  explicit answer_scratch(std::minstd_rand::result_type seed) : random(seed) {}
  codecs::record reply;
  codecs::record probe;
  codecs::byte_buffer payload;
  std::minstd_rand random;
};

// The reply record, field by field: constant, rule value, match constant, echo, success code
// (build_reply gives all but the rule's values), then the op's defaults, generated counters and
// field defaults; with fault wrong_key, the correlation key altered.
void build_answer_record(const answer_input& in, codecs::generation_context& gen,
                         codecs::record& reply);

// Bytes that look like an answer but are none: framed, the frame shape with a payload no message
// of the profile decodes; unframed, bytes the framing refuses or never completes. payload_size
// is the real answer's payload size, so framed garbage has a plausible length.
codecs::byte_buffer make_garbage(const codecs::profile& p, garbage_kind kind,
                                 std::size_t payload_size, answer_scratch& scratch);

// The answer to one request: skip (no_answer), close, or the encoded reply (or garbage), due at
// now + the rule's delay. An error when the reply cannot be encoded: the caller sends nothing, as
// a host that chokes on its own reply.
codecs::result<planned> plan_answer(const answer_input& in, codecs::generation_context& gen,
                                    answer_scratch& scratch);

}  // namespace dragoman::bridge::sim
