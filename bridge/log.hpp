// Structured logs: one JSON object per line on stdout (time, level, event, fields), levelled.
#pragma once

#include <boost/json.hpp>

#include <string_view>

namespace dragoman::bridge::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

// Sets the lowest level written; "debug", "info", "warn" or "error" (false for anything else).
bool set_level(std::string_view name);
bool enabled(level l) noexcept;

// Writes {"time":"2026-11-26T10:18:41.123Z","level":"info","event":event,...fields} and a
// newline in one write, so lines from several threads never interleave. Callers mask
// sensitive values before they get here.
void write(level l, std::string_view event, const boost::json::object& fields = {});

inline void debug(std::string_view e, const boost::json::object& f = {}) {
  write(level::debug, e, f);
}
inline void info(std::string_view e, const boost::json::object& f = {}) {
  write(level::info, e, f);
}
inline void warn(std::string_view e, const boost::json::object& f = {}) {
  write(level::warn, e, f);
}
inline void error(std::string_view e, const boost::json::object& f = {}) {
  write(level::error, e, f);
}

}  // namespace dragoman::bridge::log
