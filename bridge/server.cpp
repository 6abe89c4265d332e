// `serve`: starts the engine (over the embedded simulator when no upstream is configured), the
// front doors and the admin endpoints, logs JSON lines on stdout, reloads the profile on SIGHUP
// and drains on SIGINT/SIGTERM.
#include "bridge/server.hpp"

#include "bridge/admin.hpp"
#include "bridge/door_guard.hpp"
#include "bridge/door_tls.hpp"
#include "bridge/host_port.hpp"
#include "bridge/http_door.hpp"
#include "bridge/idempotency.hpp"
#include "bridge/io_backend.hpp"
#include "bridge/journaled_engine.hpp"
#include "bridge/journaled_inbound.hpp"
#include "bridge/line_door.hpp"
#include "bridge/line_subscriptions.hpp"
#include "bridge/log.hpp"
#include "bridge/metrics.hpp"
#include "bridge/simulator.hpp"
#include "bridge/upstream_tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
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
using error_code = boost::system::error_code;
using clock_type = std::chrono::steady_clock;

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
  auto split = split_host_port(text);
  if (!split) {
    throw fail(split.error == host_port_error::bad_port
                   ? "the port must be a number from 0 to 65535"
                   : "expected HOST:PORT");
  }
  const host_port& hp = *split.value;
  if (hp.host.empty()) return {asio::ip::address_v4::any(), hp.port_number};
  error_code ec;
  auto address = asio::ip::make_address(hp.host, ec);
  if (!ec) return {address, hp.port_number};
  asio::io_context ctx;
  tcp::resolver resolver(ctx);
  auto results = resolver.resolve(hp.host, hp.port, ec);
  if (ec || results.empty()) throw fail("cannot resolve the host: " + ec.message());
  return results.begin()->endpoint();
}

// The addresses the doors listen on, checked before anything starts.
struct listen_addresses {
  tcp::endpoint http, line, admin, health;

  explicit listen_addresses(const server_options& o) {
    if (o.http.empty() && o.line.empty())
      throw std::runtime_error("--http and --line are both empty: nothing to serve");
    if (!o.http.empty()) http = parse_listen("--http", o.http);
    if (!o.line.empty()) line = parse_listen("--line", o.line);
    if (!o.admin.empty()) {
      admin = parse_listen("--admin", o.admin);
      check_admin_exposure("--admin", admin, o.admin_token);
    } else if (!o.http.empty()) {
      // Without --admin the admin endpoints ride on the HTTP door.
      check_admin_exposure("--http", http, o.admin_token);
    }
    if (!o.health.empty()) health = parse_listen("--health", o.health);
    if (!o.http.empty()) check_door_exposure("--http", http, o);
    if (!o.line.empty()) check_door_exposure("--line", line, o);
  }

  // A door anyone on the network reaches must know who calls, unless the operator says otherwise.
  static void check_door_exposure(std::string_view flag, const tcp::endpoint& where,
                                  const server_options& o) {
    if (where.address().is_loopback() || !o.door_tokens.empty() || !o.door_client_ca.empty())
      return;
    const std::string at = std::string(flag) + " " + format_endpoint(where);
    if (!o.allow_unauthenticated_door)
      throw std::runtime_error(
          at +
          ": a door on a non-loopback address needs client authentication "
          "(--door-tokens or --door-client-ca) or --allow-unauthenticated-door");
    log::warn(
        "unauthenticated_door",
        {{"door", std::string(flag.substr(2))},
         {"listen", format_endpoint(where)},
         {"message", "--allow-unauthenticated-door: anyone who reaches this address may call"}});
  }
};

std::size_t thread_count(std::size_t asked) {
  return asked ? asked : std::max(1u, std::thread::hardware_concurrency());
}

