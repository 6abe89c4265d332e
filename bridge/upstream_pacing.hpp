// upstream.pacing in the pool: each endpoint's buckets (every message to it, and per operation),
// asked in turn for a call's tokens; a call whose turn is later waits on a timer and goes back to
// the pool then. Off (no buckets) when the profile has no pacing and no flag asks for it.
#pragma once

#include "bridge/pacer.hpp"
#include "bridge/upstream_shared.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dragoman::bridge {

class upstream_pacing : public std::enable_shared_from_this<upstream_pacing> {
 public:
  // resume: takes a call back after its wait (the pool routes it to the endpoint it waited for).
  using resume_fn = std::function<void(pending_call_ptr)>;
  upstream_pacing(const codecs::upstream_pacing_spec& spec, std::size_t endpoints,
                  std::shared_ptr<upstream_counters> counters);

  // Some endpoint is paced.
  bool enabled() const noexcept { return enabled_; }
  void set_resume(resume_fn f) { resume_ = std::move(f); }

  enum class verdict {
    go,        // c holds every token it needs for e: send it now
    waiting,   // c was taken: it comes back through resume at its turn
    full,      // a bucket's queue is full (c untouched)
    too_late,  // its turn would come after its deadline (c untouched)
  };
  // Asks e's buckets for c's tokens, the operation's first, then the endpoint's. ctx: where the
  // wait's timer runs.
  verdict admit(const endpoint& e, pending_call_ptr& c, std::chrono::steady_clock::time_point now,
                boost::asio::io_context& ctx);
  // Calls waiting for a turn now, over every endpoint.
  std::size_t waiting() const;
  // For /admin/upstreams: {"rate", "burst", "waiting", "operations": {op: {...}}}, or null.
  boost::json::value describe(std::size_t endpoint) const;

 private:
  struct buckets {
    std::unique_ptr<pacer> all;  // every message to the endpoint; null: none
    std::vector<std::pair<std::string, std::unique_ptr<pacer>>> operations;
    pacer* for_operation(std::string_view name) const noexcept;
  };
  bool enabled_ = false;
  std::vector<buckets> endpoints_;
  std::shared_ptr<upstream_counters> counters_;
  resume_fn resume_;
};

}  // namespace dragoman::bridge
