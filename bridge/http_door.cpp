// The HTTP/1.1 front door; the only translation unit that includes Beast. Beast's parser is driven
// synchronously from reactor-style reads and answers are formatted straight into the output buffer,
// so a call costs no composed read or write ops, no header containers and no generic serializer.
#include "bridge/http_door.hpp"

#include "bridge/admin.hpp"
#include "bridge/idempotency.hpp"
#include "bridge/door_guard.hpp"
#include "bridge/http_request_parser.hpp"
#include "bridge/metrics.hpp"
#include "bridge/problem.hpp"

#include <boost/beast/http/status.hpp>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dragoman::bridge {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using clock_type = std::chrono::steady_clock;
using namespace std::string_view_literals;

constexpr std::string_view ops_prefix = "/v1/ops/";
constexpr std::string_view messages_prefix = "/v1/messages/";
// A closing connection reads and discards what the client still sends for this long, so that the
// kernel does not reset the connection (and destroy our last answer, e.g. a 413) over unread bytes.
constexpr std::chrono::milliseconds linger_time{1000};
// Consumed bytes at the front of the input are dropped once they exceed this (or all is consumed),
// so a burst of small pipelined requests costs one memmove, not one per request.
constexpr std::size_t compact_threshold = 65536;

// Unique within the process and unlikely to collide across processes: a random prefix per process
// plus a counter, so generating one costs an atomic increment and no syscall.
std::string make_request_id() {
  static const std::string prefix = [] {
    std::random_device rd;
    char buf[20];
    std::snprintf(buf, sizeof buf, "%08x%04x-", static_cast<unsigned>(rd()),
                  static_cast<unsigned>(rd() & 0xffffu));
    return std::string(buf);
  }();
  static std::atomic<std::uint64_t> counter{0};
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits,
                                 counter.fetch_add(1, std::memory_order_relaxed) + 1);
  (void)ec;
  std::string id;
  id.reserve(prefix.size() + static_cast<std::size_t>(end - digits));
  id.append(prefix).append(digits, end);
  return id;
}

// One HTTP connection's protocol half: requests parsed in place, calls submitted, answers placed
// in request order; reading, writing and closing are door_session's.
class http_session : public door_session<http_session, http_door::shared> {
 public:
  using door_session::door_session;
  friend door_session;  // its transport half calls back into the hooks below

  void start() {
    enter();
    if (shared_->draining) return drain();
    do_read();
  }

  void drain() {
    if (phase_ != phase::lingering) phase_ = phase::draining;
    if (owed() == 0 && !writing_) close();
  }

  // The answer to a connection over the door's maximum (door.hpp's admit).
  static std::string_view refusal() {
    static const std::string text = [] {
      std::string body;
      append_json(body, make_problem("overloaded", 503,
                                     "the door holds its maximum of connections; try again"));
      return "HTTP/1.1 503 Service Unavailable\r\nServer: dragoman\r\n"
             "Content-Type: application/problem+json\r\nRetry-After: 1\r\n"
             "Content-Length: " +
             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    }();
    return text;
  }

 private:
  // Where the connection is; closed_ (door_session) overrides them all.
  enum class phase {
    reading,    // requests are parsed as they come (up to max_pipelined owed)
    paused,     // no more requests (end of stream, a non-keep-alive request, a bad message):
                // what is owed is answered, then the connection lingers
    draining,   // the door drains: what is owed is answered, the last closes the connection
    lingering,  // FIN sent; input is discarded until the client closes or linger_time passes
  };

  // What an answer needs of its request.
  struct request_meta {
    std::uint64_t seq = 0;
    std::string request_id;
    unsigned version = 11;
    bool keep_alive = true;
  };

  // An answer to format; the body is referenced, not owned.
  struct answer {
    int status = 200;
    std::string_view content_type;
    std::string_view body;
    std::string_view allow;
    int attempts = -1;  // X-Dragoman-Attempts when >= 0
    std::optional<int> retry_after;
    const std::vector<std::pair<std::string, std::string>>* headers = nullptr;
  };

  // An answer that is ready before the answers of earlier requests: its head (without the
  // Connection field and the empty line, decided when it leaves) and body.
  struct parked {
    std::uint64_t seq = 0;
    std::string bytes;
    std::size_t head_size = 0;
    unsigned version = 11;
    bool keep_alive = true;
  };

