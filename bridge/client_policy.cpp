// Per-client policy: the file's grammar, the token bucket and the verdict on a call.
#include "bridge/client_policy.hpp"

#include "bridge/door_tokens.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace dragoman::bridge {

namespace json = boost::json;

token_bucket::token_bucket(double calls_per_second, double burst, clock_type::time_point now)
    : rate_(calls_per_second), burst_(burst), tokens_(burst), last_(now) {}

std::optional<std::chrono::microseconds> token_bucket::take(clock_type::time_point now) {
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::nullopt;
  }
  const double wait_s = (1.0 - tokens_) / rate_;
  return std::chrono::microseconds(static_cast<std::int64_t>(std::ceil(wait_s * 1e6)));
}

bool client_rule::allows(std::string_view op) const noexcept {
  if (all_operations) return true;
  return std::find(operations.begin(), operations.end(), op) != operations.end();
}

namespace {

// Largest rate and burst accepted: beyond this a limit means nothing.
constexpr double max_rate = 1e7;

bool parse_rule(const json::value& v, const std::string& path, client_rule& rule,
                std::string& why) {
  if (!v.is_object()) {
    why = path + ": must be an object";
    return false;
  }
  const auto& o = v.get_object();
  for (const auto& kv : o) {
    const std::string_view key = kv.key();
    if (key != "operations" && key != "rate" && key != "burst") {
      why = path + "." + std::string(key) + ": unknown key (operations, rate, burst)";
      return false;
    }
  }
  if (const auto* ops = o.if_contains("operations")) {
    if (ops->is_string() && ops->get_string() == "*") {
      rule.all_operations = true;
    } else if (ops->is_array()) {
      rule.all_operations = false;
      std::size_t i = 0;
      for (const auto& op : ops->get_array()) {
        if (!op.is_string() || op.get_string().empty()) {
          why = path + ".operations[" + std::to_string(i) + "]: must be an operation name";
          return false;
        }
        rule.operations.emplace_back(op.get_string());
        ++i;
      }
    } else {
      why = path + ".operations: must be \"*\" or an array of operation names";
      return false;
    }
  }
  auto number = [&](const char* key, double& out) {
    const auto* n = o.if_contains(key);
    if (!n) return true;
    if (!n->is_number()) {
      why = path + "." + key + ": must be a number";
      return false;
    }
    out = n->to_number<double>();
    if (!(out > 0) || out > max_rate) {
      why = path + "." + key + ": must be > 0 and at most 10000000";
      return false;
    }
    return true;
  };
  if (!number("rate", rule.rate) || !number("burst", rule.burst)) return false;
  if (o.contains("burst") && rule.rate == 0) {
    why = path + ".burst: needs a rate";
    return false;
  }
  if (rule.burst != 0 && rule.burst < 1) {
    why = path + ".burst: must be at least 1";
    return false;
  }
  if (rule.rate > 0 && rule.burst == 0) rule.burst = std::max(1.0, std::ceil(rule.rate));
  return true;
}

}  // namespace

std::optional<client_policy_rules> parse_client_policy(std::string_view text,
                                                       std::string_view where, std::string& why) {
  const std::string prefix = std::string(where) + ": ";
  json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) {
    why = prefix + "not valid JSON: " + ec.message();
    return std::nullopt;
  }
  if (!v.is_object()) {
    why = prefix + "must be a JSON object";
    return std::nullopt;
  }
  client_policy_rules rules;
  for (const auto& kv : v.get_object()) {
    const std::string_view key = kv.key();
    if (key == "clients") {
      if (!kv.value().is_object()) {
        why = prefix + "clients: must be an object of client names";
        return std::nullopt;
      }
      for (const auto& c : kv.value().get_object()) {
        const std::string name(c.key());
        if (!valid_client_name(name)) {
          why = prefix + "clients." + name + ": a client name is 1 to 64 of A-Z a-z 0-9 . _ : @ -";
          return std::nullopt;
        }
        client_rule rule;
        std::string rwhy;
        if (!parse_rule(c.value(), "clients." + name, rule, rwhy)) {
          why = prefix + rwhy;
          return std::nullopt;
        }
        rules.clients.emplace_back(name, std::move(rule));
      }
    } else if (key == "default") {
      client_rule rule;
      std::string rwhy;
      if (!parse_rule(kv.value(), "default", rule, rwhy)) {
        why = prefix + rwhy;
        return std::nullopt;
      }
      rules.fallback = std::move(rule);
    } else {
      why = prefix + std::string(key) + ": unknown key (clients, default)";
      return std::nullopt;
    }
  }
  return rules;
}

client_policy::client_policy(client_policy_rules rules, clock_type::time_point now)
    : rules_(std::move(rules)) {
  auto add = [&](const client_rule& r) {
    auto l = std::make_unique<limiter>();
    if (r.rate > 0) l->bucket.emplace(r.rate, r.burst, now);
    limiters_.push_back(std::move(l));
  };
  for (const auto& [name, rule] : rules_.clients) add(rule);
  if (rules_.fallback) add(*rules_.fallback);
}

std::shared_ptr<client_policy> client_policy::load(const std::string& path, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = path + ": cannot be read";
    return nullptr;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  auto rules = parse_client_policy(ss.str(), path, why);
  if (!rules) return nullptr;
  return std::make_shared<client_policy>(std::move(*rules), clock_type::now());
}

policy_verdict client_policy::check(std::string_view client, std::string_view op,
                                    clock_type::time_point now) {
  const client_rule* rule = nullptr;
  std::size_t index = 0;
  if (!client.empty()) {
    for (; index < rules_.clients.size(); ++index) {
      if (rules_.clients[index].first == client) {
        rule = &rules_.clients[index].second;
        break;
      }
    }
  }
  if (!rule) {
    if (!rules_.fallback) return {policy_verdict::kind::forbidden, 0};
    rule = &*rules_.fallback;
    index = rules_.clients.size();
  }
  if (!rule->allows(op)) return {policy_verdict::kind::forbidden, 0};
  limiter& l = *limiters_[index];
  if (!l.bucket) return {};
  std::optional<std::chrono::microseconds> wait;
  {
    std::lock_guard lock(l.mutex);
    wait = l.bucket->take(now);
  }
  if (!wait) return {};
  // Retry-After is whole seconds: rounded up, so that a retry then finds a token.
  const auto seconds = (wait->count() + 999999) / 1000000;
  return {policy_verdict::kind::rate_limited, static_cast<int>(std::max<std::int64_t>(1, seconds))};
}

}  // namespace dragoman::bridge
