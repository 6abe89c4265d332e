// The line front door: newline-delimited JSON calls over TCP, answered in completion order.
#include "bridge/line_door.hpp"

#include "bridge/idempotency.hpp"

#include "bridge/door_guard.hpp"
#include "bridge/line_splitter.hpp"
#include "bridge/line_subscriber.hpp"
#include "bridge/line_subscriptions.hpp"
#include "bridge/metrics.hpp"
#include "bridge/problem.hpp"

#include <optional>
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
  ~line_session() { unsubscribe(); }

  void start() {
    enter();
    if (shared_->draining) return drain();
    do_read();
  }

  void drain() {
    draining_ = true;
    unsubscribe();  // what it holds goes to another subscriber (no more replies are read)
    finish_if_done();
  }

  // A delivery for this subscriber (posted by its sink): one line out, the reply comes later.
  void inbound(const deliver_request& r) {
    if (closed_ || draining_) return unsubscribe();
    append_inbound_line(out(), r);
    ++outstanding_;
    answer_added();
    do_write();
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
    const auto started = clock_type::now();
    error_code ec;
    boost::json::value v = parse_scratch(line, ec);
    if (!ec && v.is_object() && kind_of(v.get_object()) != line_kind::call)
      return subscription_line(v.get_object());
    if (shared_->options.call_metrics) shared_->options.call_metrics->call_begun();
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
    if (auto* a = o.if_contains("auth")) return authenticate(std::move(info), *a);
    auto* op = o.if_contains("op");
    if (op && op->is_string()) info.op = std::string(op->get_string());
    if (!op || !op->is_string() || op->get_string().empty()) {
      return call_answer(std::move(info),
                         door_error(call_code::bad_request, "op must be a non-empty string"));
    }
    const auto& opts = shared_->options;
    if (opts.guard) {
      if (auto refused = admit_call(*opts.guard, info.op))
        return call_answer(std::move(info), std::move(*refused));
    }
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
    if (auto* a = o.if_contains("async"); a && !a->is_null()) {
      if (!a->is_bool())
        return call_answer(std::move(info),
                           door_error(call_code::bad_request, "async must be true or false"));
      req.async = a->get_bool();
    }
    if (auto* k = o.if_contains("idempotency_key"); k && !k->is_null()) {
      auto key = k->is_string() ? parse_idempotency_key(k->get_string()) : std::nullopt;
      if (!key)
        return call_answer(std::move(info),
                           door_error(call_code::bad_request,
                                      "idempotency_key must be a string of 1 to 255 visible "
                                      "ASCII characters"));
      req.idempotency_key = scoped_idempotency_key(client_, *key);
    }
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

  // A subscribe or reply_to line (or one that is more than one kind): not a call.
  void subscription_line(const boost::json::object& o) {
    boost::json::value id = nullptr;
    if (auto* p = o.if_contains("id"); p && (p->is_string() || p->is_number())) id = *p;
    const auto& subs = shared_->options.subscriptions;
    // The host's messages are data like any answer: with tokens, only an authenticated
    // connection subscribes (and replies), and the policy decides per operation.
    door_guard* guard = shared_->options.guard;
    if (guard && client_.empty() && guard->takes_tokens())
      return door_line(
          [&](std::string& out) { append_line_answer(out, id, guard->unauthenticated_line()); });
    std::string why;
    auto code = call_code::bad_request;
    switch (kind_of(o)) {
      case line_kind::ambiguous:
        why = "a line is a call (op), a subscription (subscribe) or a reply (reply_to): not two";
        break;
      case line_kind::subscribe: {
        std::vector<std::string> ops;
        why = parse_subscribe(o, ops);
        if (why.empty() && !subs) why = "this door delivers no messages from the host";
        if (why.empty() && draining_) why = "the door is draining: no new subscriptions";
        if (!why.empty()) break;
        for (const auto& op : ops) {
          if (auto refused = guard ? guard->admit(client_, op) : std::nullopt)
            return door_line([&](std::string& out) { append_line_answer(out, id, *refused); });
        }
        if (!sub_id_) sub_id_ = subs->attach(std::make_shared<sink>(weak_from_this(), executor()));
        why = subs->subscribe(sub_id_, ops);
        if (!why.empty()) {
          code = call_code::unknown_operation;
          break;
        }
        call_result r;
        boost::json::array names(ops.begin(), ops.end());
        r.data["subscribed"] = std::move(names);
        return door_line([&](std::string& out) { append_line_answer(out, id, r); });
      }
      default: {
        std::string message_id;
        deliver_response answer;
        why = parse_reply(o, message_id, answer);
        if (why.empty() && !(sub_id_ && subs->reply(sub_id_, message_id, std::move(answer))))
          why = "no delivery " + message_id +
                " is waiting for this connection's reply (answered already, timed out, or "
                "never sent here)";
        if (why.empty()) return;
        shared_->stats.errors_total.fetch_add(1, std::memory_order_relaxed);
        return door_line(
            [&](std::string& out) { append_reply_error(out, o.at("reply_to"), "reply: " + why); });
      }
    }
    shared_->stats.errors_total.fetch_add(1, std::memory_order_relaxed);
    door_line([&](std::string& out) { append_line_answer(out, id, door_error(code, why)); });
  }

  // A line the door writes of its own (not a call's answer: no call metrics).
  template <class Append>
  void door_line(Append append) {
    append(out());
    ++outstanding_;
    answer_added();
    do_write();
  }

  void unsubscribe() {
    if (auto id = std::exchange(sub_id_, 0)) shared_->options.subscriptions->detach(id);
  }

  // Hands deliveries to the session's own thread; a session gone meanwhile leaves them held
  // until its destructor detaches (which hands them on).
  class sink final : public subscriber_sink {
   public:
    sink(std::weak_ptr<line_session> s, boost::asio::any_io_executor ex)
        : s_(std::move(s)), ex_(std::move(ex)) {}
    void deliver(const deliver_request& r) override {
      boost::asio::post(ex_, [s = s_, r] {
        if (auto self = s.lock()) self->inbound(r);
      });
    }

   private:
    std::weak_ptr<line_session> s_;
    boost::asio::any_io_executor ex_;
  };

  // {"auth":"TOKEN"} (with an id, if wanted): the connection's calls from here on are the token's
  // client's. A bad token is answered, then the connection closes (no guessing at line rate).
  void authenticate(call_info info, const boost::json::value& token) {
    info.op = "auth";
    std::optional<call_result> refused;
    std::string client;
    if (!token.is_string())
      refused = door_error(call_code::bad_request, "auth must be a string (a token)");
    else if (!shared_->options.guard)
      refused = door_error(call_code::bad_request, "this door takes no tokens (no --door-tokens)");
    else
      refused = shared_->options.guard->authenticate_token(token.get_string(), client);
    if (refused) {
      draining_ = true;  // no more lines are read or handled: the answer, then close
      call_answer(std::move(info), std::move(*refused));
      return finish_if_done();
    }
    client_ = std::move(client);
    call_result ok;
    ok.data["client"] = client_;
    call_answer(std::move(info), std::move(ok));
  }

  // Who calls (the line's token, else the certificate's identity), and may they call op.
  std::optional<call_result> admit_call(door_guard& guard, std::string_view op) {
    if (client_.empty() && guard.takes_tokens()) return guard.unauthenticated_line();
    return guard.admit(client_, op);
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
    // A subscriber waits for the host's messages: that is not idleness.
    check_idle((outstanding_ > 0 && !writing_) || sub_id_ != 0);
  }

  // door_session closes: every answer this session holds is in the output; the deliveries it
  // holds go to another subscriber.
  std::size_t on_close() {
    unsubscribe();
    return 0;
  }

  line_splitter lines_{shared_->options.max_line_bytes};
  std::size_t outstanding_ = 0;  // calls in flight plus answers not yet written
  bool eof_ = false;
  bool draining_ = false;
  std::uint64_t sub_id_ = 0;  // in options.subscriptions, once subscribed
};

}  // namespace

line_door::line_door(io_pool& pool, call_engine& engine, line_door_options options)
    : door(pool, engine, std::move(options), "lines",
           [](const std::shared_ptr<shared>& sh, tcp::socket socket) {
             admit<line_session>(sh, std::move(socket));
           }) {}

}  // namespace dragoman::bridge
