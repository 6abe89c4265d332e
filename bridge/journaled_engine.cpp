// Asynchronous calls through the journal (see the header): acceptance, delivery on one strand,
// outcomes, the message's state for GET /v1/messages/{id}, recovery at start.
#include "bridge/journaled_engine.hpp"

#include "bridge/journal_support.hpp"

#include "bridge/admin_messages.hpp"
#include "bridge/call_handoff.hpp"
#include "bridge/idempotency.hpp"
#include "bridge/compensation.hpp"
#include "bridge/log.hpp"
#include "bridge/problem.hpp"
#include "bridge/prom_writer.hpp"
#include "journal/delivery.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <mutex>
#include <unordered_map>

namespace dragoman::bridge {

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using journal::message_state;
using namespace journal_support;

// A retryable failure: nothing reached a host (always), or a code the profile lists, or an
// unanswered call of an idempotent operation. Anything else is the message's final outcome: in
// particular a non-idempotent call that may have been acted on is not sent again.
bool retryable(const codecs::operation& op, const call_result& r) {
  if (retry_safe(r.code)) return true;
  const std::string_view code = to_string(r.code);
  if (std::find(op.delivery.retry_on.begin(), op.delivery.retry_on.end(), code) !=
      op.delivery.retry_on.end())
    return true;
  return r.code == call_code::upstream_timeout && op.idempotent;
}

class journaled_engine_impl final : public call_engine {
 public:
  journaled_engine_impl(std::unique_ptr<call_engine> inner, std::unique_ptr<journal::journal> j,
                        std::shared_ptr<const codecs::profile> profile, asio::any_io_executor ex,
                        std::size_t max_unfinished)
      : max_unfinished_(max_unfinished),
        strand_(asio::make_strand(ex)),
        timer_(strand_),
        profile_(std::move(profile)),
        inner_(std::move(inner)),
        journal_(std::move(j)) {
    admin_ = std::make_unique<message_admin>(
        *journal_, [this] { return this->profile(); },
        [this](const journal::message& m) { requeue(m); }, [this](std::int64_t id) { forget(id); });
    note_compensations(*profile_);
    start();
  }

  message_answer admin_messages(std::string_view method, std::string_view rest,
                                std::string_view query) override {
    return admin_->handle(method, rest, query, wall_ms());
  }

  void submit(call_request req, asio::any_io_executor caller, call_handler&& done) override {
    if (!req.async || draining_.load(std::memory_order_relaxed)) {
      // Only the operations that name a compensation leave the direct path (their generated
      // values are drawn first, so that the compensation can name them).
      if (compensations_.load(std::memory_order_relaxed)) [[unlikely]]
        return submit_compensable(std::move(req), std::move(caller), std::move(done));
      return inner_->submit(std::move(req), std::move(caller), std::move(done));
    }
    accept(std::move(req), std::move(caller), std::move(done));
  }

  std::optional<call_result> prepare(const call_request& req, json::object& pinned,
                                     std::string& control_id) override {
    return inner_->prepare(req, pinned, control_id);
  }

  message_answer read_message(std::string_view id_text) const override {
    std::int64_t id = 0;
    auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    std::optional<journal::message> m;
    if (ec == std::errc() && end == id_text.data() + id_text.size() && id > 0)
      m = journal_->get(id);
    if (!m || m->dir != journal::direction::outbound)
      return {404, make_problem("not_found", 404, "no message " + std::string(id_text))};
    return {200, describe(*m)};
  }

  bool ready() const override { return inner_->ready(); }
  std::string upstream_listen_address() const override { return inner_->upstream_listen_address(); }
  json::object describe_upstreams() const override { return inner_->describe_upstreams(); }

  json::object stats() const override {
    json::object o = inner_->stats();
    const auto s = journal_->stats();
    json::object j{{"appends", s.appends},
                   {"commits", s.commits},
                   {"refused", s.refused},
                   {"failed_statements", s.failed_statements},
                   {"pending", s.pending},
                   {"accepted", accepted_.load()},
                   {"delivered", delivered_.load()},
                   {"failed", failed_.load()},
                   {"dead", dead_.load()},
                   {"expired", expired_.load()},
                   {"retries", retries_.load()},
                   {"operator_retries", operator_retries_.load()},
                   {"discarded", discarded_.load()},
                   {"compensations", compensations_queued_.load()},
                   {"refused_full", refused_full_.load()},
                   {"unfinished", unfinished_.load()}};
    const std::int64_t now = wall_ms();
    json::object depth, oldest;
    for (auto st : {message_state::queued, message_state::sending, message_state::dead}) {
      auto [count, first] = journal_->depth(st);
      depth[journal::to_string(st)] = count;
      oldest[journal::to_string(st)] = count ? static_cast<double>(now - first) / 1000.0 : 0.0;
    }
    j["messages"] = std::move(depth);
    j["oldest_age_seconds"] = std::move(oldest);
    o["journal"] = std::move(j);
    return o;
  }