// One `serve` process: built in start-up order (a failure unwinds what was started), run until
// the drain ends, then torn down with the contexts stopped.
class server {
 public:
  explicit server(const server_options& options)
      : options_(options),
        profile_(options.profile),
        addresses_(options),
        threads_(thread_count(options.threads)),
        pool_(threads_),
        // Installed first: a signal during start-up then drains instead of killing the process.
        signals_(pool_.at(0), SIGINT, SIGTERM),
        hangups_(pool_.at(0), SIGHUP),
        drain_timer_(pool_.at(0)),
        tls_timer_(pool_.at(0)),
        engine_options_(options.engine),
        // Shards: more than threads, so that the few threads outside the pool rarely share one.
        call_metrics_(threads_ * 2 + 2) {
    start_engine();
    start_doors();
    admin_->add_metrics_source([this](prom_writer& w) { write_metrics(w); });
  }

  int run() {
    wait_signal();
    wait_hangup();
    watch_tls();
    log_listening();
    serving_.store(true);
    pool_.run();
    pool_.stop();
    pool_.join();
    // The contexts are stopped: nothing runs while the doors, engine and simulator are destroyed
    // (before the pool, which owns the contexts their sockets belong to).
    http_.reset();
    line_.reset();
    admin_door_.reset();
    health_door_.reset();
    admin_.reset();
    engine_.reset();
    sim_.reset();
    return forced_ ? 1 : 0;
  }

 private:
  void start_engine() {
    if (engine_options_.upstreams.empty() && profile_->upstream.endpoints.empty() &&
        engine_options_.upstream_listen.empty()) {
      if (engine_options_.tls)
        throw std::runtime_error(
            "TLS toward the host needs --upstream (or the profile's upstream.endpoints): the "
            "embedded simulator speaks cleartext");
      sim_ = start_simulator(pool_.at(0), profile_, simulator_options{});
      std::string address = format_endpoint(sim_->local_endpoint());
      engine_options_.upstreams.push_back(address);
      log::info("embedded_simulator",
                {{"listen", address},
                 {"message", "no --upstream given: serving against the built-in simulator"}});
    }
    if (engine_options_.tls && !engine_options_.upstream_listen.empty() &&
        engine_options_.tls->settings().cert.empty())
      throw std::runtime_error(
          "TLS on --upstream-listen needs --tls-cert and --tls-key (dragoman's certificate for "
          "the hosts that connect in)");
    if (!options_.line.empty()) {
      // Subscribers on the line door come before --deliver (inbound_dispatch.hpp).
      subscription_options so;
      so.max_in_flight = options_.subscriber_max_in_flight;
      subscriptions_ = std::make_shared<line_subscriptions>(so);
      subscriptions_->set_operations(*profile_);
      engine_options_.subscriptions = subscriptions_;
    }
    if (!options_.journal.empty()) {
      engine_options_.inbound_journal = std::make_shared<inbound_store_slot>();
    }
    engine_ = make_engine(profile_, engine_options_, pool_);
    if (!options_.journal.empty()) {
      journal::options jo;
      jo.path = options_.journal;
      jo.synchronous_full = options_.journal_sync_full;
      jo.max_pending = options_.journal_max_pending;
      auto j = journal::journal::open(jo);
      // The host's messages too (journaled_inbound.hpp); the engine owns the journal and is
      // destroyed first, with the contexts stopped.
      inbound_ = make_journaled_inbound(*j, pool_.next(), engine_options_.deliver, subscriptions_,
                                        profile_);
      engine_ = make_journaled_engine(std::move(engine_), std::move(j), profile_,
                                      pool_.next().get_executor(), options_.journal_max_queued);
      engine_options_.inbound_journal->store.store(inbound_);
      inbound_->start();
    }
    engine_ = make_idempotent_engine(std::move(engine_), options_.idempotency);
    load_guard();
    call_metrics_.add_operations(*profile_);
    admin_ = std::make_unique<admin>(*engine_, call_metrics_, profile_, options_.admin_token);
  }

