// The per-call log line: built by hand in a per-thread buffer, since it is written for every call.
#include "bridge/call_log.hpp"

#include "bridge/log.hpp"
#include "bridge/problem.hpp"
#include "codecs/json_text.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace dragoman::bridge {

namespace {

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

constexpr std::size_t max_logged_text = 200;  // request ids and op names are cut to this

void append_field(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":";
  codecs::append_json_string(out, value.substr(0, std::min(value.size(), max_logged_text)));
}

void append_field(std::string& out, std::string_view key, std::uint64_t value) {
  out += ",\"";
  out += key;
  out += "\":";
  append_uint(out, value);
}

}  // namespace

void observe_call(metrics* m, const call_observation& c) {
  const call_result* r = c.result;
  call_code code = r ? r->code : c.code;
  auto upstream = r ? r->upstream_time : std::chrono::microseconds(0);
  bool had_upstream = r && r->attempts > 0 && upstream.count() > 0;
  if (m) m->call_finished(c.op, code, c.total, upstream, had_upstream);
  if (!log::enabled(log::level::info)) return;

  thread_local std::string line;  // reused: no allocation per call once warm
  line.clear();
  line += "{\"time\":\"";
  log::append_iso_time(line, std::chrono::system_clock::now());
  line += "\",\"level\":\"info\",\"event\":\"call\"";
  append_field(line, "door", c.door);
  append_field(line, "request_id", c.request_id);
  append_field(line, "op", c.op);
  if (!c.client.empty()) append_field(line, "client", c.client);
  append_field(line, "endpoint", r ? std::string_view(r->endpoint) : std::string_view());
  append_field(line, "attempts",
               static_cast<std::uint64_t>(r && r->attempts > 0 ? r->attempts : 0));
  append_field(line, "upstream_us",
               static_cast<std::uint64_t>(upstream.count() > 0 ? upstream.count() : 0));
  append_field(line, "total_us",
               static_cast<std::uint64_t>(c.total.count() > 0 ? c.total.count() : 0));
  append_field(line, "code", to_string(code));
  const int status = r ? answer_status(*r) : c.status;  // what the door answered with
  append_field(line, "status", static_cast<std::uint64_t>(status > 0 ? status : 0));
  line += r && r->sent ? ",\"sent\":true}\n" : ",\"sent\":false}\n";
  log::write_line(line);
}

}  // namespace dragoman::bridge
