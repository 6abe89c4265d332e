// The HTTP door's request parser, callable on bytes alone (by the door, its unit test and a fuzz
// target). It includes Beast: keep it out of every production translation unit but http_door.cpp.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/verb.hpp>

#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dragoman::bridge {

constexpr std::size_t max_request_id_length = 200;

// X-Request-Id: 1 to 200 visible ASCII characters, so that it goes into logs and answers as is.
inline bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > max_request_id_length) return false;
  for (unsigned char c : id)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

// Request-Timeout: a positive whole number of milliseconds, nothing else.
inline std::optional<std::chrono::milliseconds> parse_timeout_ms(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty() || v.size() > 10) return std::nullopt;
  std::uint64_t ms = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
  if (ec != std::errc{} || end != v.data() + v.size() || ms == 0) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

// Beast's parser recording only what the door uses: no container, no allocation per field (the
// first occurrence of a header wins, as fields::find did). A fresh one costs no allocation, so
// each request gets a new one.
class http_request_parser final : public boost::beast::http::basic_parser<true> {
 public:
  using verb = boost::beast::http::verb;
  using error_code = boost::beast::error_code;

  http_request_parser(std::uint64_t body_limit, std::uint32_t header_limit) {
    this->body_limit(body_limit);
    this->header_limit(header_limit);
    eager(true);  // header and body in one put() when both are there
  }
  http_request_parser(http_request_parser&&) = default;

  std::string_view method_string() const {
    if (method == verb::unknown) return unknown_method;
    auto s = boost::beast::http::to_string(method);
    return std::string_view(s.data(), s.size());
  }
  // The whole body: in place in the input when it came in one piece, else gathered.
  std::string_view body() const {
    return body_in_place_ ? body_view_ : std::string_view(body_buf_);
  }

  verb method = verb::unknown;
  std::string unknown_method;  // only for methods Beast does not know
  std::string target;
  unsigned version = 11;
  bool request_id_given = false;
  bool request_id_valid = false;
  std::string request_id;  // when given and valid
  bool timeout_given = false;
  std::optional<std::chrono::milliseconds> timeout;  // empty when given but malformed
  bool trace = false;
  bool expect_continue = false;
  bool continue_sent = false;
  bool authorization_given = false;
  std::string authorization;
  bool respond_async = false;  // Prefer: respond-async
  bool idempotency_key_given = false;
  std::string idempotency_key;  // the first Idempotency-Key field's value, as sent

 private:
  // Whether a Prefer value lists the preference `token` (case-insensitive, parameters ignored).
  static bool prefers_token(std::string_view v, std::string_view token) {
    while (!v.empty()) {
      auto comma = v.find(',');
      std::string_view item = v.substr(0, comma);
      if (auto semi = item.find(';'); semi != std::string_view::npos) item = item.substr(0, semi);
      if (auto eq = item.find('='); eq != std::string_view::npos) item = item.substr(0, eq);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (boost::beast::iequals(item, token)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
    return false;
  }

  static bool name_is(boost::beast::string_view name, std::string_view wanted) {
    return name.size() == wanted.size() && boost::beast::iequals(name, wanted);
  }

  void on_request_impl(verb m, boost::beast::string_view method_str, boost::beast::string_view t,
                       int v, error_code&) override {
    method = m;
    if (m == verb::unknown) unknown_method.assign(method_str.data(), method_str.size());
    target.assign(t.data(), t.size());
    version = static_cast<unsigned>(v);
  }

  void on_response_impl(int, boost::beast::string_view, int, error_code&) override {}

  void on_field_impl(boost::beast::http::field f, boost::beast::string_view name,
                     boost::beast::string_view value, error_code&) override {
    using boost::beast::http::field;
    if (f == field::expect) {
      if (!expect_seen_) expect_continue = boost::beast::iequals(value, "100-continue");
      expect_seen_ = true;
    } else if (f == field::authorization) {
      if (!authorization_given) authorization.assign(value.data(), value.size());
      authorization_given = true;
    } else if (name_is(name, "X-Request-Id")) {
      if (request_id_given) return;
      request_id_given = true;
      std::string_view v(value.data(), value.size());
      request_id_valid = valid_request_id(v);
      if (request_id_valid) request_id.assign(v);
    } else if (name_is(name, "Request-Timeout")) {
      if (timeout_given) return;
      timeout_given = true;
      timeout = parse_timeout_ms(std::string_view(value.data(), value.size()));
    } else if (name_is(name, "Prefer")) {
      // RFC 7240: a list of preferences; respond-async is the one the door honours.
      if (prefers_token(std::string_view(value.data(), value.size()), "respond-async"))
        respond_async = true;
    } else if (name_is(name, "Idempotency-Key")) {
      if (idempotency_key_given) return;
      idempotency_key_given = true;
      idempotency_key.assign(value.data(), value.size());
    } else if (name_is(name, "X-Dragoman-Trace")) {
      if (!trace_seen_) trace = value == "1";
      trace_seen_ = true;
    }
  }

  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}

  std::size_t on_body_impl(boost::beast::string_view b, error_code&) override {
    // The common case, a body that arrived whole with its header, is not copied.
    auto remaining = content_length_remaining();
    if (!body_in_place_ && body_buf_.empty() && remaining && *remaining == b.size()) {
      body_in_place_ = true;
      body_view_ = std::string_view(b.data(), b.size());
    } else {
      body_buf_.append(b.data(), b.size());
    }
    return b.size();
  }

  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, error_code&) override {}

  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view b, error_code&) override {
    body_buf_.append(b.data(), b.size());  // bounded: Beast checks every chunk against body_limit
    return b.size();
  }

  void on_finish_impl(error_code&) override {}

  bool expect_seen_ = false;
  bool trace_seen_ = false;
  bool body_in_place_ = false;
  std::string_view body_view_;  // valid until the input it points into changes
  std::string body_buf_;
};

// What one feed of bytes did: a request is complete (its bytes end at `used`), more bytes are
// needed (bytes past `used` were not taken: offer them again with more), or the message is bad
// and the stream cannot go on (`error`).
enum class request_progress { complete, need_more, bad };

struct request_feed {
  std::size_t used = 0;
  request_progress progress = request_progress::need_more;
  boost::beast::error_code error;  // when bad: body_limit, header_limit or a syntax error
};

// Feeds bytes to p until its request is complete or the bytes run out. A complete request's body
// may point into bytes: handle it before they change.
inline request_feed feed(http_request_parser& p, std::string_view bytes) {
  request_feed f;
  f.used = p.put(boost::asio::const_buffer(bytes.data(), bytes.size()), f.error);
  if (f.error && f.error != boost::beast::http::error::need_more) {
    f.progress = request_progress::bad;
  } else {
    f.error = {};
    f.progress = p.is_done() ? request_progress::complete : request_progress::need_more;
  }
  return f;
}

}  // namespace dragoman::bridge
