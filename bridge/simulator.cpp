// The simulated legacy system: accepts connections, reads requests off each one and writes the
// answers that simulator_rules plans (reply values, defaults, echo, or a scripted fault).
#include "bridge/simulator.hpp"

#include "bridge/host_port.hpp"
#include "bridge/log.hpp"
#include "bridge/simulator_rules.hpp"
#include "codecs/frame_reader.hpp"
#include "codecs/pipeline.hpp"
#include "codecs/unrecognised.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dragoman::bridge {

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Replies waiting to be written per connection; reading pauses while this many are queued.
constexpr std::size_t max_queued_replies = 1024;
// A client that does not read its replies for this long loses the connection.
constexpr milliseconds write_timeout{30000};
constexpr milliseconds accept_retry_delay{100};

using sim::answer_action;
using sim::planned;

class simulator_impl;

// One accepted client: a reader that decodes requests and plans their answers, and a writer that
// sends them in order, one write in flight, both on the connection's strand.
class sim_connection : public std::enable_shared_from_this<sim_connection> {
 public:
  sim_connection(std::shared_ptr<simulator_impl> sim, tcp::socket socket, std::uint64_t id);
  void start();
  // Any thread: closes the socket on the connection's strand.
  void post_close();
  // Any thread: sends a request of the operation on the connection's strand.
  void post_send(std::size_t op_index);
  std::uint64_t id() const noexcept { return id_; }

  // On the connection's strand: builds a request of the operation and queues it.
  void send_own(std::size_t op_index);

 private:
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> send_loop(std::size_t op_index, milliseconds every);
  // Handles every whole frame in input_; false when the connection must close (fatal framing,
  // or a full buffer with no frame in it).
  bool handle_frames();
  void handle_payload(codecs::byte_view payload);
  void unrecognised(codecs::byte_view payload, const std::string& why);
  void enqueue(planned p);
  void close();

  std::shared_ptr<simulator_impl> sim_;
  tcp::socket socket_;
  std::uint64_t id_;
  asio::steady_timer wake_;   // the writer waits here for work
  asio::steady_timer space_;  // the reader waits here while the queue is full
  asio::steady_timer delay_;  // a delayed answer's due time
  asio::steady_timer write_deadline_;
  std::deque<planned> queue_;
  bool closed_ = false;
  bool reader_done_ = false;
  codecs::frame_reader input_;
  codecs::record request_;
  codecs::record unrecognised_answer_;
  codecs::byte_buffer payload_;  // scratch for our own requests
  sim::answer_scratch answer_;
  bool logged_encode_error_ = false;
};

class simulator_impl final : public simulator, public std::enable_shared_from_this<simulator_impl> {
 public:
  simulator_impl(asio::io_context& ctx, std::shared_ptr<const codecs::profile> profile,
                 sim::compiled_rules rules)
      : ctx_(ctx),
        profile_(std::move(profile)),
        rules_(std::move(rules)),
        per_op_(new std::atomic<std::uint64_t>[profile_->operations.size() + 1]),
        acceptor_(asio::make_strand(ctx)) {
    for (std::size_t i = 0; i <= profile_->operations.size(); ++i) per_op_[i] = 0;
  }