  // The doors' client authentication and policy, when configured; a bad file stops the start.
  void load_guard() {
    if (!options_.door_tls_cert.empty() || !options_.door_tls_key.empty() ||
        !options_.door_client_ca.empty()) {
      door_tls_ = std::make_unique<door_tls>(door_tls_settings{
          options_.door_tls_cert, options_.door_tls_key, options_.door_client_ca});
    }
    const bool client_certificates = !options_.door_client_ca.empty();
    if (options_.door_tokens.empty() && options_.policy.empty() && !client_certificates) return;
    std::string why;
    std::shared_ptr<const door_tokens> tokens;
    std::shared_ptr<client_policy> policy;
    if (!options_.door_tokens.empty()) {
      tokens = door_tokens::load(options_.door_tokens, why);
      if (!tokens) throw std::runtime_error("--door-tokens " + why);
    }
    if (!options_.policy.empty()) {
      policy = client_policy::load(options_.policy, why);
      if (!policy) throw std::runtime_error("--policy " + why);
    }
    guard_ =
        std::make_unique<door_guard>(std::move(tokens), std::move(policy), client_certificates);
  }

  // SIGHUP: the token and policy files again; one that fails keeps what is in force.
  void reload_guard() {
    if (door_tls_) door_tls_->reload();
    if (!guard_) return;
    auto failed = [this](std::string_view file, const std::string& why) {
      ++guard_reloads_failed_;
      log::error("reload_failed",
                 {{"file", file}, {"error", why}, {"message", "the old one stays in force"}});
    };
    std::string why;
    if (!options_.door_tokens.empty()) {
      if (auto t = door_tokens::load(options_.door_tokens, why)) {
        log::info("reload",
                  {{"door_tokens", options_.door_tokens}, {"tokens", t->entries().size()}});
        guard_->set_tokens(std::move(t));
      } else {
        failed("--door-tokens", why);
      }
    }
    if (!options_.policy.empty()) {
      if (auto p = client_policy::load(options_.policy, why)) {
        log::info("reload", {{"policy", options_.policy}, {"clients", p->rules().clients.size()}});
        guard_->set_policy(std::move(p));
      } else {
        failed("--policy", why);
      }
    }
  }

  // What the two call doors take alike from the command line.
  void call_door_options(door_options& o, const tcp::endpoint& listen) {
    o.listen = listen;
    o.max_connections = options_.max_connections;
    o.idle_timeout = options_.idle_timeout;
    o.header_timeout = options_.header_timeout;
    o.min_receive_rate = options_.min_receive_rate;
    o.max_output_bytes = options_.max_output_bytes;
    o.call_metrics = &call_metrics_;
    o.trace_all = options_.trace;
    o.allow_trace_header = options_.allow_trace_header;
    o.guard = guard_.get();
    o.tls = door_tls_.get();
  }

  void start_doors() {
    if (!options_.http.empty()) {
      http_door_options o;
      call_door_options(o, addresses_.http);
      o.max_body_bytes = options_.max_body_bytes;
      o.admin_endpoints = options_.admin.empty() ? admin_.get() : nullptr;
      http_ = std::make_unique<http_door>(pool_, *engine_, o);
    }
    if (!options_.line.empty()) {
      line_door_options o;
      call_door_options(o, addresses_.line);
      o.max_line_bytes = options_.max_line_bytes;
      o.subscriptions = subscriptions_;
      line_ = std::make_unique<line_door>(pool_, *engine_, o);
    }
    if (!options_.admin.empty()) {
      http_door_options o;
      o.listen = addresses_.admin;
      o.max_body_bytes = 4096;
      o.max_connections = 64;
      o.idle_timeout = options_.idle_timeout;
      o.serve_calls = false;
      o.admin_endpoints = admin_.get();
      o.name = "admin";
      admin_door_ = std::make_unique<http_door>(pool_, *engine_, o);
    }
    if (!options_.health.empty()) {
      // Probes only: no calls, no admin paths; it stays open through the drain so that the
      // kubelet sees /healthz alive and /readyz 503 until the process exits.
      http_door_options o;
      o.listen = addresses_.health;
      o.max_body_bytes = 1024;
      o.max_connections = 64;
      o.idle_timeout = options_.idle_timeout;
      o.serve_calls = false;
      o.serving = &serving_;
      o.name = "health";
      health_door_ = std::make_unique<http_door>(pool_, *engine_, o);
    }
  }