  // What the answer of a call needs to be counted, logged, traced and placed.
  struct call_info {
    request_meta meta;
    std::string op;
    std::string client;  // the authenticated client ("" anonymous)
    clock_type::time_point started;
    bool trace = false;
  };

  // Requests accepted whose answers are not written yet (in flight, parked, queued or writing).
  std::uint64_t owed() const { return next_seq_ - written_; }

  bool may_parse() const {
    return !closed_ && phase_ == phase::reading &&
           owed() < shared_->options.max_pipelined;  // resumes after a write
  }

  void do_read() {
    if (closed_ || reading_) return;
    if (phase_ != phase::lingering && !may_parse()) return;
    wait_readable();
  }

  // A wait that ends while draining reads nothing: new requests are not read.
  bool read_wanted() {
    if (phase_ != phase::draining) return true;
    finish_if_done();
    return false;
  }

  void on_read(error_code ec, std::string_view bytes) {
    if (phase_ == phase::lingering) return ec ? close() : do_read();  // discard until it closes
    if (ec) {
      if (ec != asio::error::eof) return close();  // reset or another error: nothing to answer
      // The client half-closed: a partial request is dropped, what is owed is answered.
      phase_ = phase::paused;
      drop_input();
      return finish_if_done();
    }
    consume(bytes);
  }

  // Parses newly read bytes: straight from the read buffer when nothing was left over, so a
  // request that came whole is never copied; what remains waits in in_.
  void consume(std::string_view bytes) {
    if (!in_.empty()) {
      in_.append(bytes);
      return consume_buffered();
    }
    std::size_t used = parse(bytes);
    if (used < bytes.size() && keeps_input()) in_.assign(bytes.substr(used));
    note_input(bytes.size());
    do_read();
  }

  // Parses what waits in in_ (after a read, or when a write made room for more requests).
  void consume_buffered() {
    if (!in_.empty()) {
      in_start_ += parse(std::string_view(in_).substr(in_start_));
      if (!keeps_input() || in_start_ == in_.size()) {
        std::string().swap(in_);  // an idle connection holds no input buffer
        in_start_ = 0;
      } else if (in_start_ >= compact_threshold) {
        in_.erase(0, in_start_);
        in_start_ = 0;
      }
    }
    note_input(0);
    do_read();
  }

  // The slow rule (door.hpp) applies while a request is begun and the door waits for the rest of
  // it: not while reading pauses for room (then the wait is the door's, not the client's).
  void note_input(std::size_t n) {
    if (may_parse() && (parser_ || in_start_ < in_.size()))
      message_partial(n, header_done());
    else
      message_complete();
  }

  bool header_done() const { return parser_ && parser_->is_header_done(); }

  // A begun request missed its deadline: 408, then the connection closes.
  void too_slow(bool header_done) {
    drop_input();
    request_meta m;
    m.request_id = make_request_id();
    m.keep_alive = false;
    m.seq = add_request(false);
    const auto& o = shared_->options;
    answer_problem(m, "request_timeout", 408,
                   header_done ? "the request arrived slower than " +
                                     std::to_string(o.min_receive_rate) + " bytes per second"
                               : "the request header did not complete within " +
                                     std::to_string(o.header_timeout.count()) + " ms");
  }

  bool keeps_input() const { return !closed_ && phase_ == phase::reading; }

  void drop_input() {
    message_complete();
    parser_.reset();
    std::string().swap(in_);
    in_start_ = 0;
  }

  // Feeds the parser until it needs more bytes, a request must wait for room, or the stream
  // cannot go on; handles every complete request. Returns the bytes consumed.
  std::size_t parse(std::string_view bytes) {
    std::size_t used = 0;
    while (used < bytes.size() && may_parse()) {
      http_request_parser& p = parser_ ? *parser_ : fresh_parser();
      const request_feed f = feed(p, bytes.substr(used));
      used += f.used;
      if (f.progress == request_progress::bad) {
        bad_message(p, f.error);
        parser_.reset();
        break;
      }
      if (f.progress == request_progress::need_more) {  // the rest is still to come
        if (!parser_) parser_ = std::make_unique<http_request_parser>(std::move(p));
        offer_continue(*parser_);
        break;
      }
      handle(p);
      parser_.reset();
    }
    return used;
  }

