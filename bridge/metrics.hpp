// What /metrics and the doors' per-call bookkeeping need, in one include: the Prometheus writer,
// the per-call metrics, the per-call log line and the rendering of the engine's stats.
#pragma once

#include "bridge/call_log.hpp"
#include "bridge/call_metrics.hpp"
#include "bridge/prom_writer.hpp"

#include <boost/json.hpp>

namespace dragoman::bridge {

// The engine's stats() object (see call.hpp) as dragoman_upstream_* families, named from the one
// list in bridge/upstream_stats.hpp (which defines this); keys that are not there are skipped, so
// an engine that reports less still renders valid text.
void render_engine_stats(prom_writer& w, const boost::json::object& stats);

}  // namespace dragoman::bridge
