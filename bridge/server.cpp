// `serve`: loads the profile, starts the engine (over the embedded simulator when no upstream is
// configured) and the front doors, logs JSON lines on stdout, and drains on SIGINT/SIGTERM.
#include "bridge/server.hpp"

#include "bridge/http_door.hpp"
#include "bridge/line_door.hpp"
#include "bridge/simulator.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace dragoman::bridge {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// How long calls in flight may take to finish after the first signal.
constexpr std::chrono::milliseconds drain_grace{5000};
constexpr std::chrono::milliseconds drain_poll{20};

// One JSON object per line on stdout, flushed at once so that supervisors and tests see it.
void log_line(std::string_view level, std::string_view event, const boost::json::object& fields) {
  static std::mutex mutex;
  boost::json::object o;
  o["level"] = level;
  o["event"] = event;
  for (const auto& kv : fields) o[kv.key()] = kv.value();
  std::string s = boost::json::serialize(o);
  s.push_back('\n');
  std::lock_guard lock(mutex);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

std::string format_endpoint(const tcp::endpoint& ep) {
  std::string host = ep.address().to_string();
  if (ep.address().is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(ep.port());
}

// "127.0.0.1:8080", "[::1]:0", "localhost:7070", ":8080" (every interface).
tcp::endpoint parse_listen(std::string_view flag, const std::string& text) {
  auto fail = [&](std::string_view why) {
    return std::runtime_error(std::string(flag) + " " + text + ": " + std::string(why));
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos) throw fail("expected HOST:PORT");
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos ||
      (port = std::stoul(port_text)) > 65535) {
    throw fail("the port must be a number from 0 to 65535");
  }
  auto p = static_cast<unsigned short>(port);
  if (host.empty()) return {asio::ip::address_v4::any(), p};
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) return {address, p};
  asio::io_context ctx;
  tcp::resolver resolver(ctx);
  auto results = resolver.resolve(host, port_text, ec);
  if (ec || results.empty()) throw fail("cannot resolve the host: " + ec.message());
  return results.begin()->endpoint();
}

}  // namespace

int run_server(const server_options& options) {
  auto loaded = codecs::load_profile(options.profile_path);
  if (!loaded.errors.empty() || !loaded.compiled) {
    std::string message;
    for (const auto& e : loaded.errors) message += (message.empty() ? "" : "\n") + e;
    if (message.empty()) message = options.profile_path + ": the profile could not be loaded";
    throw std::runtime_error(message);
  }
  std::shared_ptr<const codecs::profile> profile = loaded.compiled;
  if (options.http.empty() && options.line.empty())
    throw std::runtime_error("--http and --line are both empty: nothing to serve");
  tcp::endpoint http_endpoint, line_endpoint;
  if (!options.http.empty()) http_endpoint = parse_listen("--http", options.http);
  if (!options.line.empty()) line_endpoint = parse_listen("--line", options.line);

  std::size_t threads = options.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  io_pool pool(threads);

  // Installed first: a signal during start-up then drains instead of killing the process.
  asio::signal_set signals(pool.at(0), SIGINT, SIGTERM);

  engine_options engine_opts = options.engine;
  std::shared_ptr<simulator> sim;
  if (engine_opts.upstreams.empty() && profile->upstream.endpoints.empty()) {
    sim = start_simulator(pool.at(0), profile, simulator_options{});
    std::string address = format_endpoint(sim->local_endpoint());
    engine_opts.upstreams.push_back(address);
    log_line("info", "embedded_simulator",
             {{"listen", address},
              {"message", "no --upstream given: serving against the built-in simulator"}});
  }
  std::unique_ptr<call_engine> engine = make_engine(profile, engine_opts, pool);

  std::unique_ptr<http_door> http;
  std::unique_ptr<line_door> line;
  if (!options.http.empty()) {
    http_door_options o;
    o.listen = http_endpoint;
    o.max_body_bytes = options.max_body_bytes;
    o.max_connections = options.max_connections;
    o.idle_timeout = options.idle_timeout;
    http = std::make_unique<http_door>(pool, *engine, o);
  }
  if (!options.line.empty()) {
    line_door_options o;
    o.listen = line_endpoint;
    o.max_line_bytes = options.max_line_bytes;
    o.max_connections = options.max_connections;
    o.idle_timeout = options.idle_timeout;
    line = std::make_unique<line_door>(pool, *engine, o);
  }

  auto open_connections = [&] {
    return (http ? http->connections() : 0) + (line ? line->connections() : 0);
  };
  asio::steady_timer drain_timer(pool.at(0));
  auto drain_deadline = std::chrono::steady_clock::now();
  bool forced = false;
  std::function<void()> wait_drained = [&] {
    drain_timer.expires_after(drain_poll);
    drain_timer.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      std::size_t left = open_connections();
      if (left == 0 || std::chrono::steady_clock::now() >= drain_deadline) {
        log_line(left == 0 ? "info" : "warn", "stopped",
                 {{"connections_cut", left},
                  {"message", left == 0 ? "drained" : "grace period over; closing the rest"}});
        pool.stop();
        return;
      }
      wait_drained();
    });
  };
  int signals_seen = 0;
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int signal_number) {
      if (ec) return;
      if (++signals_seen > 1) {
        log_line("warn", "stopping_now", {{"signal", signal_number}});
        forced = true;
        pool.stop();
        return;
      }
      log_line(
          "info", "draining",
          {{"signal", signal_number},
           {"connections", open_connections()},
           {"grace_ms", drain_grace.count()},
           {"message", "stopped accepting; finishing calls in flight (signal again to stop now)"}});
      if (http) http->stop_accepting(), http->drain();
      if (line) line->stop_accepting(), line->drain();
      drain_deadline = std::chrono::steady_clock::now() + drain_grace;
      wait_drained();
      wait_signal();
    });
  };
  wait_signal();

  boost::json::object listening;
  if (http) listening["http"] = format_endpoint(http->local_endpoint());
  if (line) listening["line"] = format_endpoint(line->local_endpoint());
  listening["profile"] = profile->name;
  listening["threads"] = threads;
  boost::json::array upstreams;
  for (const auto& u :
       engine_opts.upstreams.empty() ? profile->upstream.endpoints : engine_opts.upstreams)
    upstreams.emplace_back(u);
  listening["upstreams"] = std::move(upstreams);
  log_line("info", "listening", listening);

  pool.run();
  pool.stop();
  pool.join();
  // The contexts are stopped: nothing runs while the doors, engine and simulator are destroyed
  // (before the pool, which owns the contexts their sockets belong to).
  http.reset();
  line.reset();
  engine.reset();
  sim.reset();
  return forced ? 1 : 0;
}

}  // namespace dragoman::bridge
