// The admin and metrics endpoints (GET /metrics, /admin/profile, /admin/upstreams,
// /admin/openapi.json), without Beast:
// the HTTP door asks handle() and writes what it returns.
#pragma once

#include "bridge/call.hpp"
#include "bridge/metrics.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::bridge {

struct admin_answer {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. WWW-Authenticate, Allow
};

// Shared by the doors that serve admin paths; every member is thread-safe.
class admin {
 public:
  admin(call_engine& engine, metrics& m, std::shared_ptr<const codecs::profile> profile,
        std::string token);

  // The profile /admin/profile shows (swapped on reload).
  void set_profile(std::shared_ptr<const codecs::profile> p);
  std::shared_ptr<const codecs::profile> profile() const;

  // More families for /metrics (door counters, reloads ...), written after the built-in ones.
  void add_metrics_source(std::function<void(prom_writer&)> source);

  // True for the paths handle() answers: /metrics and /admin/...
  static bool is_admin_path(std::string_view path) noexcept;
  // The answer for an admin path (GET only but for /admin/messages/{id}/retry and /discard; 405
  // otherwise; 401 without the token when one is set; 404 for an unknown /admin/ path). method is
  // "GET", "POST", ...; authorization is the Authorization header's value ("" when absent); query
  // the target's part after '?' (/admin/messages takes filters).
  admin_answer handle(std::string_view method, std::string_view path,
                      std::string_view authorization, std::string_view query = {}) const;

  std::string metrics_text() const;
  boost::json::object profile_json() const;
  boost::json::object upstreams_json() const;

 private:
  call_engine& engine_;
  metrics& metrics_;
  const std::string token_;
  mutable std::mutex mutex_;  // admin requests only, never the data path
  std::shared_ptr<const codecs::profile> profile_;
  std::vector<std::function<void(prom_writer&)>> sources_;
};

// Masks, in place, anything in admin output that belongs to a sensitive field: the values
// ("value", "default", "example", ...) of every object marked "sensitive": true.
void mask_sensitive_json(boost::json::value& v);

// Constant-time check of "Bearer TOKEN" (scheme case-insensitive).
bool bearer_matches(std::string_view authorization, std::string_view token) noexcept;

// Throws std::runtime_error with one clear line when admin endpoints would listen on a
// non-loopback address without a token. flag names where the address came from ("--admin").
void check_admin_exposure(std::string_view flag, const boost::asio::ip::tcp::endpoint& where,
                          std::string_view token);

}  // namespace dragoman::bridge