  void reload(std::shared_ptr<const codecs::profile> profile) override {
    if (!profile) return;
    {
      std::lock_guard lock(profile_mutex_);
      profile_ = profile;
    }
    note_compensations(*profile);
    inner_->reload(std::move(profile));
  }

  // No new sends: what is queued stays in the journal for the next start; sends in flight end
  // with the engine behind (their outcomes are journaled if they come before the stop).
  void drain(std::chrono::steady_clock::time_point deadline, std::function<void()> done) override {
    draining_.store(true);
    asio::post(strand_, [this] { timer_.cancel(); });
    inner_->drain(deadline, std::move(done));
  }

 private:
  struct held {
    std::string operation;
    std::string body;
    journal::delivery_policy policy;
  };

  std::shared_ptr<const codecs::profile> profile() const {
    std::lock_guard lock(profile_mutex_);
    return profile_;
  }

  void accept(call_request req, asio::any_io_executor caller, call_handler&& done) {
    json::object pinned;
    std::string control_id;
    if (auto refused = inner_->prepare(req, pinned, control_id))
      return post_result(caller, std::move(done), std::move(*refused));
    auto p = profile();
    const codecs::operation* op = p->find_operation(req.op);
    if (!op) {  // a reload between prepare and here
      return post_result(caller, std::move(done),
                         make_error_result(call_code::unknown_operation,
                                           "the profile has no operation \"" + req.op + "\""));
    }
    journal::new_message m;
    if (!req.idempotency_key.empty()) {  // kept with the message: a restart remembers it
      std::string fingerprint = idempotency_fingerprint(req.op, req.data);
      if (auto prior = journal_->find_idempotency_key(req.idempotency_key))
        return post_result(caller, std::move(done), replay(*prior, fingerprint));
      m.idempotency_key = req.idempotency_key;
      m.body_hash = std::move(fingerprint);
    }
    // Every unfinished message is held in memory until its outcome: their number is bounded.
    if (unfinished_.fetch_add(1, std::memory_order_relaxed) >= max_unfinished_) {
      unfinished_.fetch_sub(1, std::memory_order_relaxed);
      refused_full_.fetch_add(1, std::memory_order_relaxed);
      return post_result(
          caller, std::move(done),
          make_error_result(call_code::overloaded,
                            "the journal holds its maximum of " + std::to_string(max_unfinished_) +
                                " undelivered messages (--journal-max-queued)"));
    }
    m.operation = op->name;
    if (op->delivery.order == codecs::delivery_spec::ordering::per_key)
      m.order_key = key_value(req.data, op->delivery.key);
    // The app's fields and the values fixed now: {"data": {...}, "fixed": {...}}.
    m.body = json::serialize(json::object{{"data", req.data}, {"fixed", std::move(pinned)}});
    m.now_ms = wall_ms();
    m.expires_ms = op->delivery.ttl.count() > 0 ? m.now_ms + op->delivery.ttl.count() : 0;
    m.control_id = control_id;
    held h{op->name, m.body, policy_of(*op)};
    const std::int64_t created = m.now_ms;
    std::string key = m.order_key;
    const bool queued = journal_->append(
        std::move(m), [this, caller, done = std::move(done), h = std::move(h), created,
                       key = std::move(key)](std::int64_t id, std::string error) mutable {
          if (!error.empty()) {
            unfinished_.fetch_sub(1, std::memory_order_relaxed);
            log::error("journal_append_failed", {{"error", error}});
            return post_result(caller, std::move(done),
                               make_error_result(call_code::overloaded,
                                                 "the journal could not store the message"));
          }
          accepted_.fetch_add(1, std::memory_order_relaxed);
          call_result r = accepted_result(id);
          enqueue(id, std::move(h), created, std::move(key));
          post_result(caller, std::move(done), std::move(r));
        });
    if (!queued) {
      unfinished_.fetch_sub(1, std::memory_order_relaxed);
      post_result(caller, std::move(done),
                  make_error_result(call_code::overloaded,
                                    "the journal holds its maximum of unwritten messages"));
    }
  }

