// Who may call through the front doors: client authentication (bearer tokens, the client
// certificate's identity) and the per-client policy, shared by the HTTP and line doors, with
// their refusals counted under bounded client labels. Nothing here does I/O on the data path.
#pragma once

#include "bridge/call.hpp"
#include "bridge/client_policy.hpp"
#include "bridge/door_tokens.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace dragoman::bridge {

class prom_writer;

// Distinct client names given their own metrics label; the rest share "other".
constexpr std::size_t max_client_labels = 32;

// The label a client's series carry: its name for the first max_client_labels names seen,
// "other" after, "anonymous" for no name. Thread-safe.
class client_labels {
 public:
  static constexpr std::size_t anonymous = max_client_labels;
  static constexpr std::size_t other = max_client_labels + 1;
  static constexpr std::size_t slots = max_client_labels + 2;

  std::size_t slot(std::string_view client);
  std::string name(std::size_t slot) const;

 private:
  mutable std::mutex mutex_;
  std::array<std::string, max_client_labels> names_;
  std::size_t used_ = 0;
};

class door_guard {
 public:
  using clock_type = std::chrono::steady_clock;

  // tokens: null when the doors take no tokens; policy: null when every client may call
  // everything. client_certificates: the doors verify client certificates (--door-client-ca).
  door_guard(std::shared_ptr<const door_tokens> tokens, std::shared_ptr<client_policy> policy,
             bool client_certificates);

  bool takes_tokens() const { return tokens_.load(std::memory_order_acquire) != nullptr; }
  bool client_certificates() const noexcept { return client_certificates_; }

  // An HTTP request's client: the token's name when Authorization carries a known token, else
  // the certificate's identity (cert_client, "" without one). With tokens configured, a request
  // with neither, or with an Authorization that carries no known token, is unauthenticated (the
  // returned result); without tokens the header is not looked at.
  std::optional<call_result> authenticate_http(std::string_view authorization,
                                               std::string_view cert_client, std::string& client);
  // A line's {"auth":"TOKEN"}: the token's client, or the unauthenticated result.
  std::optional<call_result> authenticate_token(std::string_view token, std::string& client);
  // The line door's calls before authentication, when the door takes tokens.
  call_result unauthenticated_line();

  // The policy's verdict on a call by this client ("" anonymous): nullopt to go ahead, else the
  // forbidden or rate_limited result (with Retry-After). Counted either way.
  std::optional<call_result> admit(std::string_view client, std::string_view op) {
    return admit(client, op, clock_type::now());
  }
  std::optional<call_result> admit(std::string_view client, std::string_view op,
                                   clock_type::time_point now);

  // SIGHUP: the token or policy file read again (the caller keeps what is in force when it fails).
  void set_tokens(std::shared_ptr<const door_tokens> t) {
    tokens_.store(std::move(t), std::memory_order_release);
  }
  void set_policy(std::shared_ptr<client_policy> p) {
    policy_.store(std::move(p), std::memory_order_release);
  }

  void write_metrics(prom_writer& w) const;

 private:
  enum class outcome : std::size_t { allowed, unauthenticated, forbidden, rate_limited, count };
  void count(std::size_t slot, outcome o) {
    counts_[slot][static_cast<std::size_t>(o)].fetch_add(1, std::memory_order_relaxed);
  }
  std::optional<call_result> refuse_unauthenticated(std::string message);

  std::atomic<std::shared_ptr<const door_tokens>> tokens_;
  std::atomic<std::shared_ptr<client_policy>> policy_;
  const bool client_certificates_;
  mutable client_labels labels_;
  std::array<std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(outcome::count)>,
             client_labels::slots>
      counts_{};
};

}  // namespace dragoman::bridge
