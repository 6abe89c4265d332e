// The simulated legacy system: accepts connections, decodes requests with the profile and answers
// each one from the rules (reply values, defaults, echo) or with a scripted fault.
#include "bridge/simulator.hpp"

#include "codecs/config.hpp"
#include "codecs/pipeline.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <iterator>
#include <mutex>
#include <optional>
#include <random>
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

enum class fault_kind { none, delay, no_answer, close, garbage, wrong_key };
enum class garbage_kind { framed, unframed };

constexpr std::string_view fault_names[] = {"delay", "no_answer", "close", "garbage", "wrong_key"};
constexpr fault_kind fault_values[] = {fault_kind::delay, fault_kind::no_answer, fault_kind::close,
                                       fault_kind::garbage, fault_kind::wrong_key};

struct send_rule {
  std::size_t op_index = 0;
  milliseconds every{1000};
};

struct compiled_rule {
  std::size_t op_index = 0;
  std::vector<std::pair<std::size_t, std::string>> when;   // request field → expected value
  std::vector<std::pair<std::size_t, std::string>> reply;  // reply field → value
  fault_kind fault = fault_kind::none;
  garbage_kind garbage = garbage_kind::framed;
  milliseconds delay{0};
  std::optional<std::uint64_t> times;  // applies to its first N matches only
};

// The canonical text of a JSON scalar, as map_request writes it into a record.
std::optional<std::string> scalar_text(const json::value& v) {
  char buf[64];
  switch (v.kind()) {
    case json::kind::string:
      return std::string(v.get_string());
    case json::kind::int64: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_int64());
      return std::string(buf, r.ptr);
    }
    case json::kind::uint64: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
      return std::string(buf, r.ptr);
    }
    case json::kind::double_: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_double(), std::chars_format::fixed);
      return std::string(buf, r.ptr);
    }
    case json::kind::bool_:
      return std::string(v.get_bool() ? "true" : "false");
    default:
      return std::nullopt;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\0')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  return s;
}

// "-0012.50" → "-12.5"; nullopt when not [sign] digits [. digits].
std::optional<std::string> normal_number(std::string_view s) {
  std::string sign;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    if (s.front() == '-') sign = "-";
    s.remove_prefix(1);
  }
  auto dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() && frac.empty()) return std::nullopt;
  for (char c : whole)
    if (c < '0' || c > '9') return std::nullopt;
  for (char c : frac)
    if (c < '0' || c > '9') return std::nullopt;
  while (!whole.empty() && whole.front() == '0') whole.remove_prefix(1);
  while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);
  if (whole.empty() && frac.empty()) return std::string("0");
  std::string out = sign;
  out.append(whole.empty() ? std::string_view("0") : whole);
  if (!frac.empty()) out.append(".").append(frac);
  return out;
}

// A rule's `when` value against a decoded request value: equal as text (ignoring padding) or
// equal as numbers ("000099" matches "99").
bool values_match(std::string_view actual, std::string_view expected) {
  actual = trim(actual);
  expected = trim(expected);
  if (actual == expected) return true;
  auto a = normal_number(actual);
  auto b = normal_number(expected);
  return a && b && *a == *b;
}

// A key that cannot be the one asked for: the last character changed, same length.
void alter_key(std::string& key) {
  if (key.empty()) {
    key = "1";
    return;
  }
  char& c = key.back();
  if (c >= '0' && c <= '9')
    c = static_cast<char>('0' + (c - '0' + 1) % 10);
  else if (c == 'Z' || c == 'z')
    c = static_cast<char>(c - 25);
  else if ((c >= 'A' && c <= 'Y') || (c >= 'a' && c <= 'y'))
    c = static_cast<char>(c + 1);
  else
    c = '0';
}

std::optional<std::size_t> find_request_field(const codecs::message_def& m, std::string_view key) {
  for (std::size_t i = 0; i < m.fields.size(); ++i)
    if (m.fields[i].request_name() == key || m.fields[i].name == key) return i;
  return std::nullopt;
}

std::optional<std::size_t> find_reply_field(const codecs::message_def& m, std::string_view key) {
  for (std::size_t i = 0; i < m.fields.size(); ++i)
    if (m.fields[i].reply_name() == key || m.fields[i].name == key) return i;
  return std::nullopt;
}

std::string join_names(const std::vector<std::string_view>& names) {
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out.append(", ");
    out.append(n);
  }
  return out;
}

