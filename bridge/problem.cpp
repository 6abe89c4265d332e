// Error bodies shared by the front doors: RFC 9457 problem+json for HTTP, error objects for lines.
#include "bridge/problem.hpp"

#include <array>
#include <charconv>
#include <optional>

namespace dragoman::bridge {

namespace {

// A URI reference per code, stable across releases (RFC 9457 §3.1.1: need not be dereferenceable).
std::string problem_type(std::string_view code) {
  std::string t = "urn:dragoman:problem:";
  t.append(code);
  return t;
}

}  // namespace

call_result door_error(call_code code, std::string message) {
  return make_error_result(code, std::move(message));
}

std::string_view problem_title(std::string_view code, int status) {
  for (call_code c : all_call_codes)
    if (code == to_string(c)) return title_of(c);
  // The HTTP door's and admin's own codes, which are not call results.
  if (code == "not_found") return "Not found";
  if (code == "method_not_allowed") return "Method not allowed";
  if (code == "unauthorized") return "Unauthorized";
  if (code == "request_timeout") return "Request timeout";
  switch (status / 100) {
    case 4:
      return "Client error";
    case 5:
      return "Server error";
    default:
      return "Error";
  }
}

boost::json::object make_problem(std::string_view code, int status, std::string_view detail,
                                 std::string_view request_id) {
  boost::json::object p;
  p["type"] = problem_type(code);
  p["title"] = problem_title(code, status);
  p["status"] = status;
  p["detail"] = detail;
  p["code"] = code;
  p["sent"] = false;  // a door's own refusal: nothing of the request went anywhere
  if (!request_id.empty()) p["request_id"] = request_id;
  return p;
}

int answer_status(const call_result& r) noexcept {
  if (r.status >= 200 && r.status <= 599) return r.status;
  return http_status(r.code);
}

boost::json::object make_problem(const call_result& r, std::string_view request_id) {
  auto p = make_problem(to_string(r.code), answer_status(r), r.message, request_id);
  p["sent"] = r.sent;
  if (!r.legacy_code.empty()) p["legacy_code"] = r.legacy_code;
  if (r.retry_after_seconds) p["retry_after_seconds"] = *r.retry_after_seconds;
  if (r.code == call_code::rejected && !r.data.empty()) p["data"] = r.data;
  if (!r.compensation.empty()) [[unlikely]] {
    p["compensation"] = r.compensation;
    if (!r.compensation_id.empty()) p["compensation_id"] = r.compensation_id;
  }
  return p;
}

namespace {

template <class T>
void append_serialized(std::string& out, const T& v) {
  // One serializer per thread, reset per value: it keeps its small stack between answers.
  thread_local boost::json::serializer sr;
  sr.reset(&v);
  while (!sr.done()) {
    const std::size_t at = out.size();
    out.resize(at + 512);  // zero-filled: keep the step small
    auto written = sr.read(out.data() + at, out.size() - at);
    out.resize(at + written.size());
  }
}

void append_number(std::string& out, long long n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  (void)ec;
  out.append(buf, end);
}

}  // namespace

boost::json::value parse_scratch(std::string_view text, boost::system::error_code& ec) {
  // Made anew (back to the inline block, bigger blocks freed) before each parse. Not release():
  // in Boost 1.81 it keeps the size of the next block, which doubles with every block taken, so
  // after some dozens of parses larger than the inline block an allocation asks for more than
  // the address space and throws std::bad_alloc.
  thread_local std::array<unsigned char, 4096> first_block;
  thread_local std::optional<boost::json::monotonic_resource> scratch;
  thread_local boost::json::parser parser;  // reused: its stacks stay allocated between parses
  scratch.emplace(first_block.data(), first_block.size());
  parser.reset(boost::json::storage_ptr(&*scratch));
  parser.write(text.data(), text.size(), ec);
  if (ec) return nullptr;
  return parser.release();
}

void append_json(std::string& out, const boost::json::value& v) {
  append_serialized(out, v);
}

void append_json(std::string& out, const boost::json::object& o) {
  append_serialized(out, o);
}

void append_line_answer(std::string& out, const boost::json::value& id, const call_result& r) {
  out.append(R"({"id":)");
  append_json(out, id);
  if (r.code == call_code::ok) {
    out.append(R"(,"ok":true,"data":)");
    append_json(out, r.data);
  } else {
    boost::json::object e;
    e["code"] = to_string(r.code);
    e["message"] = r.message;
    if (!r.legacy_code.empty()) e["legacy_code"] = r.legacy_code;
    if (r.retry_after_seconds) e["retry_after_seconds"] = *r.retry_after_seconds;
    e["sent"] = r.sent;
    if (!r.compensation.empty()) [[unlikely]] {
      e["compensation"] = r.compensation;
      if (!r.compensation_id.empty()) e["compensation_id"] = r.compensation_id;
    }
    out.append(R"(,"ok":false,"error":)");
    append_json(out, e);
    if (r.code == call_code::rejected && !r.data.empty()) {
      out.append(R"(,"data":)");
      append_json(out, r.data);
    }
  }
  out.append(R"(,"attempts":)");
  append_number(out, r.attempts);
  if (r.replayed) out.append(R"(,"replayed":true)");
  out.append("}\n");
}

std::string line_answer(const boost::json::value& id, const call_result& r) {
  std::string s;
  append_line_answer(s, id, r);
  return s;
}

}  // namespace dragoman::bridge