  http_request_parser& fresh_parser() {
    // Parsed and handled synchronously on this thread; a request still incomplete when the input
    // runs out moves to the session's own parser_.
    thread_local std::optional<http_request_parser> p;
    p.emplace(shared_->options.max_body_bytes,
              static_cast<std::uint32_t>(shared_->options.max_header_bytes));
    return *p;
  }

  // curl and others send "Expect: 100-continue" with larger bodies and wait a second for the
  // interim answer; give it when nothing else is owed (otherwise they wait, then send anyway).
  void offer_continue(http_request_parser& p) {
    if (!p.expect_continue || p.continue_sent || p.version < 11 || !p.is_header_done()) return;
    if (owed() != 0 || writing_) return;
    p.continue_sent = true;
    out().append("HTTP/1.1 100 Continue\r\n\r\n"sv);
    do_write();
  }

  // The stream cannot be resynchronised after a bad message: answer, then close.
  void bad_message(http_request_parser& p, error_code ec) {
    last_activity_ = clock_type::now();
    message_complete();
    request_meta m;
    m.request_id =
        p.request_id_given && p.request_id_valid ? std::move(p.request_id) : make_request_id();
    m.keep_alive = false;
    m.seq = add_request(false);
    if (ec == http::error::body_limit) {
      answer_problem(m, "payload_too_large", 413,
                     "the request body is larger than " +
                         std::to_string(shared_->options.max_body_bytes) + " bytes");
    } else {
      answer_problem(m, "bad_request", 400, "malformed HTTP request: " + ec.message());
    }
  }

  std::uint64_t add_request(bool keep_alive) {
    if (!keep_alive) phase_ = phase::paused;
    shared_->stats.requests_total.fetch_add(1, std::memory_order_relaxed);
    return next_seq_++;
  }

  void handle(http_request_parser& req) {
    const auto started = clock_type::now();
    last_activity_ = started;  // a whole request, not a trickle of bytes, is activity
    message_complete();
    request_meta m;
    const bool rid_ok = !req.request_id_given || req.request_id_valid;
    m.request_id = req.request_id_given && rid_ok ? std::move(req.request_id) : make_request_id();
    m.version = req.version;
    m.keep_alive = req.keep_alive();
    m.seq = add_request(m.keep_alive);

    if (!rid_ok) {
      return answer_problem(m, "bad_request", 400,
                            "X-Request-Id must be 1 to 200 visible ASCII characters");
    }
    std::string_view target = req.target;
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (auto op = route(m, req, target)) submit_call(std::move(m), req, *op, started);
  }

  // Answers what the door answers itself (admin paths, health, unknown paths, wrong methods);
  // returns the operation when the request is a call.
  std::optional<std::string_view> route(const request_meta& m, const http_request_parser& req,
                                        std::string_view target) {
    if (admin::is_admin_path(target)) {
      const admin* a = shared_->options.admin_endpoints;
      if (!a) return not_found(m, target);
      const auto q = std::string_view(req.target).find('?');
      admin_answer aa =
          a->handle(req.method_string(), target, req.authorization,
                    q == std::string_view::npos ? std::string_view()
                                                : std::string_view(req.target).substr(q + 1));
      answer res;
      res.status = aa.status;
      res.content_type = aa.content_type;
      res.body = aa.body;
      res.headers = &aa.headers;
      send(m, res);
      return std::nullopt;
    }
    if (target == "/healthz" || target == "/readyz") {
      if (req.method != http::verb::get)
        answer_problem(m, "method_not_allowed", 405, "use GET", "GET");
      else if (target == "/healthz")
        answer_json(m, 200, R"({"status":"ok"})");
      else
        answer_readiness(m);
      return std::nullopt;
    }
    if (target.starts_with(messages_prefix) && shared_->options.serve_calls) {
      answer_message(m, req, target.substr(messages_prefix.size()));
      return std::nullopt;
    }
    if (!target.starts_with(ops_prefix) || !shared_->options.serve_calls)
      return not_found(m, target);
    std::string_view op = target.substr(ops_prefix.size());
    if (op.empty() || op.find('/') != std::string_view::npos) return not_found(m, target);
    if (req.method != http::verb::post) {
      answer_problem(m, "method_not_allowed", 405, "use POST", "POST");
      return std::nullopt;
    }
    return op;
  }

