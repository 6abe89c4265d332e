// The inbound dispatcher: subscribers first (with a deadline timer per delivery on the
// connection's context), then the HTTP client, then the "no app" failure.
#include "bridge/inbound_dispatch.hpp"

#include "bridge/line_subscriptions.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace dragoman::bridge {

namespace {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

class inbound_dispatcher final : public deliver_client,
                                 public std::enable_shared_from_this<inbound_dispatcher> {
 public:
  inbound_dispatcher(asio::io_context& ctx, deliver_target t, std::shared_ptr<line_subscriptions> s)
      : ctx_(ctx), t_(std::move(t)), subs_(std::move(s)) {}

  void post(deliver_request request, std::function<void(deliver_response)> done) override {
    if (!subs_) return elsewhere(std::move(request), std::move(done));
    auto kept = std::make_shared<deliver_request>(request);
    const auto deadline = steady::now() + t_.timeout;
    auto timer = std::make_shared<asio::steady_timer>(ctx_);
    auto ended = [self = shared_from_this(), kept, timer,
                  done](std::optional<deliver_response> r) mutable {
      asio::post(self->ctx_, [self, kept, timer, done = std::move(done), r = std::move(r)]() {
        timer->cancel();
        if (r) return done(std::move(*r));
        self->elsewhere(std::move(*kept), std::move(done));
      });
    };
    if (!subs_->offer(std::move(request), deadline, std::move(ended)))
      return elsewhere(std::move(*kept), std::move(done));
    timer->expires_at(deadline);
    timer->async_wait([subs = subs_](boost::system::error_code ec) {
      if (!ec) subs->expire(steady::now());
    });
  }

  void close() override {
    if (http_) http_->close();
  }

 private:
  // No subscriber keeps it: the app over HTTP, or nobody.
  void elsewhere(deliver_request r, std::function<void(deliver_response)> done) {
    if (!t_.host.empty()) {
      if (!http_) http_ = make_deliver_client(ctx_, t_);
      return http_->post(std::move(r), std::move(done));
    }
    deliver_response none;
    none.what = deliver_response::outcome::unreachable;
    none.no_app = true;
    none.why = subs_ ? "no app to deliver to (no line subscriber of " + r.op + ", and no --deliver)"
                     : "no app to deliver to (dragoman serve without --deliver)";
    done(std::move(none));
  }

  asio::io_context& ctx_;
  deliver_target t_;
  std::shared_ptr<line_subscriptions> subs_;
  std::shared_ptr<deliver_client> http_;
};

}  // namespace

std::shared_ptr<deliver_client> make_inbound_dispatcher(asio::io_context& ctx,
                                                        const deliver_target& target,
                                                        std::shared_ptr<line_subscriptions> subs) {
  return std::make_shared<inbound_dispatcher>(ctx, target, std::move(subs));
}

}  // namespace dragoman::bridge
