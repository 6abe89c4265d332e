// Structured JSON-line logs on stdout.
#include "bridge/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <string>

namespace dragoman::bridge::log {

namespace {
std::atomic<int> min_level{static_cast<int>(level::info)};

// One write per call of write_all: lines from several threads do not interleave.
void write_all(std::string_view text) {
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n <= 0) return;
    p += static_cast<std::size_t>(n);
    left -= static_cast<std::size_t>(n);
  }
}

// The lines a thread gathers between two flushes; written when the thread ends, too.
constexpr std::size_t batch_limit = 65536;
struct batch {
  boost::asio::io_context* ctx = nullptr;
  std::string lines;
  bool flush_posted = false;
  ~batch() {
    if (!lines.empty()) write_all(lines);
  }
};
thread_local batch this_batch;

const char* name_of(level l) noexcept {
  switch (l) {
    case level::debug:
      return "debug";
    case level::info:
      return "info";
    case level::warn:
      return "warn";
    case level::error:
      return "error";
  }
  return "info";
}
}  // namespace

void append_iso_time(std::string& out, std::chrono::system_clock::time_point t) {
  thread_local std::time_t cached_second = std::numeric_limits<std::time_t>::min();
  thread_local char cached[32];
  thread_local std::size_t cached_length = 0;
  // Floored (not truncated), so that an instant before 1970 still reads as its own second.
  const auto since = t.time_since_epoch();
  const auto whole = std::chrono::floor<std::chrono::seconds>(since);
  const auto second = static_cast<std::time_t>(whole.count());
  if (second != cached_second) {
    std::tm tm{};
    gmtime_r(&second, &tm);
    int n =
        std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_length = n > 0 ? static_cast<std::size_t>(n) : 0;
    cached_second = second;
  }
  out.append(cached, cached_length);
  const auto ms =
      static_cast<int>(std::chrono::floor<std::chrono::milliseconds>(since - whole).count());
  out.push_back(static_cast<char>('0' + ms / 100));
  out.push_back(static_cast<char>('0' + ms / 10 % 10));
  out.push_back(static_cast<char>('0' + ms % 10));
  out.push_back('Z');
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  std::string s;
  append_iso_time(s, t);
  return s;
}

bool set_level(std::string_view name) {
  for (level l : {level::debug, level::info, level::warn, level::error}) {
    if (name == name_of(l)) {
      min_level.store(static_cast<int>(l), std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

bool enabled(level l) noexcept {
  return static_cast<int>(l) >= min_level.load(std::memory_order_relaxed);
}

void write(level l, std::string_view event, const boost::json::object& fields) {
  if (!enabled(l)) return;
  std::string stamp;
  append_iso_time(stamp, std::chrono::system_clock::now());
  boost::json::object o;
  o.reserve(fields.size() + 3);
  o["time"] = stamp;
  o["level"] = name_of(l);
  o["event"] = event;
  for (const auto& kv : fields) o[kv.key()] = kv.value();
  std::string line = boost::json::serialize(o);
  line.push_back('\n');
  // Events are rare and may precede a crash: written at once, after what this thread gathered.
  flush_thread();
  write_all(line);
}

void write_line(std::string_view line) {
  batch& b = this_batch;
  if (!b.ctx || b.ctx->stopped()) {
    flush_thread();
    write_all(line);
    return;
  }
  b.lines.append(line);
  if (b.lines.size() >= batch_limit) return flush_thread();
  if (b.flush_posted) return;
  b.flush_posted = true;
  boost::asio::post(*b.ctx, [] {
    this_batch.flush_posted = false;
    flush_thread();
  });
}

void bind_thread(boost::asio::io_context* ctx) {
  flush_thread();
  this_batch.ctx = ctx;
}

void flush_thread() {
  batch& b = this_batch;
  if (b.lines.empty()) return;
  write_all(b.lines);
  b.lines.clear();
  if (b.lines.capacity() > batch_limit) std::string().swap(b.lines);
}

}  // namespace dragoman::bridge::log