  void listen(const tcp::endpoint& ep, const std::string& text) {
    boost::system::error_code ec;
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) local_ = acceptor_.local_endpoint(ec);
    if (ec) throw std::runtime_error("simulator: cannot listen on " + text + ": " + ec.message());
    asio::co_spawn(acceptor_.get_executor(), accept_loop(shared_from_this()),
                   [](std::exception_ptr e) { log_exception("accept loop", e); });
  }

  tcp::endpoint local_endpoint() const override { return local_; }
  const simulator_stats& stats() const override { return stats_; }
  std::uint64_t requests_for(const std::string& op) const override {
    for (std::size_t i = 0; i < profile_->operations.size(); ++i)
      if (profile_->operations[i].name == op) return per_op_[i].load();
    return 0;
  }

  std::size_t send_request(const std::string& op) override {
    const codecs::operation* o = profile_->find_operation(op);
    if (!o) throw std::invalid_argument("simulator: no operation \"" + op + "\"");
    std::size_t index = static_cast<std::size_t>(o - profile_->operations.data());
    std::vector<std::shared_ptr<sim_connection>> open;
    {
      std::lock_guard lock(mutex_);
      for (auto& [id, weak] : connections_)
        if (auto c = weak.lock()) open.push_back(std::move(c));
    }
    for (auto& c : open) c->post_send(index);
    return open.size();
  }

  const std::vector<sim::send_rule>& sends() const noexcept { return rules_.sends(); }

  void stop() override {
    std::vector<std::shared_ptr<sim_connection>> open;
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
      for (auto& [id, weak] : connections_)
        if (auto c = weak.lock()) open.push_back(std::move(c));
    }
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ec;
      self->acceptor_.close(ec);
    });
    for (auto& c : open) c->post_close();
  }

  // Data-path helpers for connections.
  const codecs::profile& profile() const noexcept { return *profile_; }
  simulator_stats& mutable_stats() noexcept { return stats_; }
  void count_request(const codecs::operation& op) {
    stats_.requests.fetch_add(1, std::memory_order_relaxed);
    per_op_[op_index(op)].fetch_add(1, std::memory_order_relaxed);
  }
  std::size_t op_index(const codecs::operation& op) const noexcept {
    return static_cast<std::size_t>(&op - profile_->operations.data());
  }
  sim::rule_book& rules() noexcept { return rules_; }
  codecs::generation_context& generator() noexcept { return gen_; }
  void forget(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    connections_.erase(id);
  }

  static void log_exception(std::string_view where, std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::fprintf(stderr, "simulator: %.*s failed: %s\n", static_cast<int>(where.size()),
                   where.data(), x.what());
    } catch (...) {
      std::fprintf(stderr, "simulator: %.*s failed\n", static_cast<int>(where.size()),
                   where.data());
    }
  }

 private:
  static asio::awaitable<void> accept_loop(std::shared_ptr<simulator_impl> self) {
    asio::steady_timer retry(self->acceptor_.get_executor());
    while (self->acceptor_.is_open()) {
      auto [ec, socket] =
          co_await self->acceptor_.async_accept(asio::make_strand(self->ctx_), use_tuple);
      if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) break;
      if (ec) {
        // Out of descriptors or a connection reset before accept: wait a little and go on.
        retry.expires_after(accept_retry_delay);
        co_await retry.async_wait(use_tuple);
        continue;
      }
      self->stats_.connections.fetch_add(1, std::memory_order_relaxed);
      std::shared_ptr<sim_connection> conn;
      {
        std::lock_guard lock(self->mutex_);
        if (self->stopped_) continue;  // the socket closes as it goes out of scope
        std::uint64_t id = self->next_id_++;
        conn = std::make_shared<sim_connection>(self, std::move(socket), id);
        self->connections_.emplace(id, conn);
      }
      conn->start();
    }
  }

  asio::io_context& ctx_;
  std::shared_ptr<const codecs::profile> profile_;
  sim::rule_book rules_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> per_op_;
  codecs::counter_generation_context gen_{*profile_};
  simulator_stats stats_;
  tcp::acceptor acceptor_;
  tcp::endpoint local_;
  std::mutex mutex_;  // guards connections_, next_id_, stopped_
  std::unordered_map<std::uint64_t, std::weak_ptr<sim_connection>> connections_;
  std::uint64_t next_id_ = 1;
  bool stopped_ = false;
};

sim_connection::sim_connection(std::shared_ptr<simulator_impl> sim, tcp::socket socket,
                               std::uint64_t id)
    : sim_(std::move(sim)),
      socket_(std::move(socket)),
      id_(id),
      wake_(socket_.get_executor()),
      space_(socket_.get_executor()),
      delay_(socket_.get_executor()),
      write_deadline_(socket_.get_executor()),
      answer_(static_cast<std::minstd_rand::result_type>(id * 2654435761u + 1)) {}

