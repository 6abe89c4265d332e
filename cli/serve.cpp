// `serve` and `simulate`: flags and environment into the bridge's options.
#include "bridge/io_backend.hpp"
#include "bridge/log.hpp"
#include "bridge/server.hpp"
#include "bridge/simulator.hpp"
#include "bridge/upstream_tls.hpp"
#include "cli/commands.hpp"
#include "cli/profile_file.hpp"
#include "codecs/secret.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

namespace po = boost::program_options;
namespace json = boost::json;

namespace dragoman::cli {

namespace {

// "--upstream a:1 --upstream b:2,c:3" and DRAGOMAN_UPSTREAM="a:1,b:2" alike.
std::vector<std::string> split_list(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    std::size_t start = 0;
    while (start <= v.size()) {
      std::size_t comma = v.find(',', start);
      std::string item =
          v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) out.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

// The flags given in milliseconds: 0 for the first two means "the profile's".
struct millisecond_flags {
  std::size_t connect_timeout = 0, max_timeout = 0, idle_timeout = 0, header_timeout = 0;
  std::size_t drain_timeout = 0, queue_timeout = 0, breaker_cooldown = 0;
  std::size_t tls_reload_interval = 1000;
  std::size_t deliver_timeout = 5000;
  std::string deliver;
  std::string journal_sync = "full";
  std::size_t idempotency_window = 86400000;
};

// The --tls* flags; empty strings: the profile's upstream.tls (or the default).
struct tls_flags {
  bool on = false;
  std::string ca, cert, key, server_name, min_version, ciphers;
};

void add_tls_flags(po::options_description& desc, tls_flags& t, millisecond_flags& ms) {
  desc.add_options()("tls", po::bool_switch(&t.on),
                     "TLS toward the legacy host, verified against the system CA store (any "
                     "--tls-* flag or the profile's upstream.tls turns it on too)")(
      "tls-ca", po::value(&t.ca),
      "CA certificates (PEM file or directory) the host is checked with")(
      "tls-cert", po::value(&t.cert),
      "client certificate chain (PEM) for mutual TLS; with --tls-key")(
      "tls-key", po::value(&t.key), "the client certificate's private key (PEM)")(
      "tls-server-name", po::value(&t.server_name),
      "name sent (SNI) and checked in the host's certificate (default: the endpoint's host)")(
      "tls-min-version", po::value(&t.min_version), "oldest TLS version: 1.2 (default) or 1.3")(
      "tls-ciphers", po::value(&t.ciphers),
      "OpenSSL cipher names, ':'-separated (TLS_* names are TLS 1.3 suites)")(
      "tls-reload-interval-ms", po::value(&ms.tls_reload_interval)->default_value(1000),
      "how often the TLS files are checked for a change (0: only on SIGHUP)");
}

// Flags over the profile's upstream.tls, key by key; the files are loaded here (a bad one stops
// the start with its reason).
std::shared_ptr<bridge::upstream_tls> make_tls(const tls_flags& f, const codecs::profile& p) {
  const auto& t = p.upstream.tls;
  bridge::tls_settings s;
  s.enabled = t.enabled || f.on || !f.ca.empty() || !f.cert.empty() || !f.key.empty() ||
              !f.server_name.empty() || !f.min_version.empty() || !f.ciphers.empty();
  if (!s.enabled) return nullptr;
  auto pick = [](const std::string& flag, const std::string& profile) {
    return flag.empty() ? profile : flag;
  };
  s.ca = pick(f.ca, t.ca);
  s.cert = pick(f.cert, t.cert);
  s.key = pick(f.key, t.key);
  s.server_name = pick(f.server_name, t.server_name);
  s.ciphers = pick(f.ciphers, t.ciphers);
  const std::string version = pick(f.min_version, t.min_version);
  if (version == "1.2")
    s.min_version = 12;
  else if (version == "1.3")
    s.min_version = 13;
  else
    throw usage_error("--tls-min-version must be 1.2 or 1.3");
  if (std::string bad = bridge::check_tls_settings(s); !bad.empty()) throw usage_error(bad);
  return std::make_shared<bridge::upstream_tls>(std::move(s));
}

// --io-backend: acted on in main() before the command runs (cli/main.cpp); named here for --help
// and checked like every flag.
void add_io_backend_flag(po::options_description& desc) {
  desc.add_options()(
      "io-backend",
      po::value<std::string>()->default_value("auto")->notifier([](const std::string& v) {
        if (!bridge::parse_io_backend(v))
          throw usage_error("--io-backend must be auto, io_uring or epoll");
      }),
      "auto (io_uring where allowed, else epoll), io_uring or epoll (docs/io-backend.md)");
}

// The serve flags, read straight into the server's options (or ms for durations).
void add_serve_flags(po::options_description& desc, bridge::server_options& o,
                     millisecond_flags& ms) {
  auto& e = o.engine;
  desc.add_options()("profile,p", po::value(&o.profile_path)->required(), "profile file")(
      "upstream,u", po::value<std::vector<std::string>>()->composing(),
      "legacy endpoint host:port (repeat or comma list); none: the embedded simulator")(
      "http", po::value(&o.http)->default_value(o.http),
      "HTTP front door address (empty: off; port 0: any)")(
      "line", po::value(&o.line)->default_value(o.line),
      "line (NDJSON) front door address (empty: off; port 0: any)")(
      "threads", po::value(&o.threads)->default_value(0), "I/O threads (0: the cores available)")(
      "upstream-connections", po::value<std::size_t>(),
      "connections per upstream endpoint (default: the profile's, else 2)")(
      "connect-timeout-ms", po::value(&ms.connect_timeout)->default_value(0),
      "upstream connect timeout (0: the profile's, else 2000)")(
      "max-timeout-ms", po::value(&ms.max_timeout)->default_value(0),
      "cap on a caller's Request-Timeout / timeout_ms (0: the profile's, else 30000)")(
      "max-queued", po::value(&e.max_queued)->default_value(e.max_queued),
      "calls that may wait for an upstream connection before `overloaded` (and, over every "
      "serialize_by key, for a key)")(
      "pacing-rate", po::value<double>(),
      "messages per second to each upstream endpoint (upstream.pacing.rate; 0: not paced)")(
      "pacing-burst", po::value<std::uint32_t>(),
      "messages at once to each upstream endpoint (upstream.pacing.burst)")(
      "max-in-flight",
      po::value(&e.max_in_flight_per_connection)->default_value(e.max_in_flight_per_connection),
      "calls in flight per upstream connection (field correlation)")(
      "max-body-bytes", po::value(&o.max_body_bytes)->default_value(o.max_body_bytes),
      "largest HTTP request body")(
      "max-line-bytes", po::value(&o.max_line_bytes)->default_value(o.max_line_bytes),
      "longest request line")("idle-timeout-ms", po::value(&ms.idle_timeout)->default_value(60000),
                              "close app connections idle this long")(
      "header-timeout-ms", po::value(&ms.header_timeout)->default_value(10000),
      "an HTTP request's header must complete this long after its first byte (else 408)")(
      "min-receive-rate", po::value(&o.min_receive_rate)->default_value(o.min_receive_rate),
      "bytes/s a begun request or line must keep up after --header-timeout-ms (0: any)")(
      "max-connections", po::value(&o.max_connections)->default_value(o.max_connections),
      "connections per front door; more are refused (503 / an overloaded line)")(
      "max-output-bytes", po::value(&o.max_output_bytes)->default_value(o.max_output_bytes),
      "answers a client leaves unread before its connection is closed")(
      "drain-timeout-ms", po::value(&ms.drain_timeout)->default_value(10000),
      "on SIGTERM/SIGINT, how long calls in flight may finish")(
      "max-in-flight-per-endpoint",
      po::value(&e.max_in_flight_per_endpoint)->default_value(e.max_in_flight_per_endpoint),
      "calls in flight on one endpoint before `overloaded`")(
      "queue-timeout-ms", po::value(&ms.queue_timeout)->default_value(1000),
      "longest wait for an upstream connection (within the caller's deadline)")(
      "breaker-failures", po::value(&e.breaker_failures)->default_value(e.breaker_failures),
      "consecutive failures that eject an endpoint")(
      "breaker-cooldown-ms", po::value(&ms.breaker_cooldown)->default_value(5000),
      "how long an ejected endpoint rests before one probe decides")(
      "max-ejection-percent",
      po::value(&e.max_ejection_percent)->default_value(e.max_ejection_percent),
      "endpoints (percent, rounded down) that may be ejected at once for timeouts and protocol "
      "errors")("retry-budget",
                po::value(&e.retry_budget_ratio)->default_value(e.retry_budget_ratio),
                "retries allowed as a fraction of calls (10 s window)")(
      "retry-budget-floor", po::value(&e.retry_budget_floor)->default_value(e.retry_budget_floor),
      "retries always allowed per window")(
      "upstream-listen", po::value(&e.upstream_listen)->default_value(""),
      "ADDR:PORT the legacy host connects to (calls go out on its connections, its messages "
      "come in on them); with or without --upstream")(
      "upstream-listen-connections",
      po::value(&e.listen_connections)->default_value(e.listen_connections),
      "host connections taken at once on --upstream-listen; more are refused")(
      "deliver", po::value(&ms.deliver)->default_value(""),
      "app URL the host's own messages are POSTed to, as URL/{op} (empty: answered with the "
      "profile's negative reply)")(
      "deliver-timeout-ms", po::value(&ms.deliver_timeout)->default_value(ms.deliver_timeout),
      "how long the app may take to answer a delivery before the negative reply")(
      "deliver-max-in-flight",
      po::value(&e.deliver.max_in_flight)->default_value(e.deliver.max_in_flight),
      "deliveries in flight per host connection; at the bound, reading from that host pauses")(
      "subscriber-max-in-flight",
      po::value(&o.subscriber_max_in_flight)->default_value(o.subscriber_max_in_flight),
      "deliveries a line-door subscriber holds unanswered; more wait for its room")(
      "dedupe-entries", po::value(&e.dedupe_entries)->default_value(e.dedupe_entries),
      "answers to host messages kept for re-sent duplicates (profile dedupe_key)")(
      "journal", po::value(&o.journal)->default_value(""),
      "SQLite file of the asynchronous calls (Prefer: respond-async): each is answered 202 once "
      "committed there, then delivered with retries, and kept across restarts; empty: none")(
      "journal-sync", po::value(&ms.journal_sync)->default_value("full"),
      "full: every commit is on disk before its calls are answered; normal: a crash of the "
      "process loses nothing, a power loss may lose the last commits")(
      "journal-max-pending",
      po::value(&o.journal_max_pending)->default_value(o.journal_max_pending),
      "asynchronous calls waiting for the journal's writer at most; more are answered overloaded")(
      "journal-max-queued", po::value(&o.journal_max_queued)->default_value(o.journal_max_queued),
      "asynchronous messages accepted and not yet delivered (or finally failed) at most; more are "
      "answered overloaded")(
      "idempotency-keys", po::value(&o.idempotency.max_keys)->default_value(o.idempotency.max_keys),
      "Idempotency-Key values kept in memory at most (the oldest answered make room)")(
      "idempotency-window-ms",
      po::value(&ms.idempotency_window)->default_value(ms.idempotency_window),
      "how long the answer of a call with an Idempotency-Key is given again to its repeats")(
      "session-state", po::value(&e.session_state)->default_value(""),
      "file keeping the session's sequence numbers (profile session.sequence.state_file)")(
      "admin", po::value(&o.admin)->default_value(""),
      "admin and metrics listener ADDR:PORT (empty: on the HTTP door)")(
      "admin-token", po::value(&o.admin_token)->default_value(""),
      "token required on admin endpoints (Authorization: Bearer TOKEN); env:NAME or file:PATH "
      "reads it from there")(
      "door-tokens", po::value(&o.door_tokens)->default_value(""),
      "bearer tokens for the HTTP and line doors: a file of `client-name token` lines (read "
      "again on SIGHUP); callers without a known token are refused (401 unauthenticated)")(
      "policy", po::value(&o.policy)->default_value(""),
      "per-client policy: a JSON file of the operations and rate each client may call (read "
      "again on SIGHUP; see docs/door-auth.md)")(
      "door-tls-cert", po::value(&o.door_tls_cert)->default_value(""),
      "TLS on the HTTP and line doors: the certificate chain (PEM) they present; with "
      "--door-tls-key (read again on SIGHUP)")("door-tls-key",
                                               po::value(&o.door_tls_key)->default_value(""),
                                               "the door certificate's private key (PEM)")(
      "door-client-ca", po::value(&o.door_client_ca)->default_value(""),
      "CA certificates (PEM): TLS door clients must present a certificate that chains to one; "
      "its subject CN (else first DNS SAN) is the client's name")(
      "allow-unauthenticated-door", po::bool_switch(&o.allow_unauthenticated_door),
      "let --http or --line listen on a non-loopback address without client authentication")(
      "health", po::value(&o.health)->default_value(""),
      "health listener ADDR:PORT: only /healthz and /readyz, for probes (empty: off)")(
      "log-level", po::value(&o.log_level)->default_value(o.log_level),
      "debug, info, warn or error")("trace", po::bool_switch(&o.trace),
                                    "wire trace of every call (sensitive fields masked)")(
      "allow-trace-header", po::bool_switch(&o.allow_trace_header),
      "let X-Dragoman-Trace: 1 trace one call");
  add_io_backend_flag(desc);
}

// Flags left at 0 take the loaded profile's upstream settings; the durations are set.
void apply_profile_defaults(bridge::server_options& o, const po::variables_map& vm,
                            const millisecond_flags& ms) {
  using std::chrono::milliseconds;
  const auto& up = o.profile->upstream;
  auto& e = o.engine;
  e.connections_per_endpoint = vm.count("upstream-connections")
                                   ? vm["upstream-connections"].as<std::size_t>()
                                   : up.connections;
  if (e.connections_per_endpoint == 0) throw usage_error("--upstream-connections must be > 0");
  e.connect_timeout = ms.connect_timeout ? milliseconds(ms.connect_timeout) : up.connect_timeout;
  e.max_timeout = ms.max_timeout ? milliseconds(ms.max_timeout) : up.max_timeout;
  o.idle_timeout = milliseconds(ms.idle_timeout);
  o.header_timeout = milliseconds(ms.header_timeout);
  if (o.header_timeout.count() == 0) throw usage_error("--header-timeout-ms must be > 0");
  o.drain_timeout = milliseconds(ms.drain_timeout);
  e.queue_timeout = milliseconds(ms.queue_timeout);
  e.breaker_cooldown = milliseconds(ms.breaker_cooldown);
  o.tls_reload_interval = milliseconds(ms.tls_reload_interval);
  if (e.max_ejection_percent > 100) throw usage_error("--max-ejection-percent must be 0..100");
  if (ms.journal_sync != "full" && ms.journal_sync != "normal")
    throw usage_error("--journal-sync must be full or normal, not \"" + ms.journal_sync + "\"");
  o.journal_sync_full = ms.journal_sync == "full";
  if (o.journal_max_pending == 0) throw usage_error("--journal-max-pending must be > 0");
  if (o.journal_max_queued == 0) throw usage_error("--journal-max-queued must be > 0");
  if (o.idempotency.max_keys == 0) throw usage_error("--idempotency-keys must be > 0");
  if (ms.idempotency_window == 0) throw usage_error("--idempotency-window-ms must be > 0");
  o.idempotency.window = milliseconds(ms.idempotency_window);
  if (!ms.deliver.empty()) {
    if (std::string why = bridge::parse_deliver_url(ms.deliver, e.deliver); !why.empty())
      throw usage_error(why);
  }
  if (e.listen_connections == 0) throw usage_error("--upstream-listen-connections must be > 0");
  if (ms.deliver_timeout == 0) throw usage_error("--deliver-timeout-ms must be > 0");
  if (e.deliver.max_in_flight == 0) throw usage_error("--deliver-max-in-flight must be > 0");
  if (o.subscriber_max_in_flight == 0) throw usage_error("--subscriber-max-in-flight must be > 0");
  e.deliver.timeout = milliseconds(ms.deliver_timeout);
  if (vm.count("pacing-rate")) {
    const double r = vm["pacing-rate"].as<double>();
    if (!(r >= 0 && r <= 1e6)) throw usage_error("--pacing-rate must be 0..1000000");
    e.pacing_rate = r;
  }
  if (vm.count("pacing-burst")) {
    e.pacing_burst = vm["pacing-burst"].as<std::uint32_t>();
    if (*e.pacing_burst == 0) throw usage_error("--pacing-burst must be > 0");
  }
}

}  // namespace

int run_serve(int argc, char** argv) {
  bridge::server_options o;
  millisecond_flags ms;
  tls_flags tls;
  po::options_description desc("serve options");
  add_serve_flags(desc, o, ms);
  add_tls_flags(desc, tls, ms);
  po::variables_map vm;
  if (!parse_options("serve",
                     "Serves the app's calls (HTTP/JSON and NDJSON lines) and translates them to "
                     "the legacy system described by the profile.",
                     desc, argc, argv, vm))
    return 0;
  if (vm.count("upstream"))
    o.engine.upstreams = split_list(vm["upstream"].as<std::vector<std::string>>());
  // A token given as env:NAME or file:PATH stays out of argv.
  if (codecs::is_secret_reference(o.admin_token)) {
    std::string why;
    auto token = codecs::resolve_secret(o.admin_token, why);
    if (!token || token->empty())
      throw usage_error("--admin-token: " + (token ? "the secret is empty" : why));
    o.admin_token = std::move(*token);
  }
  o.profile = load_profile_file(o.profile_path);  // the only load: the server serves this one
  apply_profile_defaults(o, vm, ms);
  o.engine.tls = make_tls(tls, *o.profile);
  // Checked and set in one step, here only.
  if (!bridge::log::set_level(o.log_level))
    throw usage_error("--log-level must be one of debug, info, warn, error");
  if (o.engine.retry_budget_ratio < 0 || o.engine.retry_budget_ratio > 1)
    throw usage_error("--retry-budget must be between 0 and 1");
  return bridge::run_server(o);
}

int run_simulate(int argc, char** argv) {
  std::string profile_path, responses;
  bridge::simulator_options so;
  po::options_description desc("simulate options");
  desc.add_options()("profile,p", po::value(&profile_path)->required(), "profile file")(
      "listen,l", po::value(&so.listen)->default_value(so.listen), "address to listen on")(
      "responses,r", po::value(&responses), "rules file: canned replies and faults");
  add_io_backend_flag(desc);
  po::variables_map vm;
  if (!parse_options("simulate",
                     "Plays the legacy system described by the profile: decodes requests and "
                     "answers from rules (see docs/simulator.md).",
                     desc, argc, argv, vm))
    return 0;
  auto p = load_profile_file(profile_path);
  if (!responses.empty()) {
    std::ifstream in(responses);
    if (!in) throw std::runtime_error(responses + ": cannot be read");
    std::ostringstream ss;
    ss << in.rdbuf();
    boost::system::error_code ec;
    json::parse_options opts;
    opts.allow_comments = true;
    opts.allow_trailing_commas = true;
    json::value v = json::parse(ss.str(), ec, {}, opts);
    if (ec) throw std::runtime_error(responses + ": " + ec.message());
    if (!v.is_object()) throw std::runtime_error(responses + ": must be a JSON object");
    so.rules = v.get_object();
  }
  boost::asio::io_context ctx(1);
  auto sim = bridge::start_simulator(ctx, p, so);
  auto ep = sim->local_endpoint();
  std::printf(
      "{\"level\":\"info\",\"event\":\"listening\",\"simulate\":\"%s:%u\",\"profile\":\"%s\","
      "\"io_backend\":\"%s\"}\n",
      ep.address().to_string().c_str(), ep.port(), p->name.c_str(), bridge::io_backend_name());
  std::fflush(stdout);
  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    sim->stop();
    ctx.stop();
  });
  ctx.run();
  return 0;
}

}  // namespace dragoman::cli
