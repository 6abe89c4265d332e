// The line front door: newline-delimited JSON calls over TCP, answered in completion order.
#include "bridge/line_door.hpp"

#include "bridge/buffer_pool.hpp"
#include "bridge/metrics.hpp"
#include "bridge/problem.hpp"
#include "bridge/wire_trace.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace dragoman::bridge {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using clock_type = std::chrono::steady_clock;

// Consumed bytes at the front of the input are dropped once they exceed this (or all is consumed),
// so a burst of small lines costs one memmove, not one per line.
constexpr std::size_t compact_threshold = 65536;
// Input buffers larger than this are released when they empty (idle connections stay small).
constexpr std::size_t idle_buffer_keep = 4096;

bool blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

}  // namespace

namespace {

class line_session : public door_session<line_session, line_door::shared> {
 public:
  using door_session::door_session;
  friend door_session;  // calls close() and on_timer()

  void start() {
    enter();
    if (shared_->draining) return drain();
    do_read();
  }

  void drain() {
    draining_ = true;
    finish_if_done();
  }

 private:
  void do_read() {
    if (closed_ || reading_ || eof_ || draining_) return;
    if (outstanding_ >= shared_->options.max_in_flight) {
      shared_->stats.reads_paused.fetch_add(1, std::memory_order_relaxed);
      return;  // on_write resumes
    }
    reading_ = true;
    // Reactor-style: wait until readable, then read into this thread's scratch buffer. An idle
    // connection holds no read buffer, and no read is tried before data is there.
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](error_code ec) { self->on_readable(ec); });
  }

  void on_readable(error_code ec) {
    // One buffer per thread is safe: the read happens here, synchronously, on this thread.
    thread_local std::array<char, 16384> chunk;
    std::size_t n = 0;
    if (!ec) {
      if (!socket_.non_blocking()) socket_.non_blocking(true, ec);
      if (!ec) n = socket_.read_some(asio::buffer(chunk), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        reading_ = false;
        return do_read();
      }
    }
    on_read(ec, chunk.data(), n);
  }

  void on_read(error_code ec, const char* data, std::size_t n) {
    reading_ = false;
    if (closed_) return;
    if (ec) {
      if (ec != asio::error::eof) return close();
      eof_ = true;
      // A last line without its newline still counts (`printf '{…}' | nc` is a fair client).
      if (!discarding_ && in_.size() > start_) in_.push_back('\n');
      process();
      return finish_if_done();
    }
    last_activity_ = clock_type::now();
    in_.append(data, n);
    process();
  }

  // Handles every complete line in the input while there is room for more calls in flight.
  void process() {
    const std::size_t max_line = shared_->options.max_line_bytes;
    while (!closed_ && !draining_ && outstanding_ < shared_->options.max_in_flight) {
      if (discarding_) {
        auto nl = in_.find('\n', start_);
        if (nl == std::string::npos) {
          in_.clear();
          start_ = scan_ = 0;
          break;
        }
        start_ = scan_ = nl + 1;
        discarding_ = false;
        continue;
      }
      auto nl = in_.find('\n', scan_);
      if (nl == std::string::npos) {
        if (in_.size() - start_ > max_line) {
          too_long();
          discarding_ = true;  // the rest of this line, whenever it comes
          in_.clear();
          start_ = scan_ = 0;
          continue;
        }
        scan_ = in_.size();
        break;
      }
      std::string_view line(in_.data() + start_, nl - start_);
      start_ = scan_ = nl + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.size() > max_line) {
        too_long();
      } else if (!blank(line)) {
        handle(line);
      }
    }
    if (start_ == in_.size() || start_ >= compact_threshold) {
      in_.erase(0, start_);
      scan_ -= start_;
      start_ = 0;
    }
    // A burst or a long line grew the buffer: give the memory back once it is empty.
    if (in_.empty() && in_.capacity() > idle_buffer_keep) std::string().swap(in_);
    do_read();
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
    call_observation ob;
    ob.door = shared_->options.name;
    ob.request_id = info.request_id;
    ob.op = info.op;
    ob.result = &r;
    ob.total =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - info.started);
    observe_call(shared_->options.call_metrics, ob);
    if (info.trace) write_wire_trace(shared_->options.name, info.request_id, info.op, r);
    if (closed_) {
      shared_->stats.answers_dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (r.code != call_code::ok)
      shared_->stats.errors_total.fetch_add(1, std::memory_order_relaxed);
    // Answers wait in out_ while a write is in flight and leave together in the next one.
    if (out_.empty() && out_.capacity() < pooled_buffer_reserve) out_ = thread_buffers().take();
    append_line_answer(out_, info.id, r);
    ++out_count_;
    do_write();
  }

  void do_write() {
    if (closed_ || writing_ || out_.empty()) return;
    writing_ = true;
    std::swap(out_, writing_buf_);  // out_ is now empty (its buffer went back after a write)
    writing_count_ = out_count_;
    out_count_ = 0;
    asio::async_write(
        socket_, asio::buffer(writing_buf_),
        [self = shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(error_code ec) {
    writing_ = false;
    if (closed_) return;
    if (ec) return close();
    last_activity_ = clock_type::now();
    outstanding_ -= writing_count_;
    writing_count_ = 0;
    thread_buffers().give(std::exchange(writing_buf_, std::string()));
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

  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    socket_.close(ec);
    timer_.cancel();
    if (outstanding_ > 0) {
      shared_->stats.answers_dropped.fetch_add(out_count_ + writing_count_,
                                               std::memory_order_relaxed);
    }
    leave();
  }

  std::string in_;           // received bytes; lines are consumed from start_
  std::size_t start_ = 0;    // first byte not yet consumed
  std::size_t scan_ = 0;     // bytes before this were searched for '\n' already
  bool discarding_ = false;  // skipping the rest of an over-long line
  std::string out_;          // answers for the next write
  std::string writing_buf_;  // the write in flight
  std::size_t out_count_ = 0;
  std::size_t writing_count_ = 0;
  std::size_t outstanding_ = 0;  // calls in flight plus answers not yet written
  bool reading_ = false;
  bool writing_ = false;
  bool eof_ = false;
  bool draining_ = false;
  bool closed_ = false;
};

}  // namespace

line_door::line_door(io_pool& pool, call_engine& engine, line_door_options options)
    : door(pool, engine, std::move(options), "lines",
           [](const std::shared_ptr<shared>& sh, tcp::socket socket) {
             admit<line_session>(sh, std::move(socket));
           }) {}

}  // namespace dragoman::bridge