void sim_connection::start() {
  auto on_done = [](std::exception_ptr e) { simulator_impl::log_exception("connection", e); };
  asio::co_spawn(
      socket_.get_executor(), [self = shared_from_this()] { return self->read_loop(); }, on_done);
  asio::co_spawn(
      socket_.get_executor(), [self = shared_from_this()] { return self->write_loop(); }, on_done);
  for (const auto& s : sim_->sends())
    asio::co_spawn(
        socket_.get_executor(),
        [self = shared_from_this(), s] { return self->send_loop(s.op_index, s.every); }, on_done);
}

void sim_connection::post_send(std::size_t op_index) {
  asio::post(socket_.get_executor(),
             [self = shared_from_this(), op_index] { self->send_own(op_index); });
}

void sim_connection::send_own(std::size_t op_index) {
  if (closed_) return;
  const codecs::profile& prof = sim_->profile();
  const codecs::operation& op = prof.operations[op_index];
  codecs::record req;
  static const json::object no_fields;
  if (!codecs::map_request(op.request, no_fields, sim_->generator(), req)) return;
  planned p;
  p.what = answer_action::send;
  p.due = steady_clock::now();
  if (!codecs::encode_message(prof, op.request, req, payload_, p.bytes)) return;
  sim_->mutable_stats().sent.fetch_add(1, std::memory_order_relaxed);
  enqueue(std::move(p));
}

asio::awaitable<void> sim_connection::send_loop(std::size_t op_index, milliseconds every) {
  asio::steady_timer timer(socket_.get_executor());
  while (!closed_) {
    timer.expires_after(every);
    co_await timer.async_wait(use_tuple);
    if (closed_) break;
    send_own(op_index);
  }
}

void sim_connection::post_close() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close(); });
}

void sim_connection::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  wake_.cancel();
  space_.cancel();
  delay_.cancel();
  write_deadline_.cancel();
  sim_->forget(id_);
}

void sim_connection::enqueue(planned p) {
  queue_.push_back(std::move(p));
  wake_.cancel();
}

bool sim_connection::handle_frames() {
  auto bad_frame = [this] {
    sim_->mutable_stats().bad_frames.fetch_add(1, std::memory_order_relaxed);
  };
  while (!closed_) {
    auto e = input_.next();
    switch (e.kind) {
      case codecs::frame_reader::event_kind::frame:
        handle_payload(e.payload);
        break;
      case codecs::frame_reader::event_kind::skip:
        // A skip without a message continues a discard already counted.
        if (!e.message.empty()) bad_frame();
        break;
      case codecs::frame_reader::event_kind::fatal:  // also a decoder that makes no progress
        bad_frame();
        return false;
      case codecs::frame_reader::event_kind::need_more:
        if (!input_.full()) return true;
        bad_frame();  // the input limit: no frame fits
        return false;
    }
  }
  return true;
}

asio::awaitable<void> sim_connection::read_loop() {
  const codecs::profile& prof = sim_->profile();
  // A decoder may hold a little more than one frame; a buffer this full means it is not
  // progressing.
  input_.reset(prof.framing->make_decoder(), prof.framing->max_frame_length() * 2 + 65536);
  while (!closed_) {
    while (queue_.size() >= max_queued_replies && !closed_) {
      space_.expires_at(steady_clock::time_point::max());
      co_await space_.async_wait(use_tuple);
    }
    if (closed_) break;
    std::span<codecs::byte> space = input_.prepare();
    auto [ec, n] =
        co_await socket_.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
    if (ec) break;  // end of stream, reset or closed by stop(): all normal endings here
    input_.commit(n);
    if (!handle_frames()) {
      // Answers already planned still go out, in order, before the connection closes.
      enqueue(planned{answer_action::close, steady_clock::now(), {}});
      break;
    }
  }
  reader_done_ = true;
  wake_.cancel();
}

