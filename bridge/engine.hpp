// The call engine: translator (JSON ↔ record via the profile) over pooled, correlated upstream
// connections with deadlines. One engine per serve process.
#pragma once

#include "bridge/call.hpp"
#include "bridge/io_pool.hpp"
#include "bridge/upstream_options.hpp"
#include "codecs/profile.hpp"

#include <memory>

namespace dragoman::bridge {

struct upstream_counters;

// Upstream connections are spread over the pool's io_contexts; calls are posted to the
// connection's context and their results posted back to the caller's executor. The engine counts
// into `counters` (tests read them there); null: counters of its own.
std::unique_ptr<call_engine> make_engine(std::shared_ptr<const codecs::profile> profile,
                                         engine_options options, io_pool& pool,
                                         std::shared_ptr<upstream_counters> counters = nullptr);

}  // namespace dragoman::bridge
