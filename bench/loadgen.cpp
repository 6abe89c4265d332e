// Closed-loop load generator for scripts/bench: memcached text or dragoman NDJSON lines, plus
// idle-connection and start-up probes; one thread, bounded by request count and by time.
//
//   dragoman_loadgen load  --proto memcached|line --port P [--connections N] [--pipeline D]
//                          [--duration-s S] [--requests R] [--keys K] [--value-bytes B]
//                          [--set-percent P]
//   dragoman_loadgen preload --proto memcached|line --port P [--keys K] [--value-bytes B]
//   dragoman_loadgen idle  --proto memcached|line|http --port P --connections N [--hold-s S]
//   [--path P] dragoman_loadgen probe --proto memcached|line|http --port P --since EPOCH_S
//   [--timeout-s S] [--path P]
//
// Every mode prints one JSON object on stdout. Latency is measured per request from the moment its
// bytes are handed to the kernel to the moment its complete reply is parsed; samples are kept and
// sorted (a 5 s run at 200k req/s is 4 MB), so percentiles are exact, not bucketed.
#include <boost/asio.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

enum class proto { memcached, line, http };

struct options {
  std::string mode;
  proto protocol = proto::memcached;
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  int connections = 1;
  int pipeline = 1;
  double duration_s = 5.0;
  std::uint64_t requests = 100'000'000;
  int keys = 1000;
  int value_bytes = 64;
  int set_percent = 10;
  double hold_s = 3.0;
  double since_epoch_s = 0;
  double timeout_s = 5.0;
  std::string path = "/v1/ops/get";
  std::string body = R"({"key":"k1"})";
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "dragoman_loadgen: %s (see the comment at the top of bench/loadgen.cpp)\n",
               why);
  std::exit(2);
}

options parse(int argc, char** argv) {
  if (argc < 2) usage("missing mode");
  options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc) usage("flag without a value");
    const char* v = argv[++i];
    if (a == "--proto") {
      std::string_view p = v;
      o.protocol = p == "memcached" ? proto::memcached
                   : p == "line"    ? proto::line
                   : p == "http"    ? proto::http
                                    : (usage("bad --proto"), proto::http);
    } else if (a == "--host")
      o.host = v;
    else if (a == "--port")
      o.port = static_cast<unsigned short>(std::atoi(v));
    else if (a == "--connections")
      o.connections = std::atoi(v);
    else if (a == "--pipeline")
      o.pipeline = std::max(1, std::atoi(v));
    else if (a == "--duration-s")
      o.duration_s = std::atof(v);
    else if (a == "--requests")
      o.requests = std::strtoull(v, nullptr, 10);
    else if (a == "--keys")
      o.keys = std::max(1, std::atoi(v));
    else if (a == "--value-bytes")
      o.value_bytes = std::atoi(v);
    else if (a == "--set-percent")
      o.set_percent = std::atoi(v);
    else if (a == "--hold-s")
      o.hold_s = std::atof(v);
    else if (a == "--since")
      o.since_epoch_s = std::atof(v);
    else if (a == "--timeout-s")
      o.timeout_s = std::atof(v);
    else if (a == "--path")
      o.path = v;
    else if (a == "--body")
      o.body = v;
    else
      usage("unknown flag");
  }
  if (o.port == 0) usage("--port is required");
  return o;
}

// xorshift64*: a per-connection stream of keys and get/set choices, no locks, no libc rand.
struct rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
};

std::string value_of(int bytes) {
  std::string v;
  for (int i = 0; i < bytes; ++i) v.push_back(static_cast<char>('a' + i % 26));
  return v;
}