std::string field_names(const codecs::message_def& m, bool request) {
  std::vector<std::string_view> names;
  for (const auto& f : m.fields) names.push_back(request ? f.request_name() : f.reply_name());
  return join_names(names);
}

std::string op_names(const codecs::profile& p) {
  std::vector<std::string_view> names;
  for (const auto& op : p.operations) names.push_back(op.name);
  return join_names(names);
}

// Reads reply values ({"result": "51", ...}) of one operation, reporting bad keys and types, and
// checks that each value fits its field by encoding it into an otherwise empty record.
std::vector<std::pair<std::size_t, std::string>> compile_reply_values(const codecs::operation& op,
                                                                      const json::object& obj,
                                                                      const std::string& path,
                                                                      codecs::diagnostics& diag) {
  std::vector<std::pair<std::size_t, std::string>> out;
  for (const auto& kv : obj) {
    std::string key_path = path + "." + std::string(kv.key());
    auto idx = find_reply_field(op.reply, kv.key());
    if (!idx) {
      diag.error(key_path, "unknown reply field of operation " + op.name + ", must be one of " +
                               field_names(op.reply, false));
      continue;
    }
    auto text = scalar_text(kv.value());
    if (!text) {
      diag.error(key_path, "must be a string, a number or a boolean");
      continue;
    }
    out.emplace_back(*idx, std::move(*text));
  }
  if (op.reply.codec) {
    for (const auto& [idx, text] : out) {
      codecs::record r;
      r.reset(op.reply.fields.size());
      for (std::size_t i = 0; i < op.reply.fields.size(); ++i)
        if (op.reply.fields[i].constant) r.set(i, *op.reply.fields[i].constant);
      r.set(idx, text);
      codecs::byte_buffer scratch;
      auto res = op.reply.codec->encode(r, scratch);
      if (!res && res.error().where == op.reply.fields[idx].name)
        diag.error(path + "." + std::string(op.reply.fields[idx].reply_name()),
                   res.error().message);
    }
  }
  return out;
}

class simulator_impl;

// One accepted client: a reader that decodes requests and plans their answers, and a writer that
// sends them in order, one write in flight, both on the connection's strand.
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(std::shared_ptr<simulator_impl> sim, tcp::socket socket, std::uint64_t id);
  void start();
  // Any thread: closes the socket on the connection's strand.
  void post_close();
  // Any thread: sends a request of the operation on the connection's strand.
  void post_send(std::size_t op_index);
  std::uint64_t id() const noexcept { return id_; }

 private:
  enum class action { send, skip, close };
  struct planned {
    action what = action::send;
    steady_clock::time_point due;
    codecs::byte_buffer bytes;
  };

  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> send_loop(std::size_t op_index, milliseconds every);

 public:
  // On the connection's strand: builds a request of the operation and queues it.
  void send_own(std::size_t op_index);

 private:
  void handle_payload(codecs::byte_view payload);
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
  codecs::record request_;
  codecs::record reply_;
  codecs::record scratch_;
  codecs::byte_buffer payload_;
  std::minstd_rand random_;
  bool logged_encode_error_ = false;
};

class simulator_impl final : public simulator, public std::enable_shared_from_this<simulator_impl> {
 public:
  simulator_impl(asio::io_context& ctx, std::shared_ptr<const codecs::profile> profile,
                 std::vector<compiled_rule> rules,
                 std::vector<std::vector<std::pair<std::size_t, std::string>>> defaults,
                 std::vector<send_rule> sends)
      : ctx_(ctx),
        profile_(std::move(profile)),
        rules_(std::move(rules)),
        sends_(std::move(sends)),
        rule_hits_(new std::atomic<std::uint64_t>[rules_.size() + 1]),
        defaults_(std::move(defaults)),
        per_op_(new std::atomic<std::uint64_t>[profile_->operations.size() + 1]),
        acceptor_(asio::make_strand(ctx)) {
    for (std::size_t i = 0; i <= rules_.size(); ++i) rule_hits_[i] = 0;
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
    std::vector<std::shared_ptr<connection>> open;
    {
      std::lock_guard lock(mutex_);
      for (auto& [id, weak] : connections_)
        if (auto c = weak.lock()) open.push_back(std::move(c));
    }
    for (auto& c : open) c->post_send(index);
    return open.size();
  }

  const std::vector<send_rule>& sends() const noexcept { return sends_; }

