// The simulated legacy system: decodes requests with the profile and answers from rules, with
// faults for tests. Used by `dragoman simulate` and embedded by `serve` with no upstream.
#pragma once

#include "codecs/profile.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace dragoman::bridge {

// Rules (the --responses file; docs/simulator.md has the full description), as JSON:
// {"rules": [ {"op": "balance", "when": {"account": "99"}, "reply": {"result": "51"},
//              "fault": "delay" | "no_answer" | "close" | "garbage" | "wrong_key",
//              "delay_ms": 200, "garbage": "framed" | "unframed", "times": 1 } ... ],
//  "defaults": {"balance": {"balance": "100.00", ...}},
//  "send": [ {"op": "echo", "every_ms": 1000} ] }
// `when` and `reply` keys are JSON names (from/to) or record names; the first matching rule wins
// (a rule with `times` only for its first N matches); delay_ms applies to any rule and is required
// with fault "delay". A reply field takes, in order: the rule's value, the reply's match constant,
// the same-named request field (echo, so the correlation key comes back), the first success code
// for the result field, the op's "defaults" value, else the field's own default or padding.
// `send` makes the simulator send requests of its own (echo tests) on every connection, every
// every_ms; their answers are counted (simulator_stats::answers).
struct simulator_options {
  std::string listen = "127.0.0.1:0";
  boost::json::object rules;  // parsed --responses file (empty: defaults only)
};

struct simulator_stats {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bad_frames{0};
  // Well-framed payloads that matched no operation (also bad frames): each logged as
  // unrecognised_frame, and answered with the profile's session.unrecognised reply when it has one.
  std::atomic<std::uint64_t> unrecognised{0};
  std::atomic<std::uint64_t> sent{0};     // requests of our own sent (send rules, send_request)
  std::atomic<std::uint64_t> answers{0};  // replies the clients sent to them
};

class simulator {
 public:
  virtual ~simulator() = default;
  // The bound address (with the real port when listen asked for port 0).
  virtual boost::asio::ip::tcp::endpoint local_endpoint() const = 0;
  virtual const simulator_stats& stats() const = 0;
  // Requests seen per operation and key, for tests that count duplicates.
  virtual std::uint64_t requests_for(const std::string& op) const = 0;
  // Sends one request of op (built from its constants, defaults and generators) on every open
  // connection, as a host's echo test; returns how many connections it went to. Throws
  // std::invalid_argument for an unknown op.
  virtual std::size_t send_request(const std::string& op) = 0;
  virtual void stop() = 0;
};

// Binds and starts accepting on ctx; throws std::runtime_error with a clear message on a bad
// address or rules file (start-up, not data path).
std::shared_ptr<simulator> start_simulator(boost::asio::io_context& ctx,
                                           std::shared_ptr<const codecs::profile> profile,
                                           simulator_options options);

}  // namespace dragoman::bridge