// Appends one request for key k (a get, or a set when is_set) and returns its id.
void append_request(std::string& out, proto p, bool is_set, int k, const std::string& value,
                    std::uint64_t id) {
  char buf[96];
  if (p == proto::memcached) {
    if (is_set) {
      int n = std::snprintf(buf, sizeof buf, "set k%d 0 0 %zu\r\n", k, value.size());
      out.append(buf, static_cast<std::size_t>(n));
      out += value;
      out += "\r\n";
    } else {
      int n = std::snprintf(buf, sizeof buf, "get k%d\r\n", k);
      out.append(buf, static_cast<std::size_t>(n));
    }
  } else if (p == proto::line) {
    int n = std::snprintf(buf, sizeof buf, R"({"id":%llu,"op":"%s","data":{"key":"k%d")",
                          static_cast<unsigned long long>(id), is_set ? "set" : "get", k);
    out.append(buf, static_cast<std::size_t>(n));
    if (is_set) {
      out += R"(,"value":")";
      out += value;
      out += '"';
    }
    out += "}}\n";
  }
}

// Incremental reply parsers: each returns the number of bytes of one complete reply at the front of
// `in` (0 if incomplete) and sets ok.
std::size_t memcached_reply(std::string_view in, bool& ok) {
  std::size_t pos = 0;
  for (;;) {
    auto eol = in.find("\r\n", pos);
    if (eol == std::string_view::npos) return 0;
    std::string_view line = in.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.starts_with("VALUE ")) {
      auto sp = line.rfind(' ');
      std::size_t n = std::strtoull(std::string(line.substr(sp + 1)).c_str(), nullptr, 10);
      if (in.size() < pos + n + 2) return 0;
      pos += n + 2;
      continue;  // a get reply runs to END
    }
    ok = line == "END" || line == "STORED";
    return pos;
  }
}

std::size_t line_reply(std::string_view in, bool& ok, std::uint64_t& id) {
  auto eol = in.find('\n');
  if (eol == std::string_view::npos) return 0;
  std::string_view line = in.substr(0, eol);
  ok = line.find(R"("ok":true)") != std::string_view::npos;
  id = 0;
  auto p = line.find(R"("id":)");
  if (p != std::string_view::npos) {
    p += 5;
    if (p < line.size() && line[p] == '"') ++p;
    while (p < line.size() && line[p] >= '0' && line[p] <= '9')
      id = id * 10 + static_cast<unsigned>(line[p++] - '0');
  }
  return eol + 1;
}

std::size_t http_reply(std::string_view in, bool& ok) {
  auto end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  std::string_view head = in.substr(0, end);
  ok = head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200");
  std::size_t length = 0;
  for (std::string_view name : {"Content-Length:", "content-length:", "Content-length:"}) {
    auto p = head.find(name);
    if (p != std::string_view::npos) {
      length = std::strtoull(std::string(head.substr(p + name.size(), 12)).c_str(), nullptr, 10);
      break;
    }
  }
  if (in.size() < end + 4 + length) return 0;
  return end + 4 + length;
}

std::string one_request(const options& o) {
  std::string out;
  if (o.protocol == proto::http) {
    out = "POST " + o.path +
          " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
          std::to_string(o.body.size()) + "\r\n\r\n" + o.body;
  } else {
    append_request(out, o.protocol, false, 1, "", 1);
  }
  return out;
}

bool reply_complete(proto p, std::string_view in, bool& ok) {
  std::uint64_t id = 0;
  switch (p) {
    case proto::memcached:
      return memcached_reply(in, ok) != 0;
    case proto::line:
      return line_reply(in, ok, id) != 0;
    case proto::http:
      return http_reply(in, ok) != 0;
  }
  return false;
}

// ---- load ---------------------------------------------------------------------------------------

struct shared_state {
  shared_state(const options& opts, std::string v) : o(opts), value(std::move(v)) {}
  const options& o;
  std::string value;
  clock_type::time_point start;
  clock_type::time_point stop_at;
  std::uint64_t sent = 0;
  std::uint64_t done = 0;
  std::uint64_t errors = 0;
  std::uint64_t io_errors = 0;
  std::vector<std::uint32_t> latency_ns;
  clock_type::time_point last_done;

  bool may_send() const { return sent < o.requests && clock_type::now() < stop_at; }
};