  void stop() override {
    std::vector<std::shared_ptr<connection>> open;
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
  // The first rule whose op and `when` match (and whose `times` is not used up), or null.
  const compiled_rule* find_rule(const codecs::operation& op, const codecs::record& req) {
    std::size_t index = op_index(op);
    for (std::size_t i = 0; i < rules_.size(); ++i) {
      const compiled_rule& r = rules_[i];
      if (r.op_index != index) continue;
      bool ok = true;
      for (const auto& [idx, value] : r.when)
        if (!values_match(req.get(idx), value)) ok = false;
      if (!ok) continue;
      if (r.times && rule_hits_[i].fetch_add(1, std::memory_order_relaxed) >= *r.times) continue;
      return &r;
    }
    return nullptr;
  }
  const std::vector<std::pair<std::size_t, std::string>>& defaults_for(
      const codecs::operation& op) const {
    return defaults_[op_index(op)];
  }
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
      std::shared_ptr<connection> conn;
      {
        std::lock_guard lock(self->mutex_);
        if (self->stopped_) continue;  // the socket closes as it goes out of scope
        std::uint64_t id = self->next_id_++;
        conn = std::make_shared<connection>(self, std::move(socket), id);
        self->connections_.emplace(id, conn);
      }
      conn->start();
    }
  }

  asio::io_context& ctx_;
  std::shared_ptr<const codecs::profile> profile_;
  std::vector<compiled_rule> rules_;
  std::vector<send_rule> sends_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> rule_hits_;
  std::vector<std::vector<std::pair<std::size_t, std::string>>> defaults_;  // per operation
  std::unique_ptr<std::atomic<std::uint64_t>[]> per_op_;
  codecs::counter_generation_context gen_{*profile_};
  simulator_stats stats_;
  tcp::acceptor acceptor_;
  tcp::endpoint local_;
  std::mutex mutex_;  // guards connections_, next_id_, stopped_
  std::unordered_map<std::uint64_t, std::weak_ptr<connection>> connections_;
  std::uint64_t next_id_ = 1;
  bool stopped_ = false;
};

connection::connection(std::shared_ptr<simulator_impl> sim, tcp::socket socket, std::uint64_t id)
    : sim_(std::move(sim)),
      socket_(std::move(socket)),
      id_(id),
      wake_(socket_.get_executor()),
      space_(socket_.get_executor()),
      delay_(socket_.get_executor()),
      write_deadline_(socket_.get_executor()),
      random_(static_cast<std::minstd_rand::result_type>(id * 2654435761u + 1)) {}

void connection::start() {
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

void connection::post_send(std::size_t op_index) {
  asio::post(socket_.get_executor(),
             [self = shared_from_this(), op_index] { self->send_own(op_index); });
}

void connection::send_own(std::size_t op_index) {
  if (closed_) return;
  const codecs::profile& prof = sim_->profile();
  const codecs::operation& op = prof.operations[op_index];
  codecs::record req;
  static const json::object no_fields;
  if (!codecs::map_request(op.request, no_fields, sim_->generator(), req)) return;
  planned p;
  p.what = action::send;
  p.due = steady_clock::now();
  if (!codecs::encode_message(prof, op.request, req, payload_, p.bytes)) return;
  sim_->mutable_stats().sent.fetch_add(1, std::memory_order_relaxed);
  enqueue(std::move(p));
}

asio::awaitable<void> connection::send_loop(std::size_t op_index, milliseconds every) {
  asio::steady_timer timer(socket_.get_executor());
  while (!closed_) {
    timer.expires_after(every);
    co_await timer.async_wait(use_tuple);
    if (closed_) break;
    send_own(op_index);
  }
}

void connection::post_close() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close(); });
}

