// `serve`: loads the profile, starts the engine (over the embedded simulator when no upstream is
// configured), the front doors and the admin endpoints, logs JSON lines on stdout, reloads the
// profile on SIGHUP and drains on SIGINT/SIGTERM.
#include "bridge/server.hpp"

#include "bridge/admin.hpp"
#include "bridge/http_door.hpp"
#include "bridge/line_door.hpp"
#include "bridge/log.hpp"
#include "bridge/metrics.hpp"
#include "bridge/simulator.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace dragoman::bridge {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// How often the drain checks whether the engine and the doors are done.
constexpr std::chrono::milliseconds drain_poll{20};
// After the drain deadline, how long the engine and the doors get to answer what they cut.
constexpr std::chrono::milliseconds drain_margin{1000};

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
  if (!log::set_level(options.log_level))
    throw std::runtime_error("--log-level " + options.log_level +
                             ": must be one of debug, info, warn, error");
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
  tcp::endpoint http_endpoint, line_endpoint, admin_endpoint;
  if (!options.http.empty()) http_endpoint = parse_listen("--http", options.http);
  if (!options.line.empty()) line_endpoint = parse_listen("--line", options.line);
  if (!options.admin.empty()) {
    admin_endpoint = parse_listen("--admin", options.admin);
    check_admin_exposure("--admin", admin_endpoint, options.admin_token);
  } else if (!options.http.empty()) {
    // Without --admin the admin endpoints ride on the HTTP door.
    check_admin_exposure("--http", http_endpoint, options.admin_token);
  }

  std::size_t threads = options.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  io_pool pool(threads);

  // Installed first: a signal during start-up then drains instead of killing the process.
  asio::signal_set signals(pool.at(0), SIGINT, SIGTERM);
  asio::signal_set hangups(pool.at(0), SIGHUP);

  engine_options engine_opts = options.engine;
  std::shared_ptr<simulator> sim;
  if (engine_opts.upstreams.empty() && profile->upstream.endpoints.empty()) {
    sim = start_simulator(pool.at(0), profile, simulator_options{});
    std::string address = format_endpoint(sim->local_endpoint());
    engine_opts.upstreams.push_back(address);
    log::info("embedded_simulator",
              {{"listen", address},
               {"message", "no --upstream given: serving against the built-in simulator"}});
  }
  std::unique_ptr<call_engine> engine = make_engine(profile, engine_opts, pool);

  // Shards: more than threads, so that the few threads outside the pool rarely share one.
  metrics call_metrics(threads * 2 + 2);
  call_metrics.add_operations(*profile);
  auto admin_endpoints =
      std::make_unique<admin>(*engine, call_metrics, profile, options.admin_token);

  std::unique_ptr<http_door> http;
  std::unique_ptr<line_door> line;
  std::unique_ptr<http_door> admin_door;
  // What the two call doors take alike from the command line.
  auto call_door = [&](door_options& o, const boost::asio::ip::tcp::endpoint& listen) {
    o.listen = listen;
    o.max_connections = options.max_connections;
    o.idle_timeout = options.idle_timeout;
    o.call_metrics = &call_metrics;
    o.trace_all = options.trace;
    o.allow_trace_header = options.allow_trace_header;
  };
  if (!options.http.empty()) {
    http_door_options o;
    call_door(o, http_endpoint);
    o.max_body_bytes = options.max_body_bytes;
    o.admin_endpoints = options.admin.empty() ? admin_endpoints.get() : nullptr;
    http = std::make_unique<http_door>(pool, *engine, o);
  }
  if (!options.line.empty()) {
    line_door_options o;
    call_door(o, line_endpoint);
    o.max_line_bytes = options.max_line_bytes;
    line = std::make_unique<line_door>(pool, *engine, o);
  }
  if (!options.admin.empty()) {
    http_door_options o;
    o.listen = admin_endpoint;
    o.max_body_bytes = 4096;
    o.max_connections = 64;
    o.idle_timeout = options.idle_timeout;
    o.serve_calls = false;
    o.admin_endpoints = admin_endpoints.get();
    o.name = "admin";
    admin_door = std::make_unique<http_door>(pool, *engine, o);
  }

  std::atomic<std::uint64_t> reloads_ok{0}, reloads_failed{0};
  admin_endpoints->add_metrics_source([&](prom_writer& w) {
    w.family("dragoman_profile_reloads_total", "counter",
             "Profile reloads (SIGHUP) by result: ok (applied) or failed (old profile kept).");
    w.sample("dragoman_profile_reloads_total", {{"result", "ok"}},
             static_cast<double>(reloads_ok.load()));
    w.sample("dragoman_profile_reloads_total", {{"result", "failed"}},
             static_cast<double>(reloads_failed.load()));
    auto p = admin_endpoints->profile();
    w.family("dragoman_info", "gauge", "Always 1; the version and the profile in service.");
    w.sample("dragoman_info", {{"version", DRAGOMAN_VERSION}, {"profile", p ? p->name : ""}}, 1);
    w.family("dragoman_ready", "gauge", "1 when an upstream connection can carry calls.");
    w.sample("dragoman_ready", {}, engine->ready() ? 1 : 0);
    struct door_view {
      std::string_view name;
      std::uint64_t total, rejected, dropped;
      std::size_t active;
    };
    std::vector<door_view> doors;
    auto view = [&](std::string_view name, const door_stats& st, std::size_t active) {
      doors.push_back({name, st.connections_total.load(), st.connections_rejected.load(),
                       st.answers_dropped.load(), active});
    };
    if (http) view("http", http->stats(), http->connections());
    if (line) view("line", line->stats(), line->connections());
    w.family("dragoman_door_connections_total", "counter",
             "App connections accepted by a front door.");
    for (const auto& d : doors)
      w.sample("dragoman_door_connections_total", {{"door", d.name}}, static_cast<double>(d.total));
    w.family("dragoman_door_connections_rejected_total", "counter",
             "App connections closed at once because the door was at its connection limit.");
    for (const auto& d : doors)
      w.sample("dragoman_door_connections_rejected_total", {{"door", d.name}},
               static_cast<double>(d.rejected));
    w.family("dragoman_door_connections", "gauge", "App connections open now.");
    for (const auto& d : doors)
      w.sample("dragoman_door_connections", {{"door", d.name}}, static_cast<double>(d.active));
    w.family("dragoman_door_answers_dropped_total", "counter",
             "Answers not delivered because the app closed its connection first.");
    for (const auto& d : doors)
      w.sample("dragoman_door_answers_dropped_total", {{"door", d.name}},
               static_cast<double>(d.dropped));
  });

  auto open_connections = [&] {
    return (http ? http->connections() : 0) + (line ? line->connections() : 0);
  };
  asio::steady_timer drain_timer(pool.at(0));
  auto drain_deadline = std::chrono::steady_clock::now();
  auto drain_started = drain_deadline;
  auto engine_drained = std::make_shared<std::atomic<bool>>(false);
  bool forced = false;
  std::function<void()> wait_drained = [&] {
    drain_timer.expires_after(drain_poll);
    drain_timer.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      auto now = std::chrono::steady_clock::now();
      std::size_t left = open_connections();
      bool engine_done = engine_drained->load();
      if ((left == 0 && engine_done) || now >= drain_deadline + drain_margin) {
        bool clean = left == 0 && engine_done;
        boost::json::object f{
            {"phase", "done"},
            {"connections_cut", left},
            {"engine_drained", engine_done},
            {"elapsed_ms",
             std::chrono::duration_cast<std::chrono::milliseconds>(now - drain_started).count()},
            {"message", clean ? "drained" : "drain timeout over; closing the rest"}};
        if (clean)
          log::info("drain", f);
        else
          log::warn("drain", f);
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
        log::warn("stopping_now", {{"signal", signal_number}});
        forced = true;
        pool.stop();
        return;
      }
      log::info(
          "drain",
          {{"phase", "start"},
           {"signal", signal_number},
           {"connections", open_connections()},
           {"drain_timeout_ms", options.drain_timeout.count()},
           {"message", "stopped accepting; finishing calls in flight (signal again to stop now)"}});
      if (http) http->stop_accepting(), http->drain();
      if (line) line->stop_accepting(), line->drain();
      drain_started = std::chrono::steady_clock::now();
      drain_deadline = drain_started + options.drain_timeout;
      engine->drain(drain_deadline, [engine_drained] { engine_drained->store(true); });
      wait_drained();
      wait_signal();
    });
  };
  wait_signal();

  // SIGHUP: the profile file again. A bad one is refused with every mistake logged and the old
  // one keeps serving; a good one applies to new calls (connections and calls in flight stay).
  std::function<void()> wait_hangup = [&] {
    hangups.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      auto next = codecs::load_profile(options.profile_path);
      if (!next.compiled || !next.errors.empty()) {
        ++reloads_failed;
        boost::json::array errors;
        for (const auto& e : next.errors) errors.emplace_back(e);
        log::error("reload_failed", {{"profile_path", options.profile_path},
                                     {"errors", std::move(errors)},
                                     {"message",
                                      "the new profile was refused; the old one "
                                      "keeps serving"}});
      } else {
        engine->reload(next.compiled);
        admin_endpoints->set_profile(next.compiled);
        call_metrics.add_operations(*next.compiled);
        ++reloads_ok;
        log::info("reload", {{"profile_path", options.profile_path},
                             {"profile", next.compiled->name},
                             {"operations", next.compiled->operations.size()},
                             {"message", "new calls use the new profile"}});
      }
      wait_hangup();
    });
  };
  wait_hangup();

  boost::json::object listening;
  if (http) listening["http"] = format_endpoint(http->local_endpoint());
  if (line) listening["line"] = format_endpoint(line->local_endpoint());
  if (admin_door) listening["admin"] = format_endpoint(admin_door->local_endpoint());
  listening["profile"] = profile->name;
  listening["threads"] = threads;
  listening["log_level"] = options.log_level;
  listening["trace"] = options.trace;
  boost::json::array upstreams;
  for (const auto& u :
       engine_opts.upstreams.empty() ? profile->upstream.endpoints : engine_opts.upstreams)
    upstreams.emplace_back(u);
  listening["upstreams"] = std::move(upstreams);
  log::info("listening", listening);

  pool.run();
  pool.stop();
  pool.join();
  // The contexts are stopped: nothing runs while the doors, engine and simulator are destroyed
  // (before the pool, which owns the contexts their sockets belong to).
  http.reset();
  line.reset();
  admin_door.reset();
  admin_endpoints.reset();
  engine.reset();
  sim.reset();
  return forced ? 1 : 0;
}

}  // namespace dragoman::bridge