asio::awaitable<void> connection(shared_state& st, int index) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket sock(ex);
  auto [ec] = co_await sock.async_connect({asio::ip::make_address(st.o.host), st.o.port},
                                          asio::as_tuple(asio::use_awaitable));
  if (ec) {
    ++st.io_errors;
    co_return;
  }
  sock.set_option(tcp::no_delay(true));
  rng r{0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(index + 1)};
  std::string out;
  std::string in;
  in.reserve(1 << 16);
  std::deque<std::pair<std::uint64_t, clock_type::time_point>> outstanding;  // id, sent at
  std::uint64_t next_id = 1;
  char buf[1 << 16];
  for (;;) {
    out.clear();
    auto now = clock_type::now();
    while (static_cast<int>(outstanding.size()) < st.o.pipeline && st.may_send()) {
      auto x = r.next();
      bool is_set = static_cast<int>(x % 100) < st.o.set_percent;
      int k = static_cast<int>((x >> 8) % static_cast<std::uint64_t>(st.o.keys));
      append_request(out, st.o.protocol, is_set, k, st.value, next_id);
      outstanding.emplace_back(next_id++, now);
      ++st.sent;
    }
    if (outstanding.empty()) break;
    if (!out.empty()) {
      auto [wec, n] =
          co_await asio::async_write(sock, asio::buffer(out), asio::as_tuple(asio::use_awaitable));
      if (wec) {
        ++st.io_errors;
        break;
      }
    }
    auto [rec, n] =
        co_await sock.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (rec) {
      ++st.io_errors;
      break;
    }
    in.append(buf, n);
    std::size_t used = 0;
    auto got = clock_type::now();
    for (;;) {
      bool ok = false;
      std::uint64_t id = 0;
      std::string_view rest(in.data() + used, in.size() - used);
      std::size_t len =
          st.o.protocol == proto::memcached ? memcached_reply(rest, ok) : line_reply(rest, ok, id);
      if (len == 0) break;
      used += len;
      // Ordered replies match the oldest request; NDJSON ids may complete out of order.
      auto it = outstanding.begin();
      if (st.o.protocol == proto::line && id != 0)
        it = std::find_if(outstanding.begin(), outstanding.end(),
                          [id](auto& e) { return e.first == id; });
      if (it == outstanding.end()) {
        ++st.errors;
        continue;
      }
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(got - it->second).count();
      st.latency_ns.push_back(static_cast<std::uint32_t>(std::min<long long>(ns, UINT32_MAX)));
      outstanding.erase(it);
      ++st.done;
      if (!ok) ++st.errors;
      st.last_done = got;
    }
    in.erase(0, used);
  }
  boost::system::error_code ignored;
  sock.shutdown(tcp::socket::shutdown_both, ignored);
}

double percentile_us(std::vector<std::uint32_t>& v, double q) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k] / 1000.0;
}

int run_load(const options& o) {
  asio::io_context io(1);
  shared_state st{o, value_of(o.value_bytes)};
  st.latency_ns.reserve(1 << 20);
  st.start = clock_type::now();
  st.last_done = st.start;
  st.stop_at = st.start + std::chrono::duration_cast<clock_type::duration>(
                              std::chrono::duration<double>(o.duration_s));
  for (int i = 0; i < o.connections; ++i) asio::co_spawn(io, connection(st, i), asio::detached);
  // A hard stop well past the bound, in case a peer stops answering.
  asio::steady_timer guard(io, st.stop_at + std::chrono::seconds(5));
  guard.async_wait([&](boost::system::error_code ec) {
    if (!ec) io.stop();
  });
  // The guard keeps run() alive past the last connection; a 20 ms tick cancels it once all are
  // done.
  struct done_watch {
    asio::io_context& io;
    asio::steady_timer& guard;
    shared_state& st;
    asio::steady_timer tick;
    void arm() {
      tick.expires_after(std::chrono::milliseconds(20));
      tick.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        if (!st.may_send() && st.done + st.io_errors >= st.sent) {
          guard.cancel();
          return;
        }
        arm();
      });
    }
  } watch{io, guard, st, asio::steady_timer(io)};
  watch.arm();
  io.run();
  double secs = std::chrono::duration<double>(st.last_done - st.start).count();
  auto n = st.latency_ns.size();
  double p50 = percentile_us(st.latency_ns, 0.50);
  double p90 = percentile_us(st.latency_ns, 0.90);
  double p99 = percentile_us(st.latency_ns, 0.99);
  double p999 = percentile_us(st.latency_ns, 0.999);
  double mx = n ? *std::max_element(st.latency_ns.begin(), st.latency_ns.end()) / 1000.0 : 0;
  std::printf(
      "{\"requests\":%llu,\"errors\":%llu,\"io_errors\":%llu,\"seconds\":%.4f,\"rps\":%.1f,"
      "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
      "\"connections\":%d,\"pipeline\":%d}\n",
      static_cast<unsigned long long>(st.done), static_cast<unsigned long long>(st.errors),
      static_cast<unsigned long long>(st.io_errors), secs, secs > 0 ? st.done / secs : 0.0, p50,
      p90, p99, p999, mx, o.connections, o.pipeline);
  return st.done > 0 && st.io_errors == 0 ? 0 : 1;
}