  void answer_readiness(const request_meta& m) {
    const bool upstream_up = shared_->engine.ready();
    const std::atomic<bool>* serving = shared_->options.serving;
    if (!serving) {
      answer_json(m, upstream_up ? 200 : 503,
                  upstream_up ? R"({"status":"ready"})" : R"({"status":"not_ready"})");
    } else if (serving->load(std::memory_order_relaxed)) {
      answer_json(m, 200,
                  upstream_up ? R"({"status":"ready","upstream":"up"})"
                              : R"({"status":"ready","upstream":"down"})");
    } else {
      answer_json(m, 503,
                  upstream_up ? R"({"status":"draining","upstream":"up"})"
                              : R"({"status":"draining","upstream":"down"})");
    }
  }

  // GET /v1/messages/{id}: an asynchronous call's state and outcome, to the door's clients.
  void answer_message(const request_meta& m, const http_request_parser& req, std::string_view id) {
    if (req.method != http::verb::get)
      return answer_problem(m, "method_not_allowed", 405, "use GET", "GET");
    if (door_guard* g = shared_->options.guard) {
      std::string client;
      if (auto refused = g->authenticate_http(req.authorization, client_, client))
        return answer_object(m, refused->status, make_problem(*refused, m.request_id),
                             bearer_challenge());
    }
    message_answer a = shared_->engine.read_message(id);
    answer_object(m, a.status, a.body);
  }

  static const std::vector<std::pair<std::string, std::string>>* bearer_challenge() {
    static const std::vector<std::pair<std::string, std::string>> h{{"WWW-Authenticate", "Bearer"}};
    return &h;
  }

  // An answer of the door's own from a JSON object: application/json below 300, else a problem.
  void answer_object(const request_meta& m, int status, const boost::json::object& o,
                     const std::vector<std::pair<std::string, std::string>>* headers = nullptr) {
    std::string& body = body_scratch();
    append_json(body, o);
    answer res;
    res.status = status;
    res.content_type = status < 300 ? "application/json" : "application/problem+json";
    res.body = body;
    res.headers = headers;
    send(m, res);
  }

  std::nullopt_t not_found(const request_meta& m, std::string_view target) {
    answer_problem(m, "not_found", 404, "no such path: " + std::string(target));
    return std::nullopt;
  }

  // From here on this is a call: it is counted, timed and logged whatever its outcome.
  void submit_call(request_meta m, const http_request_parser& req, std::string_view op,
                   clock_type::time_point started) {
    call_info info;
    info.meta = std::move(m);
    info.op = std::string(op);
    info.started = started;
    const auto& o = shared_->options;
    if (o.call_metrics) o.call_metrics->call_begun();
    info.trace = o.trace_all || (o.allow_trace_header && req.trace);
    if (o.guard) {  // who calls (a token, else the certificate's identity), and may they
      auto refused = o.guard->authenticate_http(req.authorization, client_, info.client);
      if (!refused) refused = o.guard->admit(info.client, info.op);
      if (refused) return on_result(info, std::move(*refused));
    }
    if (req.timeout_given && !req.timeout) {
      return on_result(info, door_error(call_code::bad_request,
                                        "Request-Timeout must be a positive whole number of "
                                        "milliseconds"));
    }
    // An empty body is an empty object, so that operations without fields need no "{}". The body
    // is parsed into the thread's scratch memory (valid until submit() returns, see call.hpp); the
    // value, then the call's data, are initialised from it: assigning would copy it out.
    const std::string_view text = req.body();
    error_code jec;
    boost::json::value body = text.empty() ? boost::json::value() : parse_scratch(text, jec);
    if (jec) {
      return on_result(
          info, door_error(call_code::bad_request, "the body is not valid JSON: " + jec.message()));
    }
    if (!text.empty() && !body.is_object()) {
      return on_result(info, door_error(call_code::bad_request, "the body must be a JSON object"));
    }
    call_request call{.op = info.op,
                      .data = body.is_object() ? boost::json::object(std::move(body.get_object()))
                                               : boost::json::object(),
                      .request_id = info.meta.request_id,
                      .timeout = req.timeout,
                      .trace = info.trace,
                      .async = req.respond_async};
    if (req.idempotency_key_given) {
      auto key = parse_idempotency_key(req.idempotency_key);
      if (!key) {
        return on_result(info, door_error(call_code::bad_request,
                                          "Idempotency-Key must be 1 to 255 visible ASCII "
                                          "characters, bare or in double quotes"));
      }
      call.idempotency_key = scoped_idempotency_key(info.client, *key);
    }
    shared_->engine.submit(std::move(call), socket_.get_executor(),
                           [self = shared_from_this(), info = std::move(info)](call_result&& r) {
                             self->on_result(info, std::move(r));
                           });
  }