  void write_metrics(prom_writer& w) {
    w.family("dragoman_profile_reloads_total", "counter",
             "Profile reloads (SIGHUP) by result: ok (applied) or failed (old profile kept).");
    w.sample("dragoman_profile_reloads_total", {{"result", "ok"}},
             static_cast<double>(reloads_ok_.load()));
    w.sample("dragoman_profile_reloads_total", {{"result", "failed"}},
             static_cast<double>(reloads_failed_.load()));
    auto p = admin_->profile();
    w.family("dragoman_info", "gauge",
             "Always 1; the version, the profile in service and the I/O backend.");
    w.sample("dragoman_info",
             {{"version", DRAGOMAN_VERSION},
              {"profile", p ? p->name : ""},
              {"io_backend", io_backend_name()}},
             1);
    w.family("dragoman_ready", "gauge", "1 when an upstream connection can carry calls.");
    w.sample("dragoman_ready", {}, engine_->ready() ? 1 : 0);
    if (engine_options_.tls) engine_options_.tls->write_metrics(w);
    if (subscriptions_) {
      const auto c = subscriptions_->snapshot();
      w.family("dragoman_line_subscribers", "gauge",
               "Line-door connections subscribed to the host's messages.");
      w.sample("dragoman_line_subscribers", {}, static_cast<double>(c.subscribers));
      w.family("dragoman_line_subscription_deliveries", "gauge",
               "Host messages with line subscribers now: held (sent, not yet answered) or waiting "
               "(for a subscriber's room).");
      w.sample("dragoman_line_subscription_deliveries", {{"state", "held"}},
               static_cast<double>(c.held));
      w.sample("dragoman_line_subscription_deliveries", {{"state", "waiting"}},
               static_cast<double>(c.waiting));
    }
    write_door_metrics(w);
    if (door_tls_) door_tls_->write_metrics(w);
    if (guard_) {
      guard_->write_metrics(w);
      w.family(
          "dragoman_door_auth_reload_failures_total", "counter",
          "SIGHUP reloads of --door-tokens or --policy refused (the old file stays in force).");
      w.sample("dragoman_door_auth_reload_failures_total", {},
               static_cast<double>(guard_reloads_failed_.load()));
    }
  }

  void write_door_metrics(prom_writer& w) {
    struct door_view {
      std::string_view name;
      std::uint64_t total, rejected, dropped, slow_senders, slow_readers, accept_failures;
      std::size_t active;
    };
    std::vector<door_view> doors;
    auto view = [&](std::string_view name, const door_stats& st, std::size_t active) {
      doors.push_back({name, st.connections_total.load(), st.connections_rejected.load(),
                       st.answers_dropped.load(), st.slow_senders.load(), st.slow_readers.load(),
                       st.accept_failures.load(), active});
    };
    if (http_) view("http", http_->stats(), http_->connections());
    if (line_) view("line", line_->stats(), line_->connections());
    w.family("dragoman_door_connections_total", "counter",
             "App connections accepted by a front door.");
    for (const auto& d : doors)
      w.sample("dragoman_door_connections_total", {{"door", d.name}}, static_cast<double>(d.total));
    w.family("dragoman_door_connections_rejected_total", "counter",
             "App connections refused (503 / an overloaded line) at the door's connection limit.");
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
    w.family("dragoman_door_slow_clients_total", "counter",
             "App connections closed for a request or line arriving too slowly (sending) or for "
             "answers left unread beyond --max-output-bytes (reading).");
    for (const auto& d : doors) {
      w.sample("dragoman_door_slow_clients_total", {{"door", d.name}, {"way", "sending"}},
               static_cast<double>(d.slow_senders));
      w.sample("dragoman_door_slow_clients_total", {{"door", d.name}, {"way", "reading"}},
               static_cast<double>(d.slow_readers));
    }
    w.family("dragoman_door_accept_failures_total", "counter",
             "Times accepting a connection failed (out of descriptors and the like); the "
             "connection waits in the backlog and is accepted on a retry.");
    for (const auto& d : doors)
      w.sample("dragoman_door_accept_failures_total", {{"door", d.name}},
               static_cast<double>(d.accept_failures));
  }