  static call_result accepted_result(std::int64_t id) {
    call_result r;
    r.code = call_code::ok;
    r.status = 202;
    r.location = "/v1/messages/" + std::to_string(id);
    r.data = {{"id", std::to_string(id)}, {"state", "queued"}, {"location", r.location}};
    return r;
  }

  // A key the journal holds already: the first 202 again, or the key's reuse for another call.
  static call_result replay(const journal::message& prior, const std::string& fingerprint) {
    if (prior.body_hash != fingerprint) {
      return make_error_result(call_code::idempotency_key_reused,
                               "this Idempotency-Key was used with another operation or body");
    }
    call_result r = accepted_result(prior.id);
    r.replayed = true;
    return r;
  }

  // Added in id order (the writer calls back in commit order), so queues keep it.
  void enqueue(std::int64_t id, held h, std::int64_t created, std::string key) {
    asio::post(strand_, [this, id, h = std::move(h), created, key = std::move(key)]() mutable {
      queue_.add(id, h.policy, key, 0, created, created);
      held_.emplace(id, std::move(h));
      schedule();
    });
  }

  void note_compensations(const codecs::profile& p) {
    compensations_.store(std::any_of(
        p.operations.begin(), p.operations.end(),
        [](const codecs::operation& op) { return op.compensation.operation.has_value(); }));
  }

  // A synchronous call of a profile with compensations: one of an operation without any goes
  // straight on; else its generated values are drawn (prepare) and it is sent with them, and an
  // unknown outcome is answered once its compensation is in the journal.
  void submit_compensable(call_request req, asio::any_io_executor caller, call_handler&& done) {
    auto p = profile();
    const codecs::operation* op = p->find_operation(req.op);
    if (!op || !op->compensation.operation || req.async)
      return inner_->submit(std::move(req), std::move(caller), std::move(done));
    json::object pinned;
    std::string control_id;
    if (auto refused = inner_->prepare(req, pinned, control_id))
      return post_result(caller, std::move(done), std::move(*refused));
    json::object data(req.data, {});  // req.data lives until submit() returns
    req.fixed = pinned;
    std::string request_id = req.request_id;
    inner_->submit(
        std::move(req), caller,
        [this, p, op, caller, done = std::move(done), data = std::move(data),
         pinned = std::move(pinned), request_id = std::move(request_id),
         control_id = std::move(control_id)](call_result&& r) mutable {
          if (!needs_compensation(*op, r)) return done(std::move(r));
          json::object what{{"control_id", control_id}};
          if (!request_id.empty()) what["request_id"] = request_id;
          compensate(*p, *op, data, pinned, std::move(what),
                     [caller, done = std::move(done), r = std::move(r)](std::string id) mutable {
                       r.compensation = id.empty() ? "unavailable" : "queued";
                       r.compensation_id = std::move(id);
                       post_result(caller, std::move(done), std::move(r));
                     });
        });
  }

  // Stores the compensation of a call of op whose outcome is unknown and queues it; then(id)
  // once it is durable, then("") when it could not be built or stored (logged).
  void compensate(const codecs::profile& p, const codecs::operation& op, const json::object& data,
                  const json::object& fixed, json::object what,
                  std::function<void(std::string)> then) {
    auto made = make_compensation(*inner_, p, op, data, fixed, what, wall_ms());
    if (!made.error.empty()) {
      log::error("compensation_failed", {{"operation", op.name}, {"error", made.error}});
      return then({});
    }
    if (made.op->delivery.order == codecs::delivery_spec::ordering::per_key) {
      json::error_code ec;
      json::value body = json::parse(made.message.body, ec);
      if (const json::value* d = body.is_object() ? body.get_object().if_contains("data") : nullptr;
          d && d->is_object())
        made.message.order_key = key_value(d->get_object(), made.op->delivery.key);
    }
    held h{made.op->name, made.message.body, policy_of(*made.op)};
    const std::int64_t created = made.message.now_ms;
    std::string key = made.message.order_key;
    auto reply = std::make_shared<std::function<void(std::string)>>(std::move(then));
    // Held like any message until its outcome; not refused at --journal-max-queued: it undoes a
    // call that may have been acted on.
    unfinished_.fetch_add(1, std::memory_order_relaxed);
    const bool queued = journal_->append(
        std::move(made.message), [this, reply, h = std::move(h), created, key = std::move(key),
                                  name = op.name](std::int64_t id, std::string error) mutable {
          if (!error.empty()) {
            unfinished_.fetch_sub(1, std::memory_order_relaxed);
            log::error("compensation_failed", {{"operation", name}, {"error", error}});
            return (*reply)({});
          }
          compensations_queued_.fetch_add(1, std::memory_order_relaxed);
          log::info("compensation_queued", {{"operation", name}, {"message", id}});
          enqueue(id, std::move(h), created, std::move(key));
          (*reply)(std::to_string(id));
        });
    if (!queued) {
      unfinished_.fetch_sub(1, std::memory_order_relaxed);
      log::error("compensation_failed",
                 {{"operation", op.name},
                  {"error", "the journal holds its maximum of unwritten messages"}});
      (*reply)({});
    }
  }

