// Inbound messages through the journal (see the header): stored, acknowledged, then delivered to
// the app from one strand with the delivery policy's attempts and backoff.
#include "bridge/journaled_inbound.hpp"

#include "bridge/journal_support.hpp"

#include "bridge/inbound_dispatch.hpp"
#include "bridge/log.hpp"
#include "codecs/profile.hpp"
#include "journal/delivery.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <limits>
#include <mutex>
#include <unordered_map>

namespace dragoman::bridge {

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using journal::message_state;
using journal_support::wall_ms;

// The operation's "delivery" for its deliveries to the app (parallel: the app's order is the
// order it accepts them in).
journal::delivery_policy inbound_policy(const codecs::profile* p, const std::string& op_name) {
  journal::delivery_policy policy;
  const codecs::operation* op = p ? p->find_operation(op_name) : nullptr;
  if (!op) return policy;
  // Until the app accepts it, unless the profile sets a limit (then dead, at /admin/messages).
  policy.max_attempts =
      op->delivery.max_attempts_given ? op->delivery.max_attempts : std::numeric_limits<int>::max();
  policy.backoff_min_ms = op->delivery.backoff_min.count();
  policy.backoff_max_ms = op->delivery.backoff_max.count();
  policy.ttl_ms = op->delivery.ttl.count();
  return policy;
}

class journaled_inbound final : public inbound_store,
                                public std::enable_shared_from_this<journaled_inbound> {
 public:
  journaled_inbound(journal::journal& j, asio::io_context& ctx, const deliver_target& target,
                    std::shared_ptr<line_subscriptions> subs,
                    std::shared_ptr<const codecs::profile> p)
      : journal_(j),
        strand_(asio::make_strand(ctx.get_executor())),
        timer_(strand_),
        dispatcher_(make_inbound_dispatcher(ctx, target, std::move(subs))),
        profile_(std::move(p)) {}

  void keep(deliver_request r, std::function<void(std::string)> done) override {
    journal::new_message m;
    m.dir = journal::direction::inbound;
    m.operation = r.op;
    m.now_ms = wall_ms();
    m.control_id = r.message_id;
    m.body = json::serialize(
        json::object{{"body", r.body}, {"message_id", r.message_id}, {"request_id", r.request_id}});
    const std::int64_t created = m.now_ms;
    auto reply = std::make_shared<std::function<void(std::string)>>(std::move(done));
    const bool queued =
        journal_.append(std::move(m), [self = shared_from_this(), reply, r = std::move(r), created](
                                          std::int64_t id, std::string error) mutable {
          if (!error.empty()) {
            log::error("journal_append_failed", {{"error", error}, {"operation", r.op}});
            return (*reply)("the journal could not store the message");
          }
          self->stored_.fetch_add(1, std::memory_order_relaxed);
          (*reply)({});
          asio::post(self->strand_, [self, id, r = std::move(r), created]() mutable {
            self->add(id, std::move(r), 0, created, created);
            self->schedule();
          });
        });
    if (!queued) (*reply)("the journal holds its maximum of unwritten messages");
  }

  void start() override {
    auto left = journal_.unfinished();
    asio::post(strand_, [self = shared_from_this(), left = std::move(left)]() mutable {
      std::size_t n = 0;
      for (auto& m : left) {
        if (m.dir != journal::direction::inbound) continue;
        json::error_code ec;
        json::value b = json::parse(m.body, ec);
        const json::object* o = b.if_object();
        deliver_request r;
        r.op = m.operation;
        auto text = [&](const char* key) {
          const json::value* v = o ? o->if_contains(key) : nullptr;
          return v && v->is_string() ? std::string(v->get_string()) : std::string();
        };
        r.body = text("body");
        r.message_id = text("message_id");
        r.request_id = text("request_id");
        self->add(m.id, std::move(r), m.attempts, m.next_attempt_ms, m.created_ms);
        ++n;
      }
      if (n) log::info("journal_recovered_inbound", {{"messages", n}});
      self->schedule();
    });
  }

  void stop() override {
    stopping_.store(true);
    asio::post(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
  }

  void reload(std::shared_ptr<const codecs::profile> p) override {
    std::lock_guard lock(profile_mutex_);
    profile_ = std::move(p);
  }

  json::object stats() const override {
    return {{"stored", stored_.load()},
            {"delivered", delivered_.load()},
            {"retries", retries_.load()},
            {"dead", dead_.load()}};
  }

 private:
  struct held {
    deliver_request request;
    journal::delivery_policy policy;
  };

  // On the strand.
  void add(std::int64_t id, deliver_request r, int attempts, std::int64_t next_attempt,
           std::int64_t created) {
    std::shared_ptr<const codecs::profile> p;
    {
      std::lock_guard lock(profile_mutex_);
      p = profile_;
    }
    auto policy = inbound_policy(p.get(), r.op);
    queue_.add(id, policy, {}, attempts, next_attempt, created);
    held_.emplace(id, held{std::move(r), policy});
  }

  void schedule() {
    if (stopping_.load()) return;
    const std::int64_t now = wall_ms();
    auto due = queue_.take_due(now);
    for (std::int64_t id : due.expire) {
      journal::message_update u;
      u.id = id;
      u.now_ms = now;
      u.state = message_state::expired;
      u.error = R"({"code":"expired","detail":"its time to live passed before the app took it"})";
      journal_.update(std::move(u), nullptr);
      held_.erase(id);
    }
    for (std::int64_t id : due.send) send(id, now);
    timer_.cancel();
    if (auto wake = queue_.next_wakeup()) {
      timer_.expires_after(std::chrono::milliseconds(std::max<std::int64_t>(*wake - now, 0)));
      timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->schedule();
      });
    }
  }