  std::size_t open_connections() const {
    return (http_ ? http_->connections() : 0) + (line_ ? line_->connections() : 0);
  }

  void wait_signal() {
    signals_.async_wait([this](error_code ec, int signal_number) {
      if (!ec) on_signal(signal_number);
    });
  }

  // The first signal drains; a second one stops at once.
  void on_signal(int signal_number) {
    if (++signals_seen_ > 1) {
      log::warn("stopping_now", {{"signal", signal_number}});
      forced_ = true;
      pool_.stop();
      return;
    }
    log::info(
        "drain",
        {{"phase", "start"},
         {"signal", signal_number},
         {"connections", open_connections()},
         {"drain_timeout_ms", options_.drain_timeout.count()},
         {"message", "stopped accepting; finishing calls in flight (signal again to stop now)"}});
    serving_.store(false);
    if (inbound_) inbound_->stop();
    if (http_) http_->stop_accepting(), http_->drain();
    if (line_) line_->stop_accepting(), line_->drain();
    drain_started_ = clock_type::now();
    drain_deadline_ = drain_started_ + options_.drain_timeout;
    engine_->drain(drain_deadline_, [done = engine_drained_] { done->store(true); });
    poll_drain();
    wait_signal();
  }

  void poll_drain() {
    drain_timer_.expires_after(drain_poll);
    drain_timer_.async_wait([this](error_code ec) {
      if (!ec) on_drain_poll();
    });
  }

  // Stops the pool once the engine and the doors are done, or when the deadline and its margin
  // are over.
  void on_drain_poll() {
    const auto now = clock_type::now();
    const std::size_t left = open_connections();
    const bool engine_done = engine_drained_->load();
    const bool clean = left == 0 && engine_done;
    if (!clean && now < drain_deadline_ + drain_margin) return poll_drain();
    boost::json::object f{
        {"phase", "done"},
        {"connections_cut", left},
        {"engine_drained", engine_done},
        {"elapsed_ms",
         std::chrono::duration_cast<std::chrono::milliseconds>(now - drain_started_).count()},
        {"message", clean ? "drained" : "drain timeout over; closing the rest"}};
    if (clean)
      log::info("drain", f);
    else
      log::warn("drain", f);
    pool_.stop();
  }

  void wait_hangup() {
    hangups_.async_wait([this](error_code ec, int) {
      if (ec) return;
      on_hangup();
      wait_hangup();
    });
  }

  // The TLS files toward the host, polled for a change of identity (a replaced file, a swapped
  // Kubernetes ..data symlink): new handshakes use what loads, connections up stay.
  void watch_tls() {
    if (!engine_options_.tls || options_.tls_reload_interval.count() <= 0) return;
    tls_timer_.expires_after(options_.tls_reload_interval);
    tls_timer_.async_wait([this](error_code ec) {
      if (ec) return;
      engine_options_.tls->reload(false);
      watch_tls();
    });
  }