  // At start: every unfinished message back in its queue, in id order, attempts kept; and the
  // dead messages an ordered queue waits behind (on_dead "wait") back at its head, still dead.
  void start() {
    auto left = journal_->unfinished();
    auto p = profile();
    for (std::int64_t after = 0;;) {
      auto dead = journal_->list(message_state::dead, 1000, after);
      for (auto& m : dead) {
        const codecs::operation* op = p->find_operation(m.operation);
        if (m.dir == journal::direction::outbound && op && op->delivery.dead_blocks_queue &&
            op->delivery.order != codecs::delivery_spec::ordering::parallel)
          left.push_back(std::move(m));
      }
      if (dead.size() < 1000) break;
      after = dead.back().id;
    }
    std::sort(left.begin(), left.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    asio::post(strand_, [this, left = std::move(left), p]() mutable {
      for (auto& m : left) {
        if (m.dir != journal::direction::outbound) continue;
        const codecs::operation* op = p->find_operation(m.operation);
        journal::delivery_policy policy = op ? policy_of(*op) : journal::delivery_policy{};
        queue_.add(m.id, policy, m.order_key, m.attempts, m.next_attempt_ms, m.created_ms,
                   m.expires_ms != 0 ? std::optional<std::int64_t>(m.expires_ms) : std::nullopt);
        if (m.state == message_state::dead) queue_.hold_dead(m.id);
        held_.emplace(m.id, held{m.operation, std::move(m.body), policy});
        unfinished_.fetch_add(1, std::memory_order_relaxed);
      }
      if (!left.empty()) log::info("journal_recovered", {{"messages", left.size()}});
      schedule();
    });
  }

  // On the strand: expire and send what is due, then wait for the next time something is.
  void schedule() {
    if (draining_.load()) return;
    const std::int64_t now = wall_ms();
    auto due = queue_.take_due(now);
    for (std::int64_t id : due.expire) {
      expired_.fetch_add(1, std::memory_order_relaxed);
      journal::message_update u;
      u.id = id;
      u.now_ms = now;
      u.state = message_state::expired;
      u.error = json::serialize(
          make_problem("expired", 410, "its time to live passed before it could be delivered"));
      journal_->update(std::move(u), nullptr);
      release(id);
    }
    for (std::int64_t id : due.send) send(id, now);
    timer_.cancel();
    if (auto wake = queue_.next_wakeup()) {
      timer_.expires_after(std::chrono::milliseconds(std::max<std::int64_t>(*wake - now, 0)));
      timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) schedule();
      });
    }
  }

  void send(std::int64_t id, std::int64_t now) {
    auto it = held_.find(id);
    if (it == held_.end()) return;
    journal::message_update u;
    u.id = id;
    u.now_ms = now;
    u.state = message_state::sending;
    u.attempts = queue_.attempts(id);
    journal_->update(std::move(u), nullptr);
    if (queue_.attempts(id) > 1) retries_.fetch_add(1, std::memory_order_relaxed);
    call_request call;
    call.op = it->second.operation;
    json::error_code ec;
    json::value body = json::parse(it->second.body, ec);
    if (auto* o = body.if_object()) {
      if (auto* d = o->if_contains("data"); d && d->is_object())
        call.data = std::move(d->get_object());
      if (auto* f = o->if_contains("fixed"); f && f->is_object())
        call.fixed = std::move(f->get_object());
    }
    call.request_id = "message-" + std::to_string(id);
    inner_->submit(std::move(call), strand_,
                   [this, id](call_result&& r) { outcome(id, std::move(r)); });
  }

  // On the strand: the result of one send. The outcome is journaled first, and only once it
  // is durable does the message leave its queue (the next of its key may go): after a crash,
  // at most the one message per key that was in flight is sent again, never one before it.
  void outcome(std::int64_t id, call_result r) {
    auto it = held_.find(id);
    if (it == held_.end()) return;
    auto p = profile();
    const codecs::operation* op = p->find_operation(it->second.operation);
    using o = journal::delivery_queue::outcome;
    const o kind = r.code == call_code::ok   ? o::delivered
                   : op && retryable(*op, r) ? o::retryable_failure
                                             : o::final_failure;
    const journal::delivery_policy& policy = it->second.policy;
    const int attempts = queue_.attempts(id);
    const std::int64_t now = wall_ms();
    journal::message_update u;
    u.id = id;
    u.now_ms = now;
    if (kind == o::delivered) {
      delivered_.fetch_add(1, std::memory_order_relaxed);
      u.state = message_state::delivered;
      u.reply = json::serialize(r.data);
    } else {
      json::object problem = make_problem(r, "message-" + std::to_string(id));
      if (!r.legacy_code.empty()) problem["legacy_code"] = r.legacy_code;
      if (!r.data.empty()) problem["fields"] = r.data;
      u.error = json::serialize(problem);
      if (kind == o::final_failure) {
        failed_.fetch_add(1, std::memory_order_relaxed);
        u.state = message_state::failed;
      } else if (attempts >= policy.max_attempts) {
        dead_.fetch_add(1, std::memory_order_relaxed);
        u.state = message_state::dead;
      } else {  // as delivery_queue::report will schedule it
        u.state = message_state::queued;
        u.next_attempt_ms = now + journal::delivery_backoff_ms(policy, attempts + 1);
      }
    }
    if (kind == o::final_failure && op && needs_compensation(*op, r)) [[unlikely]] {
      // Its compensation is stored first; the message's outcome then names it.
      json::error_code ec;
      json::value body = json::parse(it->second.body, ec);
      json::object data, fixed;
      if (auto* b = body.if_object()) {
        if (auto* d = b->if_contains("data"); d && d->is_object()) data = d->get_object();
        if (auto* f = b->if_contains("fixed"); f && f->is_object()) fixed = f->get_object();
      }
      compensate(*p, *op, data, fixed, json::object{{"message", std::to_string(id)}},
                 [this, u = std::move(u), id, kind, now](std::string cid) mutable {
                   json::error_code bad;
                   json::value e = json::parse(*u.error, bad);
                   if (auto* eo = e.if_object()) {
                     (*eo)["compensation"] = cid.empty() ? "unavailable" : "queued";
                     if (!cid.empty()) (*eo)["compensation_id"] = cid;
                     u.error = json::serialize(e);
                   }
                   asio::post(strand_, [this, u = std::move(u), id, kind, now]() mutable {
                     record_outcome(std::move(u), id, kind, now);
                   });
                 });
      return;
    }
    record_outcome(std::move(u), id, kind, now);
  }

  void record_outcome(journal::message_update u, std::int64_t id,
                      journal::delivery_queue::outcome kind, std::int64_t now) {
    auto done = [this, id, kind, now](std::int64_t, std::string) {
      asio::post(strand_, [this, id, kind, now] { settle(id, kind, now); });
    };
    // A full writer queue: the message leaves its queue now; a crash before the outcome is
    // written sends it again after the restart (it is still `sending` there).
    if (!journal_->update(std::move(u), done)) settle(id, kind, now);
  }

  // On the strand, once the outcome is durable: the queue moves on.
  void settle(std::int64_t id, journal::delivery_queue::outcome kind, std::int64_t now) {
    auto it = held_.find(id);
    if (it == held_.end()) return;
    const auto verdict = queue_.report(id, kind, it->second.policy, now);
    // Kept while the message stays in its queue (a retry, or a dead one that blocks it).
    if (verdict != journal::delivery_queue::verdict::retry_later && queue_.attempts(id) == 0)
      release(id);
    schedule();
  }

  // On the strand: a message leaves memory (its outcome is final, or it is moved aside).
  void release(std::int64_t id) {
    if (held_.erase(id) != 0) unfinished_.fetch_sub(1, std::memory_order_relaxed);
  }

  // An operator's retry, once durable (called on the writer thread, in commit order): a dead
  // message its queue waited behind goes again from its head; any other goes to the back of its
  // queue (or is due now, parallel). It is held again, beyond --journal-max-queued if need be:
  // the operator asked for it.
  void requeue(const journal::message& m) {
    operator_retries_.fetch_add(1, std::memory_order_relaxed);
    asio::post(strand_, [this, m] {
      auto p = profile();
      const codecs::operation* op = p->find_operation(m.operation);
      journal::delivery_policy policy = op ? policy_of(*op) : journal::delivery_policy{};
      if (!queue_.revive(m.id, m.next_attempt_ms, policy) && !held_.contains(m.id)) {
        queue_.add(m.id, policy, m.order_key, 0, m.next_attempt_ms, m.created_ms, m.expires_ms);
        held_.emplace(m.id, held{m.operation, m.body, policy});
        unfinished_.fetch_add(1, std::memory_order_relaxed);
      }
      schedule();
    });
  }

  // An operator's discard, once durable: a queue waiting behind the message goes on.
  void forget(std::int64_t id) {
    discarded_.fetch_add(1, std::memory_order_relaxed);
    asio::post(strand_, [this, id] {
      if (queue_.remove(id)) release(id);
      schedule();
    });
  }

  static json::object describe(const journal::message& m) {
    json::object o{{"id", std::to_string(m.id)},           {"operation", m.operation},
                   {"state", journal::to_string(m.state)}, {"attempts", m.attempts},
                   {"created_at", iso_time(m.created_ms)}, {"updated_at", iso_time(m.updated_ms)}};
    if (!m.order_key.empty()) o["order_key"] = m.order_key;
    if (!m.control_id.empty()) o["control_id"] = m.control_id;
    if (m.state == message_state::queued && m.attempts > 0)
      o["next_attempt_at"] = iso_time(m.next_attempt_ms);
    json::error_code ec;
    if (!m.reply.empty()) {
      json::value v = json::parse(m.reply, ec);
      if (!ec) o["reply"] = std::move(v);
    }
    if (!m.error.empty()) {
      json::value v = json::parse(m.error, ec);
      if (!ec) o["error"] = std::move(v);
    }
    // A compensation says what it undoes (the request itself is not shown).
    if (m.body.find("\"compensates\"") != std::string::npos) {
      json::value b = json::parse(m.body, ec);
      if (const json::value* c =
              !ec && b.is_object() ? b.get_object().if_contains("compensates") : nullptr)
        o["compensates"] = *c;
    }
    return o;
  }

  const std::size_t max_unfinished_;
  std::atomic<std::size_t> unfinished_{0};  // held_'s size, and accepts on their way into it
  asio::strand<asio::any_io_executor> strand_;
  asio::steady_timer timer_;
  mutable std::mutex profile_mutex_;
  std::shared_ptr<const codecs::profile> profile_;
  journal::delivery_queue queue_;                // on strand_
  std::unordered_map<std::int64_t, held> held_;  // on strand_: bodies of queued messages
  std::atomic<bool> draining_{false};
  std::atomic<bool> compensations_{false};  // some operation of the profile names one
  std::atomic<std::uint64_t> compensations_queued_{0};
  std::atomic<std::uint64_t> accepted_{0}, delivered_{0}, failed_{0}, dead_{0}, expired_{0},
      retries_{0}, operator_retries_{0}, discarded_{0}, refused_full_{0};
  std::unique_ptr<call_engine> inner_;         // its results post to strand_: destroyed before it
  std::unique_ptr<message_admin> admin_;       // its callbacks run on journal_'s writer
  std::unique_ptr<journal::journal> journal_;  // its writer posts to strand_: joined first
};

}  // namespace

std::unique_ptr<call_engine> make_journaled_engine(std::unique_ptr<call_engine> inner,
                                                   std::unique_ptr<journal::journal> journal,
                                                   std::shared_ptr<const codecs::profile> profile,
                                                   asio::any_io_executor executor,
                                                   std::size_t max_unfinished) {
  return std::make_unique<journaled_engine_impl>(std::move(inner), std::move(journal),
                                                 std::move(profile), std::move(executor),
                                                 max_unfinished);
}

}  // namespace dragoman::bridge
