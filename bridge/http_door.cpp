// The HTTP/1.1 front door over Boost.Beast; the only translation unit that includes Beast.
#include "bridge/http_door.hpp"

#include "bridge/admin.hpp"
#include "bridge/metrics.hpp"
#include "bridge/problem.hpp"
#include "bridge/wire_trace.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <charconv>
#include <functional>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

namespace dragoman::bridge {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using response = http::response<http::string_body>;

constexpr std::string_view ops_prefix = "/v1/ops/";
constexpr std::size_t max_request_id_length = 200;
// A closing connection reads and discards what the client still sends for this long, so that the
// kernel does not reset the connection (and destroy our last answer, e.g. a 413) over unread bytes.
constexpr std::chrono::milliseconds linger_time{1000};

// Unique within the process and unlikely to collide across processes: a random prefix per process
// plus a counter, so generating one costs an atomic increment and no syscall.
std::string make_request_id() {
  static const std::string prefix = [] {
    std::random_device rd;
    char buf[20];
    std::snprintf(buf, sizeof buf, "%08x%04x", static_cast<unsigned>(rd()),
                  static_cast<unsigned>(rd() & 0xffffu));
    return std::string(buf);
  }();
  static std::atomic<std::uint64_t> counter{0};
  return prefix + "-" + std::to_string(counter.fetch_add(1, std::memory_order_relaxed) + 1);
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > max_request_id_length) return false;
  for (unsigned char c : id)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

// Request-Timeout: a positive whole number of milliseconds, nothing else.
std::optional<std::chrono::milliseconds> parse_timeout_ms(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty() || v.size() > 10) return std::nullopt;
  std::uint64_t ms = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
  if (ec != std::errc{} || end != v.data() + v.size() || ms == 0) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

}  // namespace

// What a door's connections share: the engine, the options, and the registry used to drain.
struct http_door::shared {
  shared(call_engine& e, http_door_options o) : engine(e), options(std::move(o)) {}

  call_engine& engine;
  const http_door_options options;
  http_door_stats stats;
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> active{0};

  std::mutex mutex;
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, std::function<void()>> drainers;  // id → posts a drain
};