  // SIGHUP: the profile file again. A bad one is refused with every mistake logged and the old
  // one keeps serving; a good one applies to new calls (connections and calls in flight stay).
  void on_hangup() {
    if (engine_options_.tls) engine_options_.tls->reload(true);
    reload_guard();
    auto next = codecs::load_profile(options_.profile_path);
    if (!next.compiled || !next.errors.empty()) {
      ++reloads_failed_;
      boost::json::array errors;
      for (const auto& e : next.errors) errors.emplace_back(e);
      log::error("reload_failed",
                 {{"profile_path", options_.profile_path},
                  {"errors", std::move(errors)},
                  {"message", "the new profile was refused; the old one keeps serving"}});
      return;
    }
    engine_->reload(next.compiled);
    if (inbound_) inbound_->reload(next.compiled);
    if (subscriptions_) subscriptions_->set_operations(*next.compiled);
    admin_->set_profile(next.compiled);
    call_metrics_.add_operations(*next.compiled);
    ++reloads_ok_;
    log::info("reload", {{"profile_path", options_.profile_path},
                         {"profile", next.compiled->name},
                         {"operations", next.compiled->operations.size()},
                         {"message", "new calls use the new profile"}});
  }

  void log_listening() {
    boost::json::object listening;
    if (http_) listening["http"] = format_endpoint(http_->local_endpoint());
    if (line_) listening["line"] = format_endpoint(line_->local_endpoint());
    if (admin_door_) listening["admin"] = format_endpoint(admin_door_->local_endpoint());
    if (health_door_) listening["health"] = format_endpoint(health_door_->local_endpoint());
    listening["profile"] = profile_->name;
    listening["threads"] = threads_;
    listening["io_backend"] = io_backend_name();
    listening["log_level"] = options_.log_level;
    listening["trace"] = options_.trace;
    if (door_tls_) listening["door_tls"] = door_tls_->verifies_clients() ? "mutual" : "server";
    boost::json::array upstreams;
    for (const auto& u : engine_options_.upstreams.empty() ? profile_->upstream.endpoints
                                                           : engine_options_.upstreams)
      upstreams.emplace_back(u);
    listening["upstreams"] = std::move(upstreams);
    if (std::string at = engine_->upstream_listen_address(); !at.empty())
      listening["upstream_listen"] = at;
    log_io_backend_fallback();
    log::info("listening", listening);
  }

  const server_options& options_;
  std::shared_ptr<const codecs::profile> profile_;
  listen_addresses addresses_;
  std::size_t threads_;
  io_pool pool_;
  asio::signal_set signals_;
  asio::signal_set hangups_;
  asio::steady_timer drain_timer_;
  asio::steady_timer tls_timer_;
  engine_options engine_options_;
  std::shared_ptr<line_subscriptions> subscriptions_;
  metrics call_metrics_;
  std::shared_ptr<simulator> sim_;
  std::unique_ptr<call_engine> engine_;
  std::shared_ptr<inbound_store> inbound_;  // --journal: the host's messages (uses the journal)
  std::unique_ptr<admin> admin_;
  std::unique_ptr<door_tls> door_tls_;  // before the doors, which hold a pointer to it
  std::unique_ptr<door_guard> guard_;   // before the doors, which hold a pointer to it
  std::unique_ptr<http_door> http_;
  std::unique_ptr<line_door> line_;
  std::unique_ptr<http_door> admin_door_;
  std::unique_ptr<http_door> health_door_;
  // True from the start of serving until the drain begins: the health listener's /readyz.
  std::atomic<bool> serving_{false};
  std::atomic<std::uint64_t> reloads_ok_{0}, reloads_failed_{0}, guard_reloads_failed_{0};
  int signals_seen_ = 0;
  bool forced_ = false;
  clock_type::time_point drain_started_{}, drain_deadline_{};
  // Set by the engine's drain callback, which may outlive a poll.
  std::shared_ptr<std::atomic<bool>> engine_drained_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

int run_server(const server_options& options) {
  if (!options.profile) throw std::runtime_error("serve: no profile loaded");
  server s(options);
  return s.run();
}

}  // namespace dragoman::bridge
