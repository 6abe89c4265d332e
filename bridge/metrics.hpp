// What /metrics and the doors' per-call bookkeeping need, in one include: the Prometheus writer,
// the per-call metrics, the per-call log line and the rendering of the engine's stats.
#pragma once

#include "bridge/call_log.hpp"
#include "bridge/call_metrics.hpp"
#include "bridge/prom_writer.hpp"
#include "bridge/upstream_stats.hpp"