void connection::close() {
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

void connection::enqueue(planned p) {
  queue_.push_back(std::move(p));
  wake_.cancel();
}

asio::awaitable<void> connection::read_loop() {
  const codecs::profile& prof = sim_->profile();
  auto decoder = prof.framing->make_decoder();
  // A decoder may hold a little more than one frame; more than this means it is not progressing.
  const std::size_t input_limit = prof.framing->max_frame_length() * 2 + 65536;
  codecs::byte_buffer input;
  std::array<codecs::byte, 16384> chunk;
  while (!closed_) {
    while (queue_.size() >= max_queued_replies && !closed_) {
      space_.expires_at(steady_clock::time_point::max());
      co_await space_.async_wait(use_tuple);
    }
    if (closed_) break;
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk), use_tuple);
    if (ec) break;  // end of stream, reset or closed by stop(): all normal endings here
    input.insert(input.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
    std::size_t pos = 0;
    bool fatal = false;
    while (!closed_ && pos < input.size()) {
      auto fr = decoder->decode(codecs::byte_view(input).subspan(pos));
      if (fr.status == codecs::frame_status::need_more) break;
      if (fr.status == codecs::frame_status::frame && fr.consumed > 0) {
        handle_payload(fr.payload);
        pos += fr.consumed;
        continue;
      }
      if (fr.status == codecs::frame_status::skip && fr.consumed > 0) {
        // A skip without a message continues a discard already counted.
        if (!fr.message.empty())
          sim_->mutable_stats().bad_frames.fetch_add(1, std::memory_order_relaxed);
        pos += fr.consumed;
        continue;
      }
      sim_->mutable_stats().bad_frames.fetch_add(1, std::memory_order_relaxed);
      fatal = true;  // fatal, or a decoder that makes no progress
      break;
    }
    input.erase(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(pos));
    if (!fatal && input.size() > input_limit) {
      sim_->mutable_stats().bad_frames.fetch_add(1, std::memory_order_relaxed);
      fatal = true;
    }
    if (fatal) {
      // Answers already planned still go out, in order, before the connection closes.
      enqueue(planned{action::close, steady_clock::now(), {}});
      break;
    }
  }
  reader_done_ = true;
  wake_.cancel();
}

asio::awaitable<void> connection::write_loop() {
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
    if (next.what == action::close) break;
    if (next.what == action::skip) continue;
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

void connection::handle_payload(codecs::byte_view payload) {
  const codecs::profile& prof = sim_->profile();
  auto decoded =
      codecs::decode_payload(prof, payload, request_, codecs::decode_preference::requests_first);
  if (decoded && decoded->is_reply) {
    // The client's answer to one of our own requests (an echo test).
    sim_->mutable_stats().answers.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!decoded) {
    // Well framed but not a message of this profile: counted and ignored.
    sim_->mutable_stats().bad_frames.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const codecs::operation& op = *decoded->op;
  sim_->count_request(op);
  const compiled_rule* rule = sim_->find_rule(op, request_);
  const fault_kind fault = rule ? rule->fault : fault_kind::none;
  planned p;
  p.due = steady_clock::now() + (rule ? rule->delay : milliseconds(0));
  if (fault == fault_kind::no_answer) {
    p.what = action::skip;
    enqueue(std::move(p));
    return;
  }
  if (fault == fault_kind::close) {
    p.what = action::close;
    enqueue(std::move(p));
    return;
  }

  // The reply record, field by field: constant, rule value, match constant, echo, success code
  // (build_reply gives all but the rule's values), then defaults.
  const codecs::message_def& reply = op.reply;
  codecs::build_reply(op, request_, reply_);
  if (rule)
    for (const auto& [idx, value] : rule->reply)
      if (!reply.fields[idx].constant) reply_.set(idx, value);
  const auto& defaults = sim_->defaults_for(op);
  for (std::size_t i = 0; i < reply.fields.size(); ++i) {
    if (reply_.has(i)) continue;
    const codecs::field_spec& f = reply.fields[i];
    bool done = false;
    for (const auto& [idx, value] : defaults)
      if (idx == i) {
        reply_.set(i, value);
        done = true;
        break;
      }
    if (done) continue;
    if (f.generate == codecs::generator_kind::counter) {
      std::string v = std::to_string(sim_->generator().next_counter(f));
      reply_.set(i, v);
    } else if (f.default_value) {
      reply_.set(i, *f.default_value);
    }
    // Otherwise absent: the layout writes its padding.
  }
  if (fault == fault_kind::wrong_key) {
    std::optional<std::size_t> key = reply.correlation_field;
    if (!key && !prof.correlation.field.empty()) key = reply.index_of(prof.correlation.field);
    if (key) {
      std::string altered(reply_.get(*key));
      alter_key(altered);
      reply_.set(*key, altered);
    }
  }

  p.what = action::send;
  auto res = codecs::encode_message(prof, reply, reply_, payload_, p.bytes);
  if (!res) {
    if (!logged_encode_error_) {
      std::fprintf(stderr, "simulator: cannot encode the %s reply: %s\n", op.name.c_str(),
                   res.error().to_string().c_str());
      logged_encode_error_ = true;
    }
    return;  // no answer; the caller times out, as with a host that chokes on its own reply
  }

  if (fault == fault_kind::garbage) {
    std::vector<codecs::byte_buffer> candidates;
    auto fill = [&](std::size_t len, int mode) {
      codecs::byte_buffer b(len);
      for (auto& x : b) {
        switch (mode) {
          case 0:
            x = static_cast<codecs::byte>(0x80 + random_() % 0x7f);
            break;
          case 1:
            x = 0xff;
            break;
          case 2:
            x = static_cast<codecs::byte>(random_() & 0xff);
            break;
          default:
            x = 0x00;
            break;
        }
      }
      candidates.push_back(std::move(b));
    };
    if (rule->garbage == garbage_kind::framed) {
      // Bytes of the right frame shape that no message of the profile decodes.
      std::size_t len = payload_.empty() ? 16 : payload_.size();
      for (int mode = 0; mode < 4; ++mode) fill(len, mode);
      fill(len + 7, 0);
      fill(len / 2 + 1, 0);
      codecs::byte_buffer chosen = candidates.front();
      for (auto& c : candidates) {
        if (codecs::decode_payload(prof, c, scratch_, codecs::decode_preference::replies_first))
          continue;
        chosen = std::move(c);
        break;
      }
      codecs::byte_buffer framed;
      if (prof.framing->encode(chosen, framed))
        p.bytes = std::move(framed);
      else
        p.bytes = std::move(chosen);
    } else {
      // Bytes the framing itself refuses (or at least never completes into a frame).
      fill(64, 1);
      fill(64, 3);
      fill(64, 2);
      std::optional<std::size_t> need_more;
      std::optional<std::size_t> pick;
      for (std::size_t i = 0; i < candidates.size() && !pick; ++i) {
        auto probe = prof.framing->make_decoder();
        auto fr = probe->decode(candidates[i]);
        if (fr.status == codecs::frame_status::skip || fr.status == codecs::frame_status::fatal)
          pick = i;
        else if (fr.status == codecs::frame_status::need_more && !need_more)
          need_more = i;
      }
      p.bytes = std::move(candidates[pick ? *pick : need_more.value_or(0)]);
    }
  }
  enqueue(std::move(p));
}

tcp::endpoint parse_listen(const std::string& text) {
  auto fail = [&](const std::string& why) -> std::runtime_error {
    return std::runtime_error("simulator: bad listen address \"" + text + "\": " + why);
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos) throw fail("expected host:port");
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto r = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || r.ec != std::errc() || r.ptr != port_text.data() + port_text.size() ||
      port > 65535)
    throw fail("port must be a number 0..65535");
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) throw fail("host must be an IP address or localhost");
  return tcp::endpoint(addr, static_cast<unsigned short>(port));
}

