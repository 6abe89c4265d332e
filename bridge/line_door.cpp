// The line front door: newline-delimited JSON calls over TCP, answered in completion order.
#include "bridge/line_door.hpp"

#include "bridge/line_splitter.hpp"
#include "bridge/metrics.hpp"
#include "bridge/problem.hpp"

#include <string>
#include <string_view>
#include <utility>

namespace dragoman::bridge {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// One line connection's protocol half: lines split, calls submitted, answers appended in
// completion order; reading, writing and closing are door_session's.
class line_session : public door_session<line_session, line_door::shared> {
 public:
  using door_session::door_session;
  friend door_session;  // its transport half calls back into the hooks below

  void start() {
    enter();
    if (shared_->draining) return drain();
    do_read();
  }

  void drain() {
    draining_ = true;
    finish_if_done();
  }

  // The answer to a connection over the door's maximum (door.hpp's admit).
  static std::string_view refusal() {
    static const std::string text = line_answer(
        nullptr,
        door_error(call_code::overloaded, "the door holds its maximum of connections; try again"));
    return text;
  }

 private:
  void do_read() {
    if (closed_ || reading_ || eof_ || draining_) return;
    if (outstanding_ >= shared_->options.max_in_flight) {
      shared_->stats.reads_paused.fetch_add(1, std::memory_order_relaxed);
      return;  // on_written resumes
    }
    wait_readable();
  }

  bool read_wanted() const { return true; }

  void on_read(error_code ec, std::string_view bytes) {
    if (ec) {
      if (ec != asio::error::eof) return close();
      eof_ = true;
      lines_.finish();
      process();
      return finish_if_done();
    }
    last_activity_ = clock_type::now();
    lines_.append(bytes);
    process(bytes.size());
  }

  // Handles every complete line in the input while there is room for more calls in flight.
  void process(std::size_t received = 0) {
    while (!closed_ && !draining_ && outstanding_ < shared_->options.max_in_flight) {
      const line_splitter::piece p = lines_.next();
      if (p.what == line_splitter::kind::need_more) break;
      if (p.what == line_splitter::kind::too_long)
        too_long();
      else
        handle(p.line);
    }
    lines_.compact();
    // The slow rule (door.hpp) applies to a begun line while the door waits for its rest.
    if (!closed_ && !draining_ && !eof_ && lines_.buffered() != 0 &&
        outstanding_ < shared_->options.max_in_flight)
      message_partial(received);
    else
      message_complete();
    do_read();
  }

  // A begun line missed its deadline: an error line, then the connection closes once what it
  // owes is written.
  void too_slow(bool) {
    if (shared_->options.call_metrics) shared_->options.call_metrics->call_begun();
    draining_ = true;  // no more lines are read or handled
    call_info info;
    info.started = clock_type::now();
    call_answer(std::move(info), door_error(call_code::bad_request,
                                            "the line arrived slower than " +
                                                std::to_string(shared_->options.min_receive_rate) +
                                                " bytes per second"));
    finish_if_done();
  }

  // What the answer of a call needs to be counted, logged and traced.
  struct call_info {
    boost::json::value id;
    std::string request_id;
    std::string op;
    clock_type::time_point started;
    bool trace = false;
  };

  void too_long() {
    if (shared_->options.call_metrics) shared_->options.call_metrics->call_begun();
    call_info info;
    info.started = clock_type::now();
    call_answer(std::move(info),
                door_error(call_code::payload_too_large,
                           "the line is longer than " +
                               std::to_string(shared_->options.max_line_bytes) + " bytes"));
  }

