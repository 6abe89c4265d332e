// Delivery by subscription: the registry of subscribers and the messages they hold or wait for.
#include "bridge/line_subscriptions.hpp"

#include "codecs/profile.hpp"

#include <algorithm>

namespace dragoman::bridge {

line_subscriptions::line_subscriptions(subscription_options o) : o_(o) {
  if (o_.max_in_flight == 0) o_.max_in_flight = 1;
}

void line_subscriptions::set_operations(const codecs::profile& p) {
  std::vector<std::pair<std::string, bool>> ops;
  for (const auto& op : p.operations) ops.emplace_back(op.name, op.receives());
  set_operations(ops);
}

void line_subscriptions::set_operations(const std::vector<std::pair<std::string, bool>>& ops) {
  std::lock_guard lock(mu_);
  known_.clear();
  for (const auto& [name, inbound] : ops) known_[name] = inbound;
}

std::uint64_t line_subscriptions::attach(std::shared_ptr<subscriber_sink> sink) {
  std::lock_guard lock(mu_);
  const std::uint64_t id = ++next_sub_;
  subs_[id].sink = std::move(sink);
  return id;
}

std::string line_subscriptions::subscribe(std::uint64_t sub, const std::vector<std::string>& ops) {
  actions todo;
  {
    std::lock_guard lock(mu_);
    auto it = subs_.find(sub);
    if (it == subs_.end()) return "this connection is no longer subscribed";
    if (ops.empty()) return "subscribe must name at least one operation";
    for (const auto& name : ops) {
      auto k = known_.find(name);
      if (k == known_.end()) return "\"" + name + "\" is not an operation of the profile";
      if (!k->second)
        return "\"" + name + "\" is not an inbound operation (the host does not send it)";
    }
    for (const auto& name : ops) {
      auto& mine = it->second.ops;
      if (std::find(mine.begin(), mine.end(), name) != mine.end()) continue;
      mine.push_back(name);
      ops_[name].subs.push_back(sub);
    }
    fill(sub, todo);
  }
  run(todo);
  return {};
}

bool line_subscriptions::reply(std::uint64_t sub, std::string_view message_id,
                               deliver_response answer) {
  actions todo;
  {
    std::lock_guard lock(mu_);
    auto it = subs_.find(sub);
    if (it == subs_.end()) return false;
    std::uint64_t found = 0;
    for (std::uint64_t id : it->second.held)
      if (deliveries_.at(id).request.message_id == message_id) {
        found = id;
        break;
      }
    if (!found) return false;
    unlink(found);
    end(found, std::move(answer), todo);
    fill(sub, todo);
  }
  run(todo);
  return true;
}

void line_subscriptions::detach(std::uint64_t sub) {
  actions todo;
  {
    std::lock_guard lock(mu_);
    auto it = subs_.find(sub);
    if (it == subs_.end()) return;
    subscriber gone = std::move(it->second);
    subs_.erase(it);
    for (const auto& name : gone.ops) {
      auto& st = ops_[name];
      st.subs.erase(std::remove(st.subs.begin(), st.subs.end(), sub), st.subs.end());
      if (st.next >= st.subs.size()) st.next = 0;
      if (!st.subs.empty()) continue;
      // The last subscriber of the operation: what waits for one goes back to its caller.
      while (!st.waiting.empty()) {
        const std::uint64_t id = st.waiting.front();
        st.waiting.pop_front();
        --waiting_;
        end(id, std::nullopt, todo);
      }
    }
    // What it held, oldest first: to another subscriber, the head of the queue, or back.
    for (auto h = gone.held.rbegin(); h != gone.held.rend(); ++h) {
      delivery& d = deliveries_.at(*h);
      d.holder = 0;
      if (place(*h, todo)) continue;
      auto& st = ops_[d.request.op];
      if (st.subs.empty()) {
        end(*h, std::nullopt, todo);
      } else {
        st.waiting.push_front(*h);  // taken already: the bound on new offers does not apply
        ++waiting_;
      }
    }
  }
  run(todo);
}

bool line_subscriptions::offer(deliver_request r, time_point deadline, done_fn done) {
  actions todo;
  {
    std::lock_guard lock(mu_);
    auto op = ops_.find(r.op);
    if (op == ops_.end() || op->second.subs.empty()) return false;
    const std::uint64_t id = ++next_delivery_;
    const std::string name = r.op;
    deliveries_.emplace(id, delivery{std::move(r), deadline, std::move(done), 0});
    if (!place(id, todo)) {
      if (waiting_ >= o_.max_waiting) {
        deliver_response full;
        full.what = deliver_response::outcome::unreachable;
        full.why = "the line subscribers of " + name + " hold " + std::to_string(o_.max_in_flight) +
                   " deliveries each and " + std::to_string(waiting_) + " more wait";
        end(id, std::move(full), todo);
      } else {
        op->second.waiting.push_back(id);
        ++waiting_;
      }
    }
  }
  run(todo);
  return true;
}

void line_subscriptions::expire(time_point now) {
  actions todo;
  {
    std::lock_guard lock(mu_);
    std::vector<std::uint64_t> due;
    for (const auto& [id, d] : deliveries_)
      if (d.deadline <= now) due.push_back(id);
    std::sort(due.begin(), due.end());
    std::vector<std::uint64_t> freed;
    for (std::uint64_t id : due) {
      const delivery& d = deliveries_.at(id);
      deliver_response late;
      late.what = deliver_response::outcome::timeout;
      late.why = d.holder ? "the line subscriber did not answer within the delivery timeout"
                          : "no line subscriber of " + d.request.op +
                                " had room within the delivery timeout";
      if (d.holder) freed.push_back(d.holder);
      unlink(id);
      end(id, std::move(late), todo);
    }
    for (std::uint64_t sub : freed) fill(sub, todo);
  }
  run(todo);
}

line_subscriptions::counts line_subscriptions::snapshot() const {
  std::lock_guard lock(mu_);
  counts c;
  for (const auto& [id, s] : subs_) {
    if (!s.ops.empty()) ++c.subscribers;
    c.held += s.held.size();
  }
  c.waiting = waiting_;
  return c;
}

// Round robin from the operation's cursor: the first subscriber with room takes it.
bool line_subscriptions::place(std::uint64_t id, actions& todo) {
  auto& st = ops_[deliveries_.at(id).request.op];
  const std::size_t n = st.subs.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t at = (st.next + i) % n;
    auto it = subs_.find(st.subs[at]);
    if (it == subs_.end() || it->second.held.size() >= o_.max_in_flight) continue;
    st.next = (at + 1) % n;
    hand(it->first, it->second, id, todo);
    return true;
  }
  return false;
}

