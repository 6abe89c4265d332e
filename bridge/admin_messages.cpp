// /admin/messages (see the header): parsing, masking, and retry/discard as journal updates.
#include "bridge/admin_messages.hpp"

#include "bridge/journal_support.hpp"

#include "bridge/problem.hpp"
#include "codecs/pipeline.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <future>

namespace dragoman::bridge {

namespace {

namespace json = boost::json;
using journal::message_state;
using journal_support::iso_time;

message_answer problem(std::string_view code, int status, std::string_view detail) {
  return {status, make_problem(code, status, detail)};
}

std::optional<std::int64_t> parse_id(std::string_view t) {
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), id);
  if (ec != std::errc() || end != t.data() + t.size() || id <= 0) return std::nullopt;
  return id;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded value; nullopt for a broken escape.
std::optional<std::string> url_decode(std::string_view v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '+') {
      out += ' ';
    } else if (v[i] == '%') {
      if (i + 2 >= v.size()) return std::nullopt;
      const int h = hex(v[i + 1]), l = hex(v[i + 2]);
      if (h < 0 || l < 0) return std::nullopt;
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else {
      out += v[i];
    }
  }
  return out;
}

// Masks, in place, the value at `path` ("patient.id") of obj when it is there.
void mask_path(json::object& obj, std::string_view path) {
  json::object* at = &obj;
  for (;;) {
    const auto dot = path.find('.');
    json::value* v = at->if_contains(path.substr(0, dot));
    if (!v) return;
    if (dot == std::string_view::npos) {
      if (v->is_string())
        *v = codecs::mask_value(v->get_string());
      else if (!v->is_null())
        *v = "****";
      return;
    }
    at = v->if_object();
    if (!at) return;
    path.remove_prefix(dot + 1);
  }
}

void mask_request(json::object& data, json::object* fixed, const codecs::message_def& msg) {
  for (const auto& f : msg.fields) {
    if (!f.sensitive) continue;
    mask_path(data, f.request_name());
    for (const auto& a : f.aliases) mask_path(data, a);
    if (fixed) mask_path(*fixed, f.name);
  }
}

void mask_reply(json::object& reply, const codecs::message_def& msg) {
  for (const auto& f : msg.fields)
    if (f.sensitive) mask_path(reply, f.reply_name());
}

}  // namespace

message_admin::message_admin(journal::journal& j, profile_fn profile, requeue_fn requeue,
                             forget_fn forget)
    : journal_(j),
      reader_(j.path()),
      profile_(std::move(profile)),
      requeue_(std::move(requeue)),
      forget_(std::move(forget)) {}

json::object message_admin::describe(const journal::message& m, const codecs::profile* p,
                                     bool full) {
  json::object o{{"id", std::to_string(m.id)},
                 {"direction", m.dir == journal::direction::inbound ? "inbound" : "outbound"},
                 {"operation", m.operation},
                 {"state", journal::to_string(m.state)},
                 {"attempts", m.attempts},
                 {"created_at", iso_time(m.created_ms)},
                 {"updated_at", iso_time(m.updated_ms)}};
  if (!m.order_key.empty()) o["order_key"] = m.order_key;
  if (!m.control_id.empty()) o["control_id"] = m.control_id;
  if (m.state == message_state::queued) o["next_attempt_at"] = iso_time(m.next_attempt_ms);
  if (m.expires_ms != 0) o["expires_at"] = iso_time(m.expires_ms);
  const codecs::operation* op = p ? p->find_operation(m.operation) : nullptr;
  json::error_code ec;
  if (!m.error.empty()) {
    json::value v = json::parse(m.error, ec);
    if (!ec && v.is_object()) {
      json::object& e = v.get_object();
      if (!full) {
        json::object brief;
        for (const char* k : {"code", "detail", "legacy_code"})
          if (auto* x = e.if_contains(k)) brief[k] = *x;
        o["last_problem"] = std::move(brief);
      } else {
        if (auto* f = e.if_contains("fields"); f && f->is_object() && op)
          mask_reply(f->get_object(), op->reply);
        o["last_problem"] = std::move(v);
      }
    }
  }
  if (!full) return o;
  if (!m.idempotency_key.empty()) o["idempotency_key"] = m.idempotency_key;
  json::value body = json::parse(m.body, ec);
  if (!ec && body.is_object()) {
    json::object& b = body.get_object();
    json::value* data = b.if_contains("data");
    json::value* fixed = b.if_contains("fixed");
    json::object request = data && data->is_object() ? data->get_object() : json::object();
    json::object pinned = fixed && fixed->is_object() ? fixed->get_object() : json::object();
    if (op) {
      mask_request(request, &pinned, op->request);
    } else {  // an operation no longer in the profile: nothing tells what is sensitive
      request = {{"note", "not shown: the profile has no operation \"" + m.operation + "\""}};
      pinned = {};
    }
    o["request"] = std::move(request);
    if (!pinned.empty()) o["fixed"] = std::move(pinned);
  }
  if (!m.reply.empty()) {
    json::value v = json::parse(m.reply, ec);
    if (!ec && v.is_object()) {
      if (op) mask_reply(v.get_object(), op->reply);
      o["reply"] = std::move(v);
    }
  }
  return o;
}