  void handle(std::string_view line) {
    shared_->stats.lines_total.fetch_add(1, std::memory_order_relaxed);
    if (shared_->options.call_metrics) shared_->options.call_metrics->call_begun();
    const auto started = clock_type::now();
    error_code ec;
    boost::json::value v = parse_scratch(line, ec);
    call_info info;
    info.started = started;
    if (ec)
      return call_answer(
          std::move(info),
          door_error(call_code::bad_request, "the line is not valid JSON: " + ec.message()));
    if (!v.is_object())
      return call_answer(std::move(info),
                         door_error(call_code::bad_request, "a line must be a JSON object"));
    auto& o = v.get_object();
    boost::json::value id = nullptr;
    if (auto* p = o.if_contains("id")) id = *p;
    if (!id.is_string() && !id.is_number() && !id.is_null()) {
      return call_answer(std::move(info),
                         door_error(call_code::bad_request, "id must be a string or a number"));
    }
    if (id.is_string())
      info.request_id = std::string(id.get_string());
    else if (!id.is_null())
      info.request_id = boost::json::serialize(id);
    info.id = std::move(id);
    auto* op = o.if_contains("op");
    if (op && op->is_string()) info.op = std::string(op->get_string());
    if (!op || !op->is_string() || op->get_string().empty()) {
      return call_answer(std::move(info),
                         door_error(call_code::bad_request, "op must be a non-empty string"));
    }
    const auto& opts = shared_->options;
    if (opts.trace_all) {
      info.trace = true;
    } else if (opts.allow_trace_header) {
      auto* t = o.if_contains("trace");
      info.trace = t && t->is_bool() && t->get_bool();
    }
    boost::json::object* data = nullptr;
    if (auto* d = o.if_contains("data"); d && !d->is_null()) {
      if (!d->is_object())
        return call_answer(std::move(info),
                           door_error(call_code::bad_request, "data must be a JSON object"));
      data = &d->get_object();
    }
    // Constructed (not assigned) from the parsed object, so that it keeps the scratch memory
    // instead of being copied out of it.
    call_request req{.op = info.op,
                     .data = data ? boost::json::object(std::move(*data)) : boost::json::object(),
                     .request_id = info.request_id,
                     .timeout = std::nullopt,
                     .trace = info.trace};
    if (auto* t = o.if_contains("timeout_ms"); t && !t->is_null()) {
      std::int64_t ms = 0;
      if (t->is_int64())
        ms = t->get_int64();
      else if (t->is_uint64() && t->get_uint64() <= 0x7fffffffu)
        ms = static_cast<std::int64_t>(t->get_uint64());
      if (ms <= 0 || ms > 0x7fffffff) {
        return call_answer(
            std::move(info),
            door_error(call_code::bad_request,
                       "timeout_ms must be a positive whole number of milliseconds"));
      }
      req.timeout = std::chrono::milliseconds(ms);
    }
    ++outstanding_;
    shared_->engine.submit(std::move(req), socket_.get_executor(),
                           [self = shared_from_this(), info = std::move(info)](call_result&& r) {
                             self->on_result(info, std::move(r));
                           });
  }

  // A call the door answers itself (it never reached the engine).
  void call_answer(call_info info, call_result r) {
    ++outstanding_;
    on_result(info, std::move(r));
  }

  void on_result(const call_info& info, call_result&& r) {
    if (!observe_result(info.request_id, info.op, info.started, info.trace, r)) return;
    if (r.code != call_code::ok)
      shared_->stats.errors_total.fetch_add(1, std::memory_order_relaxed);
    // Answers wait in out() while a write is in flight and leave together in the next one.
    append_line_answer(out(), info.id, r);
    answer_added();
    do_write();
  }

  // A write ended: its answers are delivered, which makes room for more calls.
  void on_written(std::size_t answers, bool) {
    outstanding_ -= answers;
    do_write();
    process();  // room again: buffered lines first, then the socket
    finish_if_done();
  }

  void finish_if_done() {
    if (closed_ || outstanding_ != 0 || writing_) return;
    if (draining_ || eof_) {
      error_code ec;
      socket_.shutdown(tcp::socket::shutdown_send, ec);
      close();
    }
  }

  void on_timer() {
    if (closed_) return;
    check_idle(outstanding_ > 0 && !writing_);
  }

  // door_session closes: every answer this session holds is in the output.
  std::size_t on_close() const { return 0; }

  line_splitter lines_{shared_->options.max_line_bytes};
  std::size_t outstanding_ = 0;  // calls in flight plus answers not yet written
  bool eof_ = false;
  bool draining_ = false;
};

}  // namespace

line_door::line_door(io_pool& pool, call_engine& engine, line_door_options options)
    : door(pool, engine, std::move(options), "lines",
           [](const std::shared_ptr<shared>& sh, tcp::socket socket) {
             admit<line_session>(sh, std::move(socket));
           }) {}

}  // namespace dragoman::bridge