  void on_result(const call_info& info, call_result&& r) {
    if (!observe_result(info.meta.request_id, info.op, info.started, info.trace, r, &info.client))
      return;
    std::string& body = body_scratch();
    answer res;
    std::vector<std::pair<std::string, std::string>> accepted;
    if (!r.location.empty()) {  // durable in the journal; delivered later
      res.status = 202;
      res.content_type = "application/json";
      append_json(body, r.data);
      accepted = {{"Location", r.location}, {"Preference-Applied", "respond-async"}};
      res.headers = &accepted;
    } else if (r.code == call_code::ok) {
      res.content_type = "application/json";
      append_json(body, r.data);
    } else {
      res.status = answer_status(r);
      res.content_type = "application/problem+json";
      append_json(body, make_problem(r, info.meta.request_id));
      if (r.code == call_code::unauthenticated) res.headers = bearer_challenge();
    }
    if (r.replayed) {  // the first answer of this Idempotency-Key, given again
      if (res.headers && res.headers != &accepted) accepted = *res.headers;
      accepted.emplace_back("Idempotent-Replayed", "true");
      res.headers = &accepted;
    }
    res.body = body;
    res.attempts = r.attempts;
    res.retry_after = r.retry_after_seconds;
    send(info.meta, res);
  }

  void answer_json(const request_meta& m, int status, std::string_view body) {
    answer res;
    res.status = status;
    res.content_type = "application/json";
    res.body = body;
    send(m, res);
  }

  void answer_problem(const request_meta& m, std::string_view code, int status,
                      std::string_view detail, std::string_view allow = {}) {
    std::string& body = body_scratch();
    append_json(body, make_problem(code, status, detail, m.request_id));
    answer res;
    res.status = status;
    res.content_type = "application/problem+json";
    res.allow = allow;
    res.body = body;
    send(m, res);
  }

  // Per-thread scratch for formatting: used and finished synchronously, never across a wait.
  static std::string& body_scratch() {
    thread_local std::string s;
    s.clear();
    return s;
  }

  // Answers leave in request order: the next one is formatted straight into the output (then the
  // parked answers that follow it); an early one is parked until those before it are answered.
  void send(const request_meta& m, const answer& a) {
    if (a.status >= 300) shared_->stats.errors_total.fetch_add(1, std::memory_order_relaxed);
    if (m.seq != next_out_) {
      parked& p = parked_.emplace_back();
      p.seq = m.seq;
      p.version = m.version;
      p.keep_alive = m.keep_alive;
      append_head(p.bytes, m, a);
      p.head_size = p.bytes.size();
      p.bytes.append(a.body);
      return;
    }
    std::string& o = out();
    append_head(o, m, a);
    end_head(o, m.version, m.keep_alive);
    o.append(a.body);
    while (!parked_.empty()) {
      auto it = parked_.begin();
      while (it != parked_.end() && it->seq != next_out_) ++it;
      if (it == parked_.end()) break;
      std::string_view bytes = it->bytes;
      o.append(bytes.substr(0, it->head_size));
      end_head(o, it->version, it->keep_alive);
      o.append(bytes.substr(it->head_size));
      parked_.erase(it);
    }
    if (parked_.empty()) std::vector<parked>().swap(parked_);
    do_write();
  }

