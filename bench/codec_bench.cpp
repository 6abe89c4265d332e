// Measures encode + decode of one operation of a profile: nanoseconds and heap allocations per
// message in steady state. Run by scripts/bench-codecs; not a test (timings are not asserted).
#include "codecs/pipeline.hpp"
#include "tests/codecs/allocation_counter.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace dragoman::codecs;
namespace json = boost::json;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: codec_bench PROFILE OP FIELDS_JSON [ITERATIONS]\n");
    return 2;
  }
  auto compiled = load_profile(argv[1]);
  if (!compiled.compiled) {
    for (auto& e : compiled.errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 1;
  }
  const profile& p = *compiled.compiled;
  const operation* op = p.find_operation(argv[2]);
  if (!op) {
    std::fprintf(stderr, "unknown operation %s\n", argv[2]);
    return 1;
  }
  json::object fields = json::parse(argv[3]).as_object();
  const long iterations = argc > 4 ? std::atol(argv[4]) : 1000000;

  counter_generation_context gen(p);
  record req, back;
  byte_buffer payload, frame;
  auto decoder = p.framing->make_decoder();
  std::size_t frame_bytes = 0;
  auto round_trip = [&]() -> bool {
    frame.clear();
    if (!map_request(op->request, fields, gen, req)) return false;
    if (!encode_message(p, op->request, req, payload, frame)) return false;
    frame_result fr = decoder->decode(frame);
    if (fr.status != frame_status::frame) return false;
    auto d = decode_payload(p, fr.payload, back, decode_preference::requests_first, op);
    frame_bytes = frame.size();
    return d.has_value();
  };
  for (int i = 0; i < 1000; ++i)
    if (!round_trip()) {
      std::fprintf(stderr, "round trip failed\n");
      return 1;
    }
  std::size_t alloc_before = allocation_counter::allocations.load();
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) round_trip();
  auto elapsed = std::chrono::steady_clock::now() - start;
  std::size_t allocs = allocation_counter::allocations.load() - alloc_before;
  double ns = std::chrono::duration<double, std::nano>(elapsed).count() / iterations;
  std::printf(
      "{\"profile\":\"%s\",\"op\":\"%s\",\"frame_bytes\":%zu,\"iterations\":%ld,"
      "\"ns_per_round_trip\":%.1f,\"allocations_per_round_trip\":%.3f}\n",
      p.name.c_str(), op->name.c_str(), frame_bytes, iterations, ns,
      static_cast<double>(allocs) / iterations);
  return 0;
}
