// Structured logs: one JSON object per line on stdout (time, level, event, fields), levelled.
#pragma once

#include <boost/json.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace dragoman::bridge::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

// Sets the lowest level written; "debug", "info", "warn" or "error" (false for anything else).
bool set_level(std::string_view name);
bool enabled(level l) noexcept;

// "2026-11-26T10:18:41.123Z": UTC to the millisecond, the one timestamp format of log lines and
// admin answers. The append form formats the date and time again only when the second changes
// (cached per thread): the per-call line writes one per call.
void append_iso_time(std::string& out, std::chrono::system_clock::time_point t);
std::string iso_time(std::chrono::system_clock::time_point t);

// Writes {"time":"2026-11-26T10:18:41.123Z","level":"info","event":event,...fields} and a
// newline in one write, so lines from several threads never interleave. Callers mask
// sensitive values before they get here.
void write(level l, std::string_view event, const boost::json::object& fields = {});

// Writes a finished line (with its newline). On a thread bound to an io_context (bind_thread),
// lines are gathered and written together once the handlers ready now have run, or at 64 KiB:
// a busy thread makes one write() for many calls. Elsewhere the line is written at once.
void write_line(std::string_view line);
// Binds this thread's batched lines to ctx (nullptr unbinds, writing what is gathered). The
// io_pool binds each thread that runs one of its contexts.
void bind_thread(boost::asio::io_context* ctx);
// Writes what this thread has gathered.
void flush_thread();

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