  // All of the head but the Connection field and the empty line.
  static void append_head(std::string& h, const request_meta& m, const answer& a) {
    // A dozen small pieces: sized once and copied in, cheaper than appending them one by one.
    auto reason = http::obsolete_reason(static_cast<http::status>(a.status));
    std::size_t bound =
        256 + reason.size() + m.request_id.size() + a.content_type.size() + a.allow.size();
    if (a.headers)
      for (const auto& [name, value] : *a.headers) bound += name.size() + value.size() + 4;
    const std::size_t at = h.size();
    h.resize(at + bound);
    char* p = h.data() + at;
    auto put = [&p](std::string_view s) {
      std::memcpy(p, s.data(), s.size());
      p += s.size();
    };
    auto put_number = [&p](long long n) { p = std::to_chars(p, p + 24, n).ptr; };
    put(m.version == 10 ? "HTTP/1.0 "sv : "HTTP/1.1 "sv);
    put_number(a.status);
    put(" "sv);
    put(std::string_view(reason.data(), reason.size()));
    put("\r\nServer: dragoman\r\nX-Request-Id: "sv);
    put(m.request_id);
    put("\r\nContent-Type: "sv);
    put(a.content_type);
    put("\r\n"sv);
    if (!a.allow.empty()) {
      put("Allow: "sv);
      put(a.allow);
      put("\r\n"sv);
    }
    if (a.attempts >= 0) {
      put("X-Dragoman-Attempts: "sv);
      put_number(a.attempts);
      put("\r\n"sv);
    }
    if (a.retry_after) {
      put("Retry-After: "sv);
      put_number(*a.retry_after);
      put("\r\n"sv);
    }
    if (a.headers) {
      for (const auto& [name, value] : *a.headers) {
        put(name);
        put(": "sv);
        put(value);
        put("\r\n"sv);
      }
    }
    put("Content-Length: "sv);
    put_number(static_cast<long long>(a.body.size()));
    put("\r\n"sv);
    h.resize(static_cast<std::size_t>(p - h.data()));
  }

  // Ends the head of the answer going out now. Whether it closes the connection is decided here,
  // where its place is known: after a request that did not keep it, or as a drain's last answer.
  void end_head(std::string& o, unsigned version, bool keep_alive) {
    const bool last = !keep_alive || (phase_ == phase::draining && next_out_ + 1 == next_seq_);
    if (last)
      o.append("Connection: close\r\n\r\n"sv);
    else if (version == 10)
      o.append("Connection: keep-alive\r\n\r\n"sv);
    else
      o.append("\r\n"sv);
    ++next_out_;
    answer_added(last);
  }

  // A write ended: its answers are delivered; the last one may end the connection.
  void on_written(std::size_t answers, bool last) {
    written_ += answers;
    if (last) return phase_ == phase::draining ? close() : linger_close();
    do_write();
    consume_buffered();  // room again: buffered requests first, then the socket
    finish_if_done();
  }

  void finish_if_done() {
    if (closed_ || owed() != 0 || writing_) return;
    if (phase_ == phase::draining) return close();
    if (phase_ == phase::paused && !reading_) linger_close();
  }

  // Sends FIN, then discards input until the client closes too or linger_time passes.
  void linger_close() {
    if (closed_ || phase_ == phase::lingering) return;
    phase_ = phase::lingering;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    drop_input();
    arm_timer(linger_time);
    do_read();
  }

  void on_timer() {
    if (closed_) return;
    if (phase_ == phase::lingering) return close();
    check_idle(owed() != 0 && !writing_, header_done());
  }

  // door_session closes: parked answers are dropped with those in the output.
  std::size_t on_close() {
    const std::size_t held = parked_.size();
    std::vector<parked>().swap(parked_);
    drop_input();
    return held;
  }

  std::string in_;  // received bytes not yet parsed, from in_start_
  std::size_t in_start_ = 0;
  std::unique_ptr<http_request_parser> parser_;  // a request partly received
  std::vector<parked> parked_;                   // answers ready before earlier ones
  std::uint64_t next_seq_ = 0;                   // requests accepted
  std::uint64_t next_out_ = 0;                   // answers placed in the output (in order)
  std::uint64_t written_ = 0;                    // answers written
  phase phase_ = phase::reading;
};

}  // namespace

http_door::http_door(io_pool& pool, call_engine& engine, http_door_options options)
    : door(pool, engine, std::move(options), "HTTP",
           [](const std::shared_ptr<shared>& sh, tcp::socket socket) {
             admit<http_session>(sh, std::move(socket));
           }) {}

}  // namespace dragoman::bridge
