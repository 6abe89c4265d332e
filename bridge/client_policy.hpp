// Per-client policy (--policy FILE): which operations each client may call and at what rate
// (a token bucket per client). Parsed once into an immutable policy; the buckets are its state.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::bridge {

// calls_per_second tokens a second up to burst; one call takes one. The clock is the caller's,
// so that tests drive it.
class token_bucket {
 public:
  using clock_type = std::chrono::steady_clock;

  token_bucket(double calls_per_second, double burst, clock_type::time_point now);
  // Takes a token at `now`: nullopt when there was one, else how long until there is.
  std::optional<std::chrono::microseconds> take(clock_type::time_point now);

 private:
  double rate_;    // tokens per second
  double burst_;   // the bucket's size, and what it starts with
  double tokens_;  // what is in it at last_
  clock_type::time_point last_;
};

// What one entry of the policy allows.
struct client_rule {
  bool all_operations = true;
  std::vector<std::string> operations;  // when !all_operations
  double rate = 0;                      // calls per second; 0: no limit
  double burst = 0;                     // when rate > 0

  bool allows(std::string_view op) const noexcept;
};

// The parsed policy file: a rule per named client and the default rule for every other client
// (including anonymous ones on a door without authentication); no default: those get nothing.
struct client_policy_rules {
  std::vector<std::pair<std::string, client_rule>> clients;
  std::optional<client_rule> fallback;  // the file's "default"
};

// Parses the policy's JSON text (comments allowed):
//   {"clients": {"NAME": {"operations": ["op", ...] | "*", "rate": N, "burst": N}, ...},
//    "default": {...}}
// On a mistake returns nullopt and sets why to "WHERE: path: what".
std::optional<client_policy_rules> parse_client_policy(std::string_view text,
                                                       std::string_view where, std::string& why);

// The verdict on one call.
struct policy_verdict {
  enum class kind { allowed, forbidden, rate_limited };
  kind what = kind::allowed;
  int retry_after_seconds = 0;  // rate_limited: at least 1
};

// A policy in force: the rules and a bucket per rule (the default's bucket is shared by every
// client it covers). Thread-safe.
class client_policy {
 public:
  using clock_type = std::chrono::steady_clock;

  client_policy(client_policy_rules rules, clock_type::time_point now);
  static std::shared_ptr<client_policy> load(const std::string& path, std::string& why);

  // client is the authenticated name, or "" for an anonymous caller.
  policy_verdict check(std::string_view client, std::string_view op, clock_type::time_point now);

  const client_policy_rules& rules() const noexcept { return rules_; }

 private:
  struct limiter {
    std::mutex mutex;
    std::optional<token_bucket> bucket;
  };

  client_policy_rules rules_;
  std::vector<std::unique_ptr<limiter>> limiters_;  // one per client, then the default's
};

}  // namespace dragoman::bridge
