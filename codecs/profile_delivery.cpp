// An operation's "delivery": order, attempts, backoff, time to live and retryable codes of its
// asynchronous calls through the journal (docs/journal.md).
#include "codecs/config.hpp"
#include "codecs/profile.hpp"

#include <algorithm>
#include <array>

namespace dragoman::codecs {

namespace json = boost::json;

namespace {

// The codes a profile may name in retry_on: those whose call may be worth sending again. The
// codes that need a changed request (invalid_field, bad_request, ...) are not.
constexpr std::array<std::string_view, 6> retryable_codes = {
    "upstream_unavailable",    "overloaded", "rate_limited", "upstream_timeout",
    "upstream_protocol_error", "rejected"};

}  // namespace

void compile_delivery(config_object& o, operation& op, diagnostics& diag) {
  const json::object* d = o.get_object("delivery");
  if (!d) return;
  config_object c(*d, o.child_path("delivery"), diag);
  delivery_spec& s = op.delivery;
  const std::string order = c.get_enum("order", {"parallel", "per_key", "global"}, "parallel");
  s.order = order == "per_key"  ? delivery_spec::ordering::per_key
            : order == "global" ? delivery_spec::ordering::global
                                : delivery_spec::ordering::parallel;
  s.key = c.get_string("key");
  if (s.order == delivery_spec::ordering::per_key) {
    const request_name* n = s.key.empty() ? nullptr : op.request.find_request_name(s.key);
    if (!n || n->object) {
      const std::string known = op.request.listed_request_names();
      diag.error(c.child_path("key"),
                 s.key.empty()
                     ? std::string("per_key order needs the request field of the key")
                     : "no request field named \"" + s.key + "\"" +
                           (known.empty() ? std::string() : " (the request has " + known + ")"));
    } else {
      s.key_field = n->field;
    }
  } else if (!s.key.empty()) {
    diag.error(c.child_path("key"), "only per_key order takes a key");
  }
  s.max_attempts_given = c.has("max_attempts");
  s.max_attempts = static_cast<int>(c.get_int("max_attempts", 5, 1, 1000));
  s.backoff_min = std::chrono::milliseconds(c.get_int("backoff_min_ms", 500, 1, 86400000));
  s.backoff_max = std::chrono::milliseconds(c.get_int("backoff_max_ms", 60000, 1, 86400000));
  if (s.backoff_max < s.backoff_min)
    diag.error(c.child_path("backoff_max_ms"), "must not be below backoff_min_ms");
  s.ttl = std::chrono::milliseconds(c.get_int("ttl_ms", 0, 0, 366LL * 86400000));
  s.dead_blocks_queue = c.get_enum("on_dead", {"move_aside", "wait"}, "move_aside") == "wait";
  if (const json::array* codes = c.get_array("retry_on")) {
    for (std::size_t i = 0; i < codes->size(); ++i) {
      const auto& v = (*codes)[i];
      const std::string at = c.child_path("retry_on") + "[" + std::to_string(i) + "]";
      if (!v.is_string() || std::find(retryable_codes.begin(), retryable_codes.end(),
                                      std::string_view(v.get_string())) == retryable_codes.end()) {
        std::string names;
        for (auto n : retryable_codes) names += (names.empty() ? "" : ", ") + std::string(n);
        diag.error(at, "must be one of " + names);
        continue;
      }
      s.retry_on.emplace_back(v.get_string());
    }
  }
  c.finish();
}

}  // namespace dragoman::codecs
