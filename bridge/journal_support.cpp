// What the journal's engines share (see the header), and the journal's metric families.
#include "bridge/journal_support.hpp"

#include "bridge/journaled_engine.hpp"
#include "bridge/prom_writer.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <tuple>

namespace dragoman::bridge {

namespace json = boost::json;

namespace journal_support {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso_time(std::int64_t ms) {
  const std::time_t s = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

journal::delivery_policy policy_of(const codecs::operation& op) {
  const codecs::delivery_spec& d = op.delivery;
  journal::delivery_policy p;
  p.order = d.order == codecs::delivery_spec::ordering::per_key
                ? journal::delivery_policy::ordering::per_key
            : d.order == codecs::delivery_spec::ordering::global
                ? journal::delivery_policy::ordering::global
                : journal::delivery_policy::ordering::parallel;
  p.max_attempts = d.max_attempts;
  p.backoff_min_ms = d.backoff_min.count();
  p.backoff_max_ms = d.backoff_max.count();
  p.ttl_ms = d.ttl.count();
  p.dead_blocks_queue = d.dead_blocks_queue;
  return p;
}

// The value a per_key queue is keyed by: the request field's value, as text.
std::string key_value(const json::object& data, std::string_view path) {
  const json::object* at = &data;
  for (;;) {
    const auto dot = path.find('.');
    const json::value* v = at->if_contains(path.substr(0, dot));
    if (!v) return {};
    if (dot == std::string_view::npos)
      return v->is_string() ? std::string(v->get_string()) : json::serialize(*v);
    at = v->if_object();
    if (!at) return {};
    path.remove_prefix(dot + 1);
  }
}

}  // namespace journal_support

void render_journal_stats(prom_writer& w, const json::object& stats) {
  const json::value* jv = stats.if_contains("journal");
  if (!jv || !jv->is_object()) return;
  const json::object& j = jv->get_object();
  auto number = [&](std::string_view key) {
    const json::value* v = j.if_contains(key);
    return v && v->is_number() ? v->to_number<double>() : 0.0;
  };
  struct row {
    std::string_view key, name, type, help;
  };
  static constexpr row rows[] = {
      {"accepted", "dragoman_journal_accepted_total", "counter",
       "Asynchronous calls committed to the journal and answered 202."},
      {"delivered", "dragoman_journal_delivered_total", "counter",
       "Journaled messages the host answered with a success."},
      {"failed", "dragoman_journal_failed_total", "counter",
       "Journaled messages whose final answer was not a success."},
      {"dead", "dragoman_journal_dead_total", "counter",
       "Journaled messages out of attempts (dead letters)."},
      {"expired", "dragoman_journal_expired_total", "counter",
       "Journaled messages whose time to live passed before they were sent."},
      {"retries", "dragoman_journal_retries_total", "counter",
       "Sends of journaled messages after their first."},
      {"operator_retries", "dragoman_journal_operator_retries_total", "counter",
       "Messages an operator sent again (POST /admin/messages/{id}/retry)."},
      {"discarded", "dragoman_journal_discarded_total", "counter",
       "Dead messages an operator discarded (POST /admin/messages/{id}/discard)."},
      {"compensations", "dragoman_journal_compensations_total", "counter",
       "Compensations (reversals) stored for calls whose outcome was unknown."},
      {"appends", "dragoman_journal_appends_total", "counter", "Messages written to the journal."},
      {"commits", "dragoman_journal_commits_total", "counter",
       "Journal transactions (each one fsync with --journal-sync full): commits / appends is "
       "the fsyncs per message."},
      {"refused", "dragoman_journal_refused_total", "counter",
       "Changes refused because the journal's writer queue was full."},
      {"pending", "dragoman_journal_pending", "gauge", "Changes waiting for the journal's writer."},
      {"refused_full", "dragoman_journal_refused_full_total", "counter",
       "Asynchronous calls refused because --journal-max-queued messages were undelivered."},
      {"unfinished", "dragoman_journal_unfinished", "gauge",
       "Journaled messages not yet finished (queued, sending, waiting to retry), held in memory."},
  };
  for (const row& r : rows) {
    w.family(r.name, r.type, r.help);
    w.sample(r.name, {}, number(r.key));
  }
  // The host's messages through the journal (journaled_inbound.hpp).
  if (const json::value* in = stats.if_contains("journal_inbound"); in && in->is_object()) {
    for (auto [key, name, help] :
         {std::tuple{"stored", "dragoman_journal_inbound_stored_total",
                     "Messages from the host stored in the journal before the host was answered."},
          std::tuple{"delivered", "dragoman_journal_inbound_delivered_total",
                     "Stored messages from the host the app accepted."},
          std::tuple{"retries", "dragoman_journal_inbound_retries_total",
                     "Deliveries of stored messages to the app after their first."},
          std::tuple{"dead", "dragoman_journal_inbound_dead_total",
                     "Stored messages from the host out of attempts."}}) {
      const json::value* v = in->get_object().if_contains(key);
      w.family(name, "counter", help);
      w.sample(name, {}, v && v->is_number() ? v->to_number<double>() : 0.0);
    }
  }
  for (auto [key, name, help] :
       {std::tuple{"messages", "dragoman_journal_messages", "Journaled messages by state."},
        std::tuple{"oldest_age_seconds", "dragoman_journal_oldest_message_age_seconds",
                   "Age of the oldest journaled message in each state."}}) {
    const json::value* v = j.if_contains(key);
    if (!v || !v->is_object()) continue;
    w.family(name, "gauge", help);
    for (const auto& kv : v->get_object())
      w.sample(name, {{"state", std::string_view(kv.key())}},
               kv.value().is_number() ? kv.value().to_number<double>() : 0.0);
  }
}

}  // namespace dragoman::bridge