message_answer message_admin::handle(std::string_view method, std::string_view rest,
                                     std::string_view query, std::int64_t now_ms) {
  if (rest.empty() || rest == "/") {
    if (method != "GET") return problem("method_not_allowed", 405, "use GET");
    return list(query);
  }
  rest.remove_prefix(1);
  const auto slash = rest.find('/');
  const std::string_view id_text = rest.substr(0, slash);
  const std::string_view action =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  const auto id = parse_id(id_text);
  if (!id) return problem("not_found", 404, "no message " + std::string(id_text));
  if (action.empty()) {
    if (method != "GET") return problem("method_not_allowed", 405, "use GET");
    auto m = journal_.get(*id);
    if (!m) return problem("not_found", 404, "no message " + std::string(id_text));
    auto p = profile_();
    return {200, describe(*m, p.get(), true)};
  }
  if (action != "retry" && action != "discard")
    return problem("not_found", 404,
                   "no such admin path: /admin/messages/" + std::string(rest) +
                       " (a message has /retry and /discard)");
  if (method != "POST") return problem("method_not_allowed", 405, "use POST");
  return change(*id, action, now_ms);
}

message_answer message_admin::list(std::string_view query) {
  journal::message_filter f;
  f.limit = default_page;
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    auto value = url_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!value) return problem("bad_request", 400, "a broken %-escape in " + std::string(name));
    if (name == "state") {
      f.state = journal::state_from_string(*value);
      if (!f.state)
        return problem("bad_request", 400,
                       "state must be one of queued, sending, delivered, failed, expired, dead, "
                       "discarded; not \"" +
                           *value + "\"");
    } else if (name == "op") {
      f.operation = *value;
    } else if (name == "key") {
      f.order_key = *value;
    } else if (name == "direction") {
      if (*value != "outbound" && *value != "inbound")
        return problem("bad_request", 400, "direction must be outbound or inbound");
      f.dir = *value == "inbound" ? journal::direction::inbound : journal::direction::outbound;
    } else if (name == "limit") {
      auto n = parse_id(*value);
      if (!n || *n > static_cast<std::int64_t>(max_page))
        return problem("bad_request", 400,
                       "limit must be a whole number from 1 to " + std::to_string(max_page));
      f.limit = static_cast<std::size_t>(*n);
    } else if (name == "after") {
      auto n = parse_id(*value);
      if (!n) return problem("bad_request", 400, "after must be a message id (the page's next)");
      f.after_id = *n;
    } else {
      return problem("bad_request", 400,
                     "unknown parameter \"" + std::string(name) +
                         "\" (state, op, key, direction, limit, after)");
    }
  }
  std::vector<journal::message> rows;
  try {
    rows = reader_.list(f);
  } catch (const journal::journal_error& e) {
    return problem("internal_error", 500, e.what());
  }
  auto p = profile_();
  json::array items;
  for (const auto& m : rows) items.push_back(describe(m, p.get(), false));
  json::object o{{"messages", std::move(items)}};
  // A full page may have more behind it: the next page starts after its last id.
  if (rows.size() == f.limit) o["next"] = std::to_string(rows.back().id);
  return {200, std::move(o)};
}

message_answer message_admin::change(std::int64_t id, std::string_view action,
                                     std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto m = journal_.get(id);
  if (!m) return problem("not_found", 404, "no message " + std::to_string(id));
  const std::string state(journal::to_string(m->state));
  auto conflict = [&](std::string_view allowed) {
    message_answer a = problem("wrong_state", 409,
                               "message " + std::to_string(id) + " is " + state + ": " +
                                   std::string(action) + " takes " + std::string(allowed));
    a.body["state"] = state;
    return a;
  };
  if (m->dir != journal::direction::outbound)
    return problem("wrong_state", 409, "inbound messages are not retried or discarded here");
  journal::message_update u;
  u.id = id;
  u.now_ms = now_ms;
  if (action == "retry") {
    if (m->state != message_state::dead && m->state != message_state::failed &&
        m->state != message_state::expired)
      return conflict("a dead, failed or expired message");
    auto p = profile_();
    const codecs::operation* op = p ? p->find_operation(m->operation) : nullptr;
    if (!op)
      return problem("wrong_state", 409,
                     "the profile has no operation \"" + m->operation + "\" any more");
    const std::int64_t ttl = op->delivery.ttl.count();
    u.state = message_state::queued;
    u.attempts = 0;
    u.next_attempt_ms = now_ms;
    u.expires_ms = ttl > 0 ? now_ms + ttl : 0;
    m->state = message_state::queued;
    m->attempts = 0;
    m->next_attempt_ms = now_ms;
    m->expires_ms = *u.expires_ms;
  } else {
    if (m->state != message_state::dead) return conflict("a dead message");
    u.state = message_state::discarded;
    m->state = message_state::discarded;
  }
  m->updated_ms = now_ms;
  auto committed = std::make_shared<std::promise<std::string>>();
  auto result = committed->get_future();
  const bool retry = action == "retry";
  const journal::message stored = *m;
  const bool queued =
      journal_.update(std::move(u), [this, committed, retry, stored](std::int64_t, std::string e) {
        if (e.empty()) {
          if (retry)
            requeue_(stored);
          else
            forget_(stored.id);
        }
        committed->set_value(std::move(e));
      });
  if (!queued)
    return problem("overloaded", 503, "the journal holds its maximum of unwritten changes");
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
    return problem("overloaded", 503, "the journal did not commit the change within 10 s");
  if (std::string e = result.get(); !e.empty()) return problem("internal_error", 500, e);
  auto p = profile_();
  return {200, describe(*m, p.get(), true)};
}

}  // namespace dragoman::bridge
