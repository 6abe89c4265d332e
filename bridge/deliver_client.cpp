// The HTTP client that delivers inbound messages to the app (Beast, C++20 coroutines): keep-alive
// connections kept idle up to the bound on deliveries, a deadline on every exchange, a body limit.
#include "bridge/deliver_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <vector>

namespace dragoman::bridge {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string parse_deliver_url(const std::string& url, deliver_target& out) {
  constexpr std::string_view scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    return "--deliver must be an http:// URL (\"" + url + "\")";
  std::string rest = url.substr(scheme.size());
  const std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? std::string() : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.pop_back();
  const std::size_t colon = authority.rfind(':');
  std::string host = authority.substr(0, colon);
  std::string port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) return "--deliver needs a host (\"" + url + "\")";
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoul(port) == 0 || std::stoul(port) > 65535)
    return "--deliver has a bad port (\"" + url + "\")";
  if (path.find_first_of("?# ") != std::string::npos)
    return "--deliver takes a base path without query or fragment (\"" + url + "\")";
  out.host = std::move(host);
  out.port = std::move(port);
  out.base_path = std::move(path);
  return {};
}

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

class http_deliver_client final : public deliver_client,
                                  public std::enable_shared_from_this<http_deliver_client> {
 public:
  http_deliver_client(asio::io_context& ctx, deliver_target t) : ctx_(ctx), t_(std::move(t)) {}

  void post(deliver_request request, std::function<void(deliver_response)> done) override {
    asio::co_spawn(ctx_, run(shared_from_this(), std::move(request), std::move(done)),
                   asio::detached);
  }

  void close() override {
    closed_ = true;
    for (auto& s : idle_) s->socket().close();
    idle_.clear();
  }

 private:
  using stream_ptr = std::unique_ptr<beast::tcp_stream>;

  static asio::awaitable<void> run(std::shared_ptr<http_deliver_client> self, deliver_request r,
                                   std::function<void(deliver_response)> done) {
    deliver_response out = co_await self->exchange(r);
    done(std::move(out));
  }

  static deliver_response failed(deliver_response::outcome what, std::string why) {
    deliver_response r;
    r.what = what;
    r.why = std::move(why);
    return r;
  }

  asio::awaitable<deliver_response> exchange(const deliver_request& r) {
    using outcome = deliver_response::outcome;
    const auto deadline = std::chrono::steady_clock::now() + t_.timeout;
    const std::string where = "the app at " + t_.host + ":" + t_.port;
    http::request<http::string_body> req{http::verb::post, t_.base_path + "/" + r.op, 11};
    req.set(http::field::host, t_.host + ":" + t_.port);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::user_agent, "dragoman");
    req.set("X-Request-Id", r.request_id);
    req.set("X-Dragoman-Message-Id", r.message_id);
    req.keep_alive(true);
    req.body() = r.body;
    req.prepare_payload();
    // A kept connection the app has closed meanwhile fails before any answer: once more, fresh.
    for (int attempt = 0; attempt < 2; ++attempt) {
      stream_ptr s;
      const bool reused = !idle_.empty();
      if (reused) {
        s = std::move(idle_.back());
        idle_.pop_back();
      } else {
        s = std::make_unique<beast::tcp_stream>(ctx_);
        s->expires_at(deadline);
        tcp::resolver resolver(ctx_);
        auto [rec, results] = co_await resolver.async_resolve(t_.host, t_.port, use_tuple);
        if (rec) co_return failed(outcome::unreachable, where + ": " + rec.message());
        auto [cec, ep] = co_await s->async_connect(results, use_tuple);
        if (cec == beast::error::timeout)
          co_return failed(outcome::timeout, where + " did not accept a connection in time");
        if (cec)
          co_return failed(outcome::unreachable, where + " is unreachable: " + cec.message());
        boost::system::error_code ignored;
        s->socket().set_option(tcp::no_delay(true), ignored);  // one request, one write: no wait
      }
      s->expires_at(deadline);
      auto [wec, wn] = co_await http::async_write(*s, req, use_tuple);
      if (wec == beast::error::timeout)
        co_return failed(outcome::timeout, where + " did not answer within the delivery timeout");
      if (wec) {
        if (reused) continue;
        co_return failed(outcome::unreachable, where + ": write failed: " + wec.message());
      }
      beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.body_limit(t_.max_body_bytes);
      auto [rdec, rn] = co_await http::async_read(*s, buffer, parser, use_tuple);
      if (rdec == beast::error::timeout)
        co_return failed(outcome::timeout, where + " did not answer within the delivery timeout");
      if (rdec == http::error::body_limit)
        co_return failed(outcome::bad_answer, where + " answered more than " +
                                                  std::to_string(t_.max_body_bytes) + " bytes");
      if (rdec) {
        if (reused && rn == 0 &&
            (rdec == http::error::end_of_stream || rdec == asio::error::connection_reset))
          continue;
        if (rdec == http::error::end_of_stream || rdec == asio::error::connection_reset ||
            rdec == asio::error::eof)
          co_return failed(outcome::unreachable,
                           where + " closed the connection: " + rdec.message());
        co_return failed(outcome::bad_answer, where + " answered no valid HTTP: " + rdec.message());
      }
      auto& res = parser.get();
      deliver_response out;
      out.status = res.result_int();
      out.what = out.status >= 200 && out.status < 300 ? outcome::accepted : outcome::refused;
      out.body = std::move(res.body());
      if (out.what == outcome::refused) out.why = where + " answered " + std::to_string(out.status);
      if (res.keep_alive() && !closed_ && idle_.size() < t_.max_in_flight) {
        s->expires_never();
        idle_.push_back(std::move(s));
      }
      co_return out;
    }
    co_return failed(outcome::unreachable, where + " closed the connection twice");
  }

  asio::io_context& ctx_;
  deliver_target t_;
  std::vector<stream_ptr> idle_;
  bool closed_ = false;
};

}  // namespace

std::shared_ptr<deliver_client> make_deliver_client(asio::io_context& ctx,
                                                    const deliver_target& target) {
  return std::make_shared<http_deliver_client>(ctx, target);
}

}  // namespace dragoman::bridge