  void send(std::int64_t id, std::int64_t now) {
    auto it = held_.find(id);
    if (it == held_.end()) return;
    const int attempts = queue_.attempts(id);
    journal::message_update u;
    u.id = id;
    u.now_ms = now;
    u.state = message_state::sending;
    u.attempts = attempts;
    journal_.update(std::move(u), nullptr);
    if (attempts > 1) retries_.fetch_add(1, std::memory_order_relaxed);
    // The dispatcher runs on the context: post to it, and its answer back to the strand.
    asio::post(strand_.get_inner_executor(),
               [self = shared_from_this(), id, r = it->second.request]() mutable {
                 self->dispatcher_->post(std::move(r), [self, id](deliver_response app) {
                   asio::post(self->strand_, [self, id, app = std::move(app)]() mutable {
                     self->outcome(id, app);
                   });
                 });
               });
  }

  void outcome(std::int64_t id, const deliver_response& app) {
    auto it = held_.find(id);
    if (it == held_.end()) return;
    using o = journal::delivery_queue::outcome;
    const bool accepted = app.what == deliver_response::outcome::accepted;
    const o kind = accepted ? o::delivered : o::retryable_failure;
    const int attempts = queue_.attempts(id);
    const std::int64_t now = wall_ms();
    journal::message_update u;
    u.id = id;
    u.now_ms = now;
    if (accepted) {
      delivered_.fetch_add(1, std::memory_order_relaxed);
      u.state = message_state::delivered;
      u.reply = json::serialize(json::object{{"status", app.status}});
    } else {
      json::object e{{"code", "app_failed"}, {"detail", app.why}};
      if (app.status) e["status"] = app.status;
      u.error = json::serialize(e);
      if (attempts >= it->second.policy.max_attempts) {
        dead_.fetch_add(1, std::memory_order_relaxed);
        u.state = message_state::dead;
      } else {
        u.state = message_state::queued;
        u.next_attempt_ms = now + journal::delivery_backoff_ms(it->second.policy, attempts + 1);
      }
      log::warn("inbound_delivery_failed", {{"message_id", it->second.request.message_id},
                                            {"operation", it->second.request.op},
                                            {"attempts", attempts},
                                            {"reason", app.why}});
    }
    auto settle = [self = shared_from_this(), id, kind, now] {
      auto h = self->held_.find(id);
      if (h == self->held_.end()) return;
      const auto verdict = self->queue_.report(id, kind, h->second.policy, now);
      if (verdict != journal::delivery_queue::verdict::retry_later &&
          self->queue_.attempts(id) == 0)
        self->held_.erase(id);
      self->schedule();
    };
    if (!journal_.update(std::move(u),
                         [self = shared_from_this(), settle](std::int64_t, std::string) {
                           asio::post(self->strand_, settle);
                         }))
      settle();
  }

  journal::journal& journal_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer timer_;
  std::shared_ptr<deliver_client> dispatcher_;  // used on the context
  mutable std::mutex profile_mutex_;
  std::shared_ptr<const codecs::profile> profile_;
  journal::delivery_queue queue_;                // on strand_
  std::unordered_map<std::int64_t, held> held_;  // on strand_
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> stored_{0}, delivered_{0}, retries_{0}, dead_{0};
};

}  // namespace

std::shared_ptr<inbound_store> make_journaled_inbound(journal::journal& j, asio::io_context& ctx,
                                                      const deliver_target& target,
                                                      std::shared_ptr<line_subscriptions> subs,
                                                      std::shared_ptr<const codecs::profile> p) {
  return std::make_shared<journaled_inbound>(j, ctx, target, std::move(subs), std::move(p));
}

}  // namespace dragoman::bridge