asio::awaitable<void> sim_connection::write_loop() {
  while (!closed_) {
    if (queue_.empty()) {
      if (reader_done_) break;
      wake_.expires_at(steady_clock::time_point::max());
      co_await wake_.async_wait(use_tuple);
      continue;
    }
    planned next = std::move(queue_.front());
    queue_.pop_front();
    space_.cancel();
    if (next.due > steady_clock::now()) {
      delay_.expires_at(next.due);
      co_await delay_.async_wait(use_tuple);
      if (closed_) break;
    }
    if (next.what == answer_action::close) break;
    if (next.what == answer_action::skip) continue;
    write_deadline_.expires_after(write_timeout);
    write_deadline_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->close();
    });
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(next.bytes), use_tuple);
    (void)n;
    write_deadline_.cancel();
    if (ec) break;
  }
  close();
}

void sim_connection::handle_payload(codecs::byte_view payload) {
  const codecs::profile& prof = sim_->profile();
  auto decoded =
      codecs::decode_payload(prof, payload, request_, codecs::decode_preference::requests_first);
  if (decoded && decoded->is_reply) {
    // The client's answer to one of our own requests (an echo test).
    sim_->mutable_stats().answers.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!decoded) {
    unrecognised(payload, decoded.error().to_string());
    return;
  }
  const codecs::operation& op = *decoded->op;
  sim_->count_request(op);
  const std::size_t index = sim_->op_index(op);
  const sim::compiled_rule* rule = sim_->rules().match(index, request_);
  sim::answer_input in{
      prof, op, request_, rule, sim_->rules().defaults_for(index), steady_clock::now()};
  auto answer = sim::plan_answer(in, sim_->generator(), answer_);
  if (!answer) {
    if (!logged_encode_error_) {
      std::fprintf(stderr, "simulator: cannot encode the %s reply: %s\n", op.name.c_str(),
                   answer.error().to_string().c_str());
      logged_encode_error_ = true;
    }
    return;  // no answer; the caller times out, as with a host that chokes on its own reply
  }
  enqueue(std::move(*answer));
}

// Well framed but no message of this profile: counted and logged with why and a masked excerpt,
// and answered with the profile's negative reply when it gives one (the connection stays open).
void sim_connection::unrecognised(codecs::byte_view payload, const std::string& why) {
  sim_->mutable_stats().bad_frames.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t n =
      sim_->mutable_stats().unrecognised.fetch_add(1, std::memory_order_relaxed) + 1;
  const codecs::profile& prof = sim_->profile();
  const codecs::operation* op =
      codecs::answer_unrecognised(prof, payload, request_, unrecognised_answer_);
  if (n <= 100 || n % 1000 == 0)
    log::warn("unrecognised_frame",
              {{"connection", id_},
               {"reason", why},
               {"bytes", payload.size()},
               {"excerpt", codecs::masked_excerpt(payload)},
               {"answered_with", op ? json::value(op->name) : json::value(nullptr)},
               {"unrecognised_total", n}});
  if (!op) return;
  planned p;
  p.what = answer_action::send;
  p.due = steady_clock::now();
  if (!codecs::encode_message(prof, op->reply, unrecognised_answer_, payload_, p.bytes)) return;
  enqueue(std::move(p));
}

tcp::endpoint parse_listen(const std::string& text) {
  auto fail = [&](const std::string& why) -> std::runtime_error {
    return std::runtime_error("simulator: bad listen address \"" + text + "\": " + why);
  };
  auto split = split_host_port(text);
  if (!split && split.error == host_port_error::bad_port)
    throw fail("port must be a number 0..65535");
  if (!split) throw fail("expected host:port");
  std::string host = std::move(split.value->host);
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) throw fail("host must be an IP address or localhost");
  return tcp::endpoint(addr, split.value->port_number);
}

}  // namespace

std::shared_ptr<simulator> start_simulator(asio::io_context& ctx,
                                           std::shared_ptr<const codecs::profile> profile,
                                           simulator_options options) {
  if (!profile) throw std::runtime_error("simulator: no profile");
  sim::compiled_rules rules = sim::compile_simulator_rules(*profile, options.rules);
  tcp::endpoint ep = parse_listen(options.listen);
  auto s = std::make_shared<simulator_impl>(ctx, std::move(profile), std::move(rules));
  s->listen(ep, options.listen);
  return s;
}

}  // namespace dragoman::bridge