// ---- preload, idle, probe (blocking, simple) ----------------------------------------------------

bool exchange(tcp::socket& s, proto p, const std::string& req, std::string& in) {
  boost::system::error_code ec;
  asio::write(s, asio::buffer(req), ec);
  if (ec) return false;
  char buf[4096];
  for (;;) {
    bool ok = false;
    if (reply_complete(p, in, ok)) {
      in.clear();
      return ok;
    }
    auto n = s.read_some(asio::buffer(buf), ec);
    if (ec) return false;
    in.append(buf, n);
  }
}

int run_preload(const options& o) {
  asio::io_context io;
  tcp::socket s(io);
  s.connect({asio::ip::make_address(o.host), o.port});
  auto value = value_of(o.value_bytes);
  std::string in;
  int ok = 0;
  for (int k = 0; k < o.keys; ++k) {
    std::string req;
    append_request(req, o.protocol, true, k, value, static_cast<std::uint64_t>(k + 1));
    ok += exchange(s, o.protocol, req, in) ? 1 : 0;
  }
  std::printf("{\"preloaded\":%d,\"keys\":%d}\n", ok, o.keys);
  return ok == o.keys ? 0 : 1;
}

int run_idle(const options& o) {
  asio::io_context io;
  std::vector<tcp::socket> socks;
  socks.reserve(static_cast<std::size_t>(o.connections));
  auto req = one_request(o);
  std::string in;
  int ok = 0;
  for (int i = 0; i < o.connections; ++i) {
    tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({asio::ip::make_address(o.host), o.port}, ec);
    if (ec) break;
    // One request each, so every connection is a used keep-alive connection, then silence.
    ok += exchange(s, o.protocol, req, in) ? 1 : 0;
    socks.push_back(std::move(s));
  }
  std::printf("{\"ready\":true,\"open\":%zu,\"answered\":%d}\n", socks.size(), ok);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.hold_s));
  return static_cast<int>(socks.size()) == o.connections ? 0 : 1;
}

int run_probe(const options& o) {
  asio::io_context io;
  auto req = one_request(o);
  auto epoch_now = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  auto give_up = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                         std::chrono::duration<double>(o.timeout_s));
  int attempts = 0;
  while (clock_type::now() < give_up) {
    ++attempts;
    tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({asio::ip::make_address(o.host), o.port}, ec);
    if (!ec) {
      std::string in;
      if (exchange(s, o.protocol, req, in)) {
        double ms = (epoch_now() - o.since_epoch_s) * 1000.0;
        std::printf("{\"first_reply_ms\":%.2f,\"attempts\":%d}\n", ms, attempts);
        return 0;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  std::printf("{\"first_reply_ms\":null,\"attempts\":%d}\n", attempts);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  try {
    if (o.mode == "load") return run_load(o);
    if (o.mode == "preload") return run_preload(o);
    if (o.mode == "idle") return run_idle(o);
    if (o.mode == "probe") return run_probe(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dragoman_loadgen: %s\n", e.what());
    return 1;
  }
  usage("mode must be load, preload, idle or probe");
}