std::string fault_list() {
  std::vector<std::string_view> names(std::begin(fault_names), std::end(fault_names));
  return join_names(names);
}

}  // namespace

std::shared_ptr<simulator> start_simulator(asio::io_context& ctx,
                                           std::shared_ptr<const codecs::profile> profile,
                                           simulator_options options) {
  if (!profile) throw std::runtime_error("simulator: no profile");
  const codecs::profile& p = *profile;
  codecs::diagnostics diag;
  codecs::config_object root(options.rules, "", diag);

  std::vector<compiled_rule> rules;
  if (const json::array* arr = root.get_array("rules")) {
    for (std::size_t n = 0; n < arr->size(); ++n) {
      std::string path = "rules[" + std::to_string(n) + "]";
      const json::value& v = (*arr)[n];
      if (!v.is_object()) {
        diag.error(path, "must be an object");
        continue;
      }
      codecs::config_object cfg(v.get_object(), path, diag);
      compiled_rule rule;
      std::string op_name = cfg.require_string("op");
      const codecs::operation* op = nullptr;
      if (!op_name.empty()) {
        op = p.find_operation(op_name);
        if (!op)
          diag.error(cfg.child_path("op"),
                     "unknown operation \"" + op_name + "\", must be one of " + op_names(p));
      }
      if (op) rule.op_index = static_cast<std::size_t>(op - p.operations.data());

      if (const json::object* when = cfg.get_object("when"); when && op) {
        for (const auto& kv : *when) {
          std::string key_path = cfg.child_path("when") + "." + std::string(kv.key());
          auto idx = find_request_field(op->request, kv.key());
          if (!idx) {
            diag.error(key_path, "unknown request field of operation " + op->name +
                                     ", must be one of " + field_names(op->request, true));
            continue;
          }
          auto text = scalar_text(kv.value());
          if (!text) {
            diag.error(key_path, "must be a string, a number or a boolean");
            continue;
          }
          rule.when.emplace_back(*idx, std::move(*text));
        }
      }
      if (const json::object* reply = cfg.get_object("reply"); reply && op)
        rule.reply = compile_reply_values(*op, *reply, cfg.child_path("reply"), diag);

      if (const json::value* f = cfg.find("fault")) {
        if (!f->is_string()) {
          diag.error(cfg.child_path("fault"), "must be a string, one of " + fault_list());
        } else {
          std::string_view name = f->get_string();
          bool known = false;
          for (std::size_t i = 0; i < std::size(fault_names); ++i)
            if (fault_names[i] == name) {
              rule.fault = fault_values[i];
              known = true;
            }
          if (!known)
            diag.error(cfg.child_path("fault"), "unknown fault \"" + std::string(name) +
                                                    "\", must be one of " + fault_list());
        }
      }
      auto delay = cfg.get_optional_int("delay_ms", 0, 3600000);
      if (delay)
        rule.delay = milliseconds(*delay);
      else if (rule.fault == fault_kind::delay && !cfg.has("delay_ms"))
        diag.error(cfg.child_path("delay_ms"), "is required with fault \"delay\"");
      if (cfg.has("garbage")) {
        std::string g = cfg.get_enum("garbage", {"framed", "unframed"}, "framed");
        rule.garbage = g == "unframed" ? garbage_kind::unframed : garbage_kind::framed;
        if (rule.fault != fault_kind::garbage)
          diag.error(cfg.child_path("garbage"), "only applies to fault \"garbage\"");
      }
      if (auto times = cfg.get_optional_int("times", 1, INT64_MAX))
        rule.times = static_cast<std::uint64_t>(*times);
      cfg.finish();
      rules.push_back(std::move(rule));
    }
  }

  std::vector<std::vector<std::pair<std::size_t, std::string>>> defaults(p.operations.size());
  if (const json::object* defs = root.get_object("defaults")) {
    for (const auto& kv : *defs) {
      std::string path = "defaults." + std::string(kv.key());
      const codecs::operation* op = p.find_operation(kv.key());
      if (!op) {
        diag.error(path, "unknown operation \"" + std::string(kv.key()) + "\", must be one of " +
                             op_names(p));
        continue;
      }
      if (!kv.value().is_object()) {
        diag.error(path, "must be an object of reply fields");
        continue;
      }
      defaults[static_cast<std::size_t>(op - p.operations.data())] =
          compile_reply_values(*op, kv.value().get_object(), path, diag);
    }
  }
  std::vector<send_rule> sends;
  if (const json::array* arr = root.get_array("send")) {
    for (std::size_t n = 0; n < arr->size(); ++n) {
      std::string path = "send[" + std::to_string(n) + "]";
      const json::value& v = (*arr)[n];
      if (!v.is_object()) {
        diag.error(path, "must be an object");
        continue;
      }
      codecs::config_object cfg(v.get_object(), path, diag);
      send_rule rule;
      std::string op_name = cfg.require_string("op");
      const codecs::operation* op = op_name.empty() ? nullptr : p.find_operation(op_name);
      if (!op_name.empty() && !op)
        diag.error(cfg.child_path("op"),
                   "unknown operation \"" + op_name + "\", must be one of " + op_names(p));
      if (op) {
        rule.op_index = static_cast<std::size_t>(op - p.operations.data());
        codecs::counter_generation_context gen(p);
        codecs::record r;
        json::object none;
        if (auto mapped = codecs::map_request(op->request, none, gen, r); !mapped)
          diag.error(cfg.child_path("op"),
                     "its request cannot be built without the app: " + mapped.error().to_string());
      }
      rule.every = milliseconds(cfg.get_int("every_ms", 1000, 10, 3600000));
      cfg.finish();
      sends.push_back(rule);
    }
  }
  root.finish();

  if (!diag.ok()) {
    std::string message = "simulator rules: ";
    for (std::size_t i = 0; i < diag.errors().size(); ++i) {
      if (i) message.append("; ");
      message.append(diag.errors()[i]);
    }
    throw std::runtime_error(message);
  }

  tcp::endpoint ep = parse_listen(options.listen);
  auto sim = std::make_shared<simulator_impl>(ctx, std::move(profile), std::move(rules),
                                              std::move(defaults), std::move(sends));
  sim->listen(ep, options.listen);
  return sim;
}

}  // namespace dragoman::bridge
