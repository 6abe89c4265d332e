// The rig of the engine tests on loopback: the shipped acme-core profile (as JSON to adjust, or
// compiled), a simulator on its own thread, engine options for quick tests, and an engine on two
// threads with helpers to submit calls and read its stats. Waits are for events (wait.hpp).
#pragma once

#include <boost/test/unit_test.hpp>

#include "bridge/engine.hpp"
#include "bridge/io_pool.hpp"
#include "bridge/simulator.hpp"
#include "codecs/profile.hpp"
#include "wait.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace engine_rig {

namespace asio = boost::asio;
namespace json = boost::json;
namespace bridge = dragoman::bridge;
namespace codecs = dragoman::codecs;
using namespace std::chrono_literals;
using bridge::call_result;
using dragoman::test::eventually;

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The shipped acme-core profile as JSON, for tests that adjust it.
inline json::object acme_json() {
  json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  auto v = json::parse(read_file(DRAGOMAN_SOURCE_DIR "/profiles/acme-core.json"), {}, opts);
  return v.as_object();
}

inline std::shared_ptr<const codecs::profile> compile(const json::object& o) {
  auto out = codecs::compile_profile(json::serialize(o));
  for (const auto& e : out.errors) BOOST_TEST_MESSAGE(e);
  BOOST_REQUIRE(out.compiled);
  return out.compiled;
}

// acme-core with quick heartbeats, or none at all (the default: tests run well under 30 s).
inline json::object acme_json(std::int64_t heartbeat_ms, std::int64_t echo_timeout_ms) {
  auto o = acme_json();
  auto& s = o["session"].as_object();
  s["heartbeat_interval_ms"] = heartbeat_ms;
  s["echo_timeout_ms"] = echo_timeout_ms;
  return o;
}

inline std::shared_ptr<const codecs::profile> acme(std::int64_t heartbeat_ms = 0,
                                                   std::int64_t echo_timeout_ms = 300) {
  return compile(acme_json(heartbeat_ms, echo_timeout_ms));
}

// A simulator on its own thread.
struct sim_host {
  sim_host(std::shared_ptr<const codecs::profile> p, json::object rules = {},
           std::string listen = "127.0.0.1:0") {
    bridge::simulator_options o;
    o.rules = std::move(rules);
    o.listen = std::move(listen);
    sim = bridge::start_simulator(ctx, std::move(p), o);
    thread = std::thread([this] { ctx.run(); });
  }
  ~sim_host() {
    stop();
    ctx.stop();
    thread.join();
  }
  void stop() {
    if (sim) sim->stop();
  }
  std::string endpoint() const {
    return "127.0.0.1:" + std::to_string(sim->local_endpoint().port());
  }
  std::uint64_t requests(const std::string& op) const { return sim->requests_for(op); }

  asio::io_context ctx;
  asio::executor_work_guard<asio::io_context::executor_type> guard{ctx.get_executor()};
  std::shared_ptr<bridge::simulator> sim;
  std::thread thread;
};

inline std::string closed_port() {
  asio::io_context ctx;
  asio::ip::tcp::acceptor a(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  return "127.0.0.1:" + std::to_string(a.local_endpoint().port());
}

inline bridge::engine_options options(std::vector<std::string> upstreams,
                                      std::size_t connections = 1) {
  bridge::engine_options o;
  o.upstreams = std::move(upstreams);
  o.connections_per_endpoint = connections;
  o.connect_timeout = 1000ms;
  o.reconnect_min = 20ms;
  o.reconnect_max = 200ms;
  o.retry_backoff_min = 5ms;
  o.retry_backoff_max = 20ms;
  return o;
}

struct engine_fixture {
  engine_fixture(std::shared_ptr<const codecs::profile> p, bridge::engine_options o) : pool(2) {
    engine = bridge::make_engine(std::move(p), std::move(o), pool);
    pool.start();
  }
  ~engine_fixture() {
    engine.reset();
    pool.stop();
    pool.join();
  }

  std::future<call_result> submit(const std::string& op, json::object data,
                                  std::chrono::milliseconds timeout = 3000ms, bool trace = false) {
    auto promise = std::make_shared<std::promise<call_result>>();
    auto future = promise->get_future();
    bridge::call_request req;
    req.op = op;
    req.data = std::move(data);
    req.timeout = timeout;
    req.trace = trace;
    engine->submit(std::move(req), pool.at(0).get_executor(),
                   [promise](call_result r) { promise->set_value(std::move(r)); });
    return future;
  }

  call_result call(const std::string& op, json::object data,
                   std::chrono::milliseconds timeout = 3000ms) {
    auto f = submit(op, std::move(data), timeout);
    BOOST_REQUIRE(f.wait_for(15s) == std::future_status::ready);
    return f.get();
  }

  // Submits like submit(); `name` joins answer_order() when the answer arrives.
  std::future<call_result> submit_named(const std::string& name, const std::string& op,
                                        json::object data, std::chrono::milliseconds timeout) {
    auto promise = std::make_shared<std::promise<call_result>>();
    auto future = promise->get_future();
    bridge::call_request req;
    req.op = op;
    req.data = std::move(data);
    req.timeout = timeout;
    engine->submit(std::move(req), pool.at(0).get_executor(), [this, name, promise](call_result r) {
      {
        std::lock_guard lock(order_m_);
        answer_order_.push_back(name);
      }
      promise->set_value(std::move(r));
    });
    return future;
  }
  std::vector<std::string> answer_order() const {
    std::lock_guard lock(order_m_);
    return answer_order_;
  }

  call_result balance(std::chrono::milliseconds timeout = 3000ms) {
    return call("balance", {{"account", "12345"}}, timeout);
  }
  call_result transfer(std::chrono::milliseconds timeout = 3000ms) {
    return call("transfer", {{"from", "1"}, {"to", "2"}, {"amount", "5.00"}}, timeout);
  }

  bool wait_ready() {
    return eventually([&] { return engine->ready(); });
  }
  std::uint64_t stat(const char* name) const {
    return engine->stats().at(name).to_number<std::uint64_t>();
  }
  json::object endpoint_stats(std::size_t i) const {
    return engine->stats().at("endpoints").as_array().at(i).as_object();
  }
  std::string breaker(std::size_t i) const {
    return std::string(endpoint_stats(i).at("breaker").as_string());
  }
  std::int64_t up(std::size_t i) const {
    return endpoint_stats(i).at("connections").at("up").to_number<std::int64_t>();
  }

  bridge::io_pool pool;
  std::unique_ptr<bridge::call_engine> engine;

 private:
  mutable std::mutex order_m_;
  std::vector<std::string> answer_order_;
};

inline std::string code(const call_result& r) {
  return std::string(bridge::to_string(r.code));
}

inline json::object rules(std::initializer_list<json::value> list) {
  json::array a(list.begin(), list.end());
  return json::object{{"rules", std::move(a)}};
}

}  // namespace engine_rig
