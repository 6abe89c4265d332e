// Per-call metrics sharded per thread: counting, summing over shards, and their Prometheus
// families.
#include "bridge/call_metrics.hpp"

#include "bridge/sharded_counter.hpp"

#include <algorithm>

namespace dragoman::bridge {

namespace {

constexpr std::string_view other_op_name = "_other";

std::size_t code_index(call_code c) noexcept {
  auto i = static_cast<std::size_t>(c);
  return i < call_code_count ? i : 0;
}

}  // namespace

// ---- histogram ---------------------------------------------------------------------------------

void histogram_cells::observe(std::chrono::microseconds d) noexcept {
  auto us = d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
  std::size_t i = 0;
  while (i < latency_buckets_seconds.size() &&
         static_cast<double>(us) > latency_buckets_seconds[i] * 1e6)
    ++i;
  buckets[i].fetch_add(1, std::memory_order_relaxed);
  sum_us.fetch_add(us, std::memory_order_relaxed);
}

// ---- metrics -----------------------------------------------------------------------------------

struct alignas(64) metrics::shard {
  std::array<std::array<std::atomic<std::uint64_t>, call_code_count>, max_operations> calls{};
  std::array<histogram_cells, max_operations> total{};
  std::array<histogram_cells, max_operations> upstream{};
  alignas(64) std::atomic<std::uint64_t> begun{0};
  std::atomic<std::uint64_t> finished{0};
};

metrics::metrics(std::size_t shards) {
  shards = std::max<std::size_t>(shards, 1);
  shards_.reserve(shards);
  for (std::size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<shard>());
  owned_names_.push_back(std::make_unique<const std::string>(other_op_name));
  names_[0].store(owned_names_.back().get(), std::memory_order_relaxed);
  name_count_.store(1, std::memory_order_release);
}

metrics::~metrics() = default;

metrics::shard& metrics::local() noexcept {
  return *shards_[thread_index() % shards_.size()];
}

void metrics::add_operations(const codecs::profile& p) {
  for (const auto& op : p.operations) add_operation(op.name);
}

void metrics::add_operation(std::string_view name) {
  std::lock_guard lock(add_mutex_);
  if (op_slot(name) != other_op || name == other_op_name) return;
  std::size_t n = name_count_.load(std::memory_order_relaxed);
  if (n >= max_operations) return;
  owned_names_.push_back(std::make_unique<const std::string>(name));
  names_[n].store(owned_names_.back().get(), std::memory_order_relaxed);
  name_count_.store(n + 1, std::memory_order_release);  // publishes the name
}

std::size_t metrics::op_slot(std::string_view name) const noexcept {
  std::size_t n = name_count_.load(std::memory_order_acquire);
  for (std::size_t i = 1; i < n; ++i)
    if (*names_[i].load(std::memory_order_relaxed) == name) return i;
  return other_op;
}

// In flight is begun - finished: each shard's counters are only ever incremented by one thread,
// the sum over shards may be read a moment apart, hence the clamp at zero.
void metrics::call_begun() noexcept {
  local().begun.fetch_add(1, std::memory_order_relaxed);
}

void metrics::call_finished(std::string_view op, call_code code, std::chrono::microseconds total,
                            std::chrono::microseconds upstream, bool had_upstream) noexcept {
  shard& s = local();
  std::size_t slot = op_slot(op);
  // fetch_add rather than load+store: a shard is one io_pool thread's, uncontended, but more
  // threads than shards (tests, an engine completing inline) may share one, and a lost count
  // would be a wrong metric.
  s.calls[slot][code_index(code)].fetch_add(1, std::memory_order_relaxed);
  s.total[slot].observe(total);
  if (had_upstream) s.upstream[slot].observe(upstream);
  s.finished.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t metrics::calls(std::string_view op, call_code code) const noexcept {
  std::size_t slot = op_slot(op);
  std::uint64_t n = 0;
  for (const auto& s : shards_)
    n += s->calls[slot][code_index(code)].load(std::memory_order_relaxed);
  return n;
}

std::uint64_t metrics::in_flight() const noexcept {
  std::uint64_t begun = 0, finished = 0;
  for (const auto& s : shards_) {
    finished += s->finished.load(std::memory_order_relaxed);
    begun += s->begun.load(std::memory_order_relaxed);
  }
  return begun > finished ? begun - finished : 0;
}

histogram_snapshot metrics::sum(std::size_t op, bool upstream) const noexcept {
  histogram_snapshot h;
  for (const auto& s : shards_) {
    const histogram_cells& c = upstream ? s->upstream[op] : s->total[op];
    for (std::size_t i = 0; i < h.buckets.size(); ++i) {
      std::uint64_t v = c.buckets[i].load(std::memory_order_relaxed);
      h.buckets[i] += v;
      h.count += v;
    }
    h.sum_us += c.sum_us.load(std::memory_order_relaxed);
  }
  return h;
}

histogram_snapshot metrics::total_latency(std::string_view op) const noexcept {
  return sum(op_slot(op), false);
}

histogram_snapshot metrics::upstream_latency(std::string_view op) const noexcept {
  return sum(op_slot(op), true);
}

namespace {

void render_histogram(prom_writer& w, std::string_view name, std::string_view op,
                      const histogram_snapshot& h) {
  std::string bucket(name);
  bucket += "_bucket";
  std::uint64_t cumulative = 0;
  std::string le;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += h.buckets[i];
    le.clear();
    if (i < latency_buckets_seconds.size())
      prom_writer::append_number(le, latency_buckets_seconds[i]);
    else
      le = "+Inf";
    w.sample(bucket, {{"op", op}, {"le", le}}, static_cast<double>(cumulative));
  }
  w.sample(std::string(name) + "_sum", {{"op", op}}, static_cast<double>(h.sum_us) / 1e6);
  w.sample(std::string(name) + "_count", {{"op", op}}, static_cast<double>(h.count));
}

}  // namespace

void metrics::render(prom_writer& w) const {
  std::size_t n = name_count_.load(std::memory_order_acquire);
  std::vector<std::string_view> ops;
  for (std::size_t i = 0; i < n; ++i) ops.emplace_back(*names_[i].load(std::memory_order_relaxed));

  w.family("dragoman_calls_total", "counter",
           "Calls answered by the front doors, by operation and result code (op=\"_other\": not "
           "an operation of the profile).");
  for (std::size_t i = 0; i < n; ++i) {
    for (call_code c : all_call_codes) {
      std::uint64_t v = 0;
      for (const auto& s : shards_) v += s->calls[i][code_index(c)].load(std::memory_order_relaxed);
      // Every op × ok is always present (so rates start at zero); other codes once seen.
      if (v == 0 && c != call_code::ok) continue;
      w.sample("dragoman_calls_total", {{"op", ops[i]}, {"code", to_string(c)}},
               static_cast<double>(v));
    }
  }
  w.family("dragoman_calls_in_flight", "gauge",
           "Calls received by the front doors and not yet answered.");
  w.sample("dragoman_calls_in_flight", {}, static_cast<double>(in_flight()));
  w.family("dragoman_call_duration_seconds", "histogram",
           "End-to-end call time in the front door: request read to answer ready, by operation.");
  for (std::size_t i = 0; i < n; ++i)
    render_histogram(w, "dragoman_call_duration_seconds", ops[i], sum(i, false));
  w.family("dragoman_upstream_call_duration_seconds", "histogram",
           "Upstream time of a call's last attempt: request written to reply read, by operation.");
  for (std::size_t i = 0; i < n; ++i)
    render_histogram(w, "dragoman_upstream_call_duration_seconds", ops[i], sum(i, true));
}

}  // namespace dragoman::bridge