namespace {

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(tcp::socket socket, std::shared_ptr<http_door::shared> shared)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), shared_(std::move(shared)) {}

  void start() {
    {
      std::lock_guard lock(shared_->mutex);
      id_ = ++shared_->next_id;
      std::weak_ptr<http_session> weak = shared_from_this();
      auto ex = socket_.get_executor();
      shared_->drainers.emplace(id_, [weak, ex] {
        asio::post(ex, [weak] {
          if (auto s = weak.lock()) s->drain();
        });
      });
    }
    registered_ = true;
    last_activity_ = clock_type::now();
    arm_timer(shared_->options.idle_timeout);
    if (shared_->draining) drain();
    do_read();
  }

  void drain() {
    draining_ = true;
    if (queue_.empty() && !writing_) close();
  }

 private:
  // One request's place in the answer order; filled when its answer is known.
  struct slot {
    std::uint64_t seq = 0;
    unsigned version = 11;
    bool keep_alive = true;
    std::string request_id;
    std::optional<response> answer;
  };

  void do_read() {
    if (closed_ || reading_ || stop_reading_ || draining_) return;
    if (queue_.size() >= shared_->options.max_pipelined) return;  // resumes after a write
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(shared_->options.max_header_bytes));
    reading_ = true;
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  // curl and others send "Expect: 100-continue" with larger bodies and wait a second for the
  // interim answer; give it when nothing else is owed (otherwise they wait, then send anyway).
  void on_header(beast::error_code ec) {
    if (ec || closed_) return on_read(ec);
    const auto& h = parser_->get();
    auto expect = h.find(http::field::expect);
    if (expect != h.end() && beast::iequals(expect->value(), "100-continue") && h.version() >= 11 &&
        !parser_->is_done() && queue_.empty() && !writing_) {
      writing_ = true;
      static constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(socket_, asio::buffer(interim.data(), interim.size()),
                        [self = shared_from_this()](beast::error_code wec, std::size_t) {
                          self->writing_ = false;
                          if (self->closed_) return;
                          if (wec) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    reading_ = false;
    if (closed_) return;
    last_activity_ = clock_type::now();
    if (ec) {
      stop_reading_ = true;
      if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
          ec == asio::error::eof) {
        finish_if_done();  // the client half-closed: answer what is owed, then close
        return;
      }
      if (ec.category() == http::make_error_code(http::error::body_limit).category()) {
        // The stream cannot be resynchronised after a bad message: answer, then close.
        slot& s = add_slot(11, false, request_id_from(parser_->get()));
        if (ec == http::error::body_limit)
          answer_problem(s.seq, "payload_too_large", 413,
                         "the request body is larger than " +
                             std::to_string(shared_->options.max_body_bytes) + " bytes");
        else
          answer_problem(s.seq, "bad_request", 400, "malformed HTTP request: " + ec.message());
        return;
      }
      close();  // reset, aborted, or another socket error: nothing can be answered
      return;
    }
    handle(parser_->release());
    do_read();
  }

  static std::string request_id_from(const http::request_header<>& h) {
    auto it = h.find("X-Request-Id");
    if (it != h.end() && valid_request_id(it->value())) return std::string(it->value());
    return make_request_id();
  }

  slot& add_slot(unsigned version, bool keep_alive, std::string request_id) {
    slot& s = queue_.emplace_back();
    s.seq = next_seq_++;
    s.version = version;
    s.keep_alive = keep_alive;
    s.request_id = std::move(request_id);
    if (!keep_alive) stop_reading_ = true;
    shared_->stats.requests_total.fetch_add(1, std::memory_order_relaxed);
    return s;
  }

  // What the answer of a call needs to be counted, logged and traced.
  struct call_info {
    std::string op;
    clock_type::time_point started;
    bool trace = false;
  };

  void handle(http::request<http::string_body> req) {
    const auto started = clock_type::now();
    auto rid_it = req.find("X-Request-Id");
    bool rid_given = rid_it != req.end();
    std::string rid = rid_given ? std::string(rid_it->value()) : make_request_id();
    bool rid_ok = !rid_given || valid_request_id(rid);
    if (!rid_ok) rid = make_request_id();
    slot& s = add_slot(req.version(), req.keep_alive() && !draining_, rid);
    const std::uint64_t seq = s.seq;

    if (!rid_ok) {
      return answer_problem(seq, "bad_request", 400,
                            "X-Request-Id must be 1 to 200 visible ASCII characters");
    }
    std::string_view target = req.target();
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);

    if (admin::is_admin_path(target)) {
      const admin* a = shared_->options.admin_endpoints;
      if (!a) return answer_problem(seq, "not_found", 404, "no such path: " + std::string(target));
      auto auth = req.find(http::field::authorization);
      admin_answer answer =
          a->handle(req.method_string(), target,
                    auth == req.end() ? std::string_view() : std::string_view(auth->value()));
      response res;
      res.result(static_cast<unsigned>(answer.status));
      res.set(http::field::content_type, answer.content_type);
      for (const auto& [name, value] : answer.headers) res.set(name, value);
      res.body() = std::move(answer.body);
      return complete(*find_slot(seq), std::move(res));
    }
    if (target == "/healthz" || target == "/readyz") {
      if (req.method() != http::verb::get) {
        return answer_problem(seq, "method_not_allowed", 405, "use GET", "GET");
      }
      if (target == "/healthz") return answer_json(seq, 200, R"({"status":"ok"})");
      if (shared_->engine.ready()) return answer_json(seq, 200, R"({"status":"ready"})");
      return answer_json(seq, 503, R"({"status":"not_ready"})");
    }
    if (!target.starts_with(ops_prefix) || !shared_->options.serve_calls) {
      return answer_problem(seq, "not_found", 404, "no such path: " + std::string(target));
    }
    std::string_view op = target.substr(ops_prefix.size());
    if (op.empty() || op.find('/') != std::string_view::npos) {
      return answer_problem(seq, "not_found", 404, "no such path: " + std::string(target));
    }
    if (req.method() != http::verb::post) {
      return answer_problem(seq, "method_not_allowed", 405, "use POST", "POST");
    }

    // From here on this is a call: it is counted, timed and logged whatever its outcome.
    call_info info;
    info.op = std::string(op);
    info.started = started;
    const auto& o = shared_->options;
    if (o.call_metrics) o.call_metrics->call_begun();
    if (o.trace_all) {
      info.trace = true;
    } else if (o.allow_trace_header) {
      auto t = req.find("X-Dragoman-Trace");
      info.trace = t != req.end() && t->value() == "1";
    }
    call_request call;
    call.op = info.op;
    call.request_id = std::move(rid);
    call.trace = info.trace;
    if (auto it = req.find("Request-Timeout"); it != req.end()) {
      auto t = parse_timeout_ms(it->value());
      if (!t) {
        return on_result(seq, info,
                         door_error(call_code::bad_request,
                                    "Request-Timeout must be a positive whole number of "
                                    "milliseconds"));
      }
      call.timeout = *t;
    }
    // An empty body is an empty object, so that operations without fields need no "{}".
    if (!req.body().empty()) {
      boost::system::error_code jec;
      boost::json::value body = boost::json::parse(req.body(), jec);
      if (jec) {
        return on_result(
            seq, info,
            door_error(call_code::bad_request, "the body is not valid JSON: " + jec.message()));
      }
      if (!body.is_object()) {
        return on_result(seq, info,
                         door_error(call_code::bad_request, "the body must be a JSON object"));
      }
      call.data = std::move(body.get_object());
    }
    shared_->engine.submit(std::move(call), socket_.get_executor(),
                           [self = shared_from_this(), seq, info = std::move(info)](call_result r) {
                             self->on_result(seq, info, std::move(r));
                           });
  }

  slot* find_slot(std::uint64_t seq) {
    if (queue_.empty() || seq < queue_.front().seq) return nullptr;
    std::size_t i = static_cast<std::size_t>(seq - queue_.front().seq);
    return i < queue_.size() ? &queue_[i] : nullptr;
  }

  void on_result(std::uint64_t seq, const call_info& info, call_result r) {
    slot* s = closed_ ? nullptr : find_slot(seq);
    std::string_view rid = s ? std::string_view(s->request_id) : std::string_view();
    call_observation ob;
    ob.door = shared_->options.name;
    ob.request_id = rid;
    ob.op = info.op;
    ob.result = &r;
    ob.total =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - info.started);
    observe_call(shared_->options.call_metrics, ob);
    if (info.trace) write_wire_trace(shared_->options.name, rid, info.op, r);
    if (!s) {
      shared_->stats.answers_dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    response res;
    if (r.code == call_code::ok) {
      res.result(200);
      res.set(http::field::content_type, "application/json");
      res.body() = boost::json::serialize(r.data);
    } else {
      res.result(static_cast<unsigned>(answer_status(r)));
      res.set(http::field::content_type, "application/problem+json");
      res.body() = boost::json::serialize(make_problem(r, s->request_id));
    }
    res.set("X-Dragoman-Attempts", std::to_string(r.attempts));
    if (r.retry_after_seconds)
      res.set(http::field::retry_after, std::to_string(*r.retry_after_seconds));
    complete(*s, std::move(res));
  }

  void answer_json(std::uint64_t seq, int status, std::string body) {
    response res;
    res.result(static_cast<unsigned>(status));
    res.set(http::field::content_type, "application/json");
    res.body() = std::move(body);
    complete(*find_slot(seq), std::move(res));
  }

  void answer_problem(std::uint64_t seq, std::string_view code, int status, std::string detail,
                      std::string_view allow = {}) {
    slot& s = *find_slot(seq);
    response res;
    res.result(static_cast<unsigned>(status));
    res.set(http::field::content_type, "application/problem+json");
    if (!allow.empty()) res.set(http::field::allow, allow);
    res.body() = boost::json::serialize(make_problem(code, status, detail, s.request_id));
    complete(s, std::move(res));
  }

  void complete(slot& s, response res) {
    if (res.result_int() >= 300)
      shared_->stats.errors_total.fetch_add(1, std::memory_order_relaxed);
    res.version(s.version);
    res.set(http::field::server, "dragoman");
    res.set("X-Request-Id", s.request_id);
    res.keep_alive(s.keep_alive && !draining_);
    res.prepare_payload();
    s.answer = std::move(res);
    do_write();
  }

  void do_write() {
    if (closed_ || writing_ || queue_.empty() || !queue_.front().answer) return;
    writing_ = true;
    http::async_write(
        socket_, *queue_.front().answer,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (closed_) return;
    if (ec) return close();
    last_activity_ = clock_type::now();
    bool keep = queue_.front().answer->keep_alive();
    queue_.pop_front();
    if (!keep) return reading_ ? close() : linger_close();
    do_write();
    do_read();
    finish_if_done();
  }

  void finish_if_done() {
    if (!queue_.empty() || writing_) return;
    if (draining_) return close();
    if (stop_reading_ && !reading_) linger_close();
  }

  // Sends FIN, then discards input until the client closes too or linger_time passes.
  void linger_close() {
    if (closed_ || lingering_) return;
    lingering_ = true;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    arm_timer(linger_time);
    do_discard();
  }

  void do_discard() {
    // Only a closing connection needs somewhere to throw bytes: allocated here, not per session.
    if (!discard_) discard_ = std::make_unique<std::array<char, 4096>>();
    socket_.async_read_some(asio::buffer(*discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (self->closed_) return;
                              if (ec) return self->close();
                              self->do_discard();
                            });
  }

  void arm_timer(clock_type::duration after) {
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->on_timer();
    });
  }

  void on_timer() {
    if (closed_) return;
    if (lingering_) return close();
    auto now = clock_type::now();
    auto idle = shared_->options.idle_timeout;
    // Waiting on the engine is not idleness (the engine's deadline bounds it); a stalled write is.
    bool owing = !queue_.empty() && !writing_;
    if (!owing && now - last_activity_ >= idle) return close();
    arm_timer(owing ? idle : last_activity_ + idle - now);
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    socket_.close(ec);
    timer_.cancel();
    if (!queue_.empty()) {
      std::size_t owed = 0;
      for (auto& s : queue_) owed += s.answer ? 0 : 1;
      shared_->stats.answers_dropped.fetch_add(owed, std::memory_order_relaxed);
      queue_.clear();
    }
    if (registered_) {
      registered_ = false;
      std::lock_guard lock(shared_->mutex);
      shared_->drainers.erase(id_);
      shared_->active.fetch_sub(1);
    }
  }

 public:
  ~http_session() {
    if (registered_) {  // destroyed without close(), e.g. when the io_context is torn down
      std::lock_guard lock(shared_->mutex);
      shared_->drainers.erase(id_);
      shared_->active.fetch_sub(1);
    }
  }

 private:
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::shared_ptr<http_door::shared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::deque<slot> queue_;  // requests in arrival order; answers leave from the front
  std::uint64_t next_seq_ = 0;
  std::uint64_t id_ = 0;
  clock_type::time_point last_activity_{};
  bool registered_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool stop_reading_ = false;  // end of stream, a non-keep-alive request, or a bad message
  bool draining_ = false;
  bool lingering_ = false;
  bool closed_ = false;
  std::unique_ptr<std::array<char, 4096>> discard_;
};

}  // namespace

http_door::http_door(io_pool& pool, call_engine& engine, http_door_options options)
    : shared_(std::make_shared<shared>(engine, std::move(options))),
      listener_(std::make_shared<acceptor>(pool, "HTTP", [sh = shared_](tcp::socket socket) {
        admit<http_session>(sh, std::move(socket));
      })) {
  endpoint_ = listener_->open(shared_->options.listen);
  listener_->start();
}

http_door::~http_door() {
  stop_accepting();
  drain();
}

void http_door::stop_accepting() {
  listener_->stop();
}

void http_door::drain() {
  shared_->draining = true;
  std::lock_guard lock(shared_->mutex);
  for (auto& [id, post_drain] : shared_->drainers) post_drain();
}

std::size_t http_door::connections() const noexcept {
  return shared_->active.load();
}

const http_door_stats& http_door::stats() const noexcept {
  return shared_->stats;
}

}  // namespace dragoman::bridge
