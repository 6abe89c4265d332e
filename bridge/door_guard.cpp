// Who may call through the front doors: authentication, the per-client policy, their counters.
#include "bridge/door_guard.hpp"

#include "bridge/problem.hpp"
#include "bridge/prom_writer.hpp"

namespace dragoman::bridge {

std::size_t client_labels::slot(std::string_view client) {
  if (client.empty()) return anonymous;
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < used_; ++i)
    if (names_[i] == client) return i;
  if (used_ == names_.size()) return other;
  names_[used_] = std::string(client);
  return used_++;
}

std::string client_labels::name(std::size_t slot) const {
  if (slot == anonymous) return "anonymous";
  if (slot == other) return "other";
  std::lock_guard lock(mutex_);
  return slot < used_ ? names_[slot] : std::string();
}

door_guard::door_guard(std::shared_ptr<const door_tokens> tokens,
                       std::shared_ptr<client_policy> policy, bool client_certificates)
    : tokens_(std::move(tokens)),
      policy_(std::move(policy)),
      client_certificates_(client_certificates) {}

std::optional<call_result> door_guard::refuse_unauthenticated(std::string message) {
  count(client_labels::anonymous, outcome::unauthenticated);
  return door_error(call_code::unauthenticated, std::move(message));
}

std::optional<call_result> door_guard::authenticate_http(std::string_view authorization,
                                                         std::string_view cert_client,
                                                         std::string& client) {
  const auto tokens = tokens_.load(std::memory_order_acquire);
  if (!tokens) {
    client.assign(cert_client);
    return std::nullopt;
  }
  if (!authorization.empty()) {
    if (const std::string* name = tokens->client_for_authorization(authorization)) {
      client = *name;
      return std::nullopt;
    }
    return refuse_unauthenticated("Authorization does not carry a known bearer token");
  }
  if (!cert_client.empty()) {
    client.assign(cert_client);
    return std::nullopt;
  }
  return refuse_unauthenticated("this door needs Authorization: Bearer <token>");
}

std::optional<call_result> door_guard::authenticate_token(std::string_view token,
                                                          std::string& client) {
  const auto tokens = tokens_.load(std::memory_order_acquire);
  if (!tokens) {
    count(client_labels::anonymous, outcome::unauthenticated);
    return door_error(call_code::bad_request, "this door takes no tokens (no --door-tokens)");
  }
  if (const std::string* name = tokens->client_for_token(token)) {
    client = *name;
    return std::nullopt;
  }
  return refuse_unauthenticated("auth does not carry a known token");
}

call_result door_guard::unauthenticated_line() {
  return *refuse_unauthenticated("this door needs authentication: send {\"auth\":\"TOKEN\"} first");
}

std::optional<call_result> door_guard::admit(std::string_view client, std::string_view op,
                                             clock_type::time_point now) {
  const std::size_t slot = labels_.slot(client);
  const auto policy = policy_.load(std::memory_order_acquire);
  if (!policy) {
    count(slot, outcome::allowed);
    return std::nullopt;
  }
  const policy_verdict v = policy->check(client, op, now);
  const std::string who = client.empty() ? "an anonymous client" : "client " + std::string(client);
  switch (v.what) {
    case policy_verdict::kind::allowed:
      count(slot, outcome::allowed);
      return std::nullopt;
    case policy_verdict::kind::forbidden:
      count(slot, outcome::forbidden);
      return door_error(call_code::forbidden,
                        who + " may not call " + std::string(op) + " (--policy)");
    case policy_verdict::kind::rate_limited: {
      count(slot, outcome::rate_limited);
      call_result r = door_error(call_code::rate_limited, who + " is over its rate (--policy)");
      r.retry_after_seconds = v.retry_after_seconds;
      return r;
    }
  }
  return std::nullopt;
}

void door_guard::write_metrics(prom_writer& w) const {
  static constexpr std::string_view outcome_names[] = {"allowed", "unauthenticated", "forbidden",
                                                       "rate_limited"};
  w.family("dragoman_door_client_calls_total", "counter",
           "Calls through the front doors by client (its token's or certificate's name; the "
           "first 32 names seen, then \"other\"; \"anonymous\" without one) and outcome: allowed, "
           "or refused as unauthenticated, forbidden (--policy) or rate_limited (--policy).");
  for (std::size_t s = 0; s < client_labels::slots; ++s) {
    const std::string name = labels_.name(s);
    if (name.empty()) continue;
    for (std::size_t o = 0; o < std::size(outcome_names); ++o) {
      const auto n = counts_[s][o].load(std::memory_order_relaxed);
      if (n == 0 && s != client_labels::anonymous) continue;
      w.sample("dragoman_door_client_calls_total",
               {{"client", name}, {"outcome", outcome_names[o]}}, static_cast<double>(n));
    }
  }
  w.family("dragoman_door_refusals_total", "counter",
           "Calls the front doors refused before the engine, by reason: unauthenticated (no or "
           "a bad token or certificate), forbidden or rate_limited (--policy).");
  for (std::size_t o = 1; o < std::size(outcome_names); ++o) {
    std::uint64_t total = 0;
    for (std::size_t s = 0; s < client_labels::slots; ++s)
      total += counts_[s][o].load(std::memory_order_relaxed);
    w.sample("dragoman_door_refusals_total", {{"reason", outcome_names[o]}},
             static_cast<double>(total));
  }
}

}  // namespace dragoman::bridge
