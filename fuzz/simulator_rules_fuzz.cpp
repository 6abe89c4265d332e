// The simulator's rules file on arbitrary JSON text against every profile: compiled (mistakes are
// a std::runtime_error at start-up, never a crash), then each rule matched by a request made of
// its own `when` values and its answer planned (encoded, or refused with an error).
#include "fuzz/fuzz_profiles.hpp"

#include "bridge/simulator_rules.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

using namespace dragoman;
namespace sim = dragoman::bridge::sim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const codecs::profile& p = fuzz::pick_profile(data[0]);
  boost::system::error_code ec;
  boost::json::value v =
      boost::json::parse(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), ec);
  if (ec || !v.is_object()) return 0;
  sim::compiled_rules compiled;
  try {
    compiled = sim::compile_simulator_rules(p, v.get_object());
  } catch (const std::runtime_error&) {
    return 0;  // the rules file is refused at start-up with every mistake listed
  }
  std::vector<sim::compiled_rule> rules = compiled.rules;
  sim::rule_book book(std::move(compiled));
  codecs::counter_generation_context gen(p);
  sim::answer_scratch scratch(1);
  codecs::record request;
  const auto now = std::chrono::steady_clock::time_point{};
  // Bounded: one request per rule, and a plain one per operation.
  for (std::size_t i = 0; i < rules.size() + p.operations.size(); ++i) {
    const std::size_t op_index = i < rules.size() ? rules[i].op_index : i - rules.size();
    if (op_index >= p.operations.size()) std::abort();  // compiled rules name real operations
    const codecs::operation& op = p.operations[op_index];
    request.reset(op.request.fields.size());
    if (i < rules.size())
      for (const auto& [field, value] : rules[i].when) request.set(field, value);
    const sim::compiled_rule* rule = book.match(op_index, request);
    sim::answer_input in{p, op, request, rule, book.defaults_for(op_index), now};
    (void)sim::plan_answer(in, gen, scratch);
  }
  return 0;
}