void line_subscriptions::hand(std::uint64_t sub_id, subscriber& s, std::uint64_t id,
                              actions& todo) {
  delivery& d = deliveries_.at(id);
  d.holder = sub_id;
  s.held.push_back(id);
  todo.push_back([sink = s.sink, r = d.request] { sink->deliver(r); });
}

// The subscriber has room: the oldest message waiting for one of its operations, while room lasts.
void line_subscriptions::fill(std::uint64_t sub_id, actions& todo) {
  auto it = subs_.find(sub_id);
  if (it == subs_.end()) return;
  subscriber& s = it->second;
  while (s.held.size() < o_.max_in_flight) {
    op_state* oldest = nullptr;
    for (const auto& name : s.ops) {
      auto& st = ops_[name];
      if (!st.waiting.empty() && (!oldest || st.waiting.front() < oldest->waiting.front()))
        oldest = &st;
    }
    if (!oldest) return;
    const std::uint64_t id = oldest->waiting.front();
    oldest->waiting.pop_front();
    --waiting_;
    hand(sub_id, s, id, todo);
  }
}

void line_subscriptions::unlink(std::uint64_t id) {
  const delivery& d = deliveries_.at(id);
  if (d.holder) {
    auto& held = subs_.at(d.holder).held;
    held.erase(std::find(held.begin(), held.end(), id));
    return;
  }
  auto& q = ops_[d.request.op].waiting;
  if (auto w = std::find(q.begin(), q.end(), id); w != q.end()) {
    q.erase(w);
    --waiting_;
  }
}

void line_subscriptions::end(std::uint64_t id, std::optional<deliver_response> r, actions& todo) {
  auto node = deliveries_.extract(id);
  todo.push_back(
      [done = std::move(node.mapped().done), r = std::move(r)]() mutable { done(std::move(r)); });
}

void line_subscriptions::run(actions& todo) {
  for (auto& a : todo) a();
}

}  // namespace dragoman::bridge
