// /admin/messages: the journal's messages for operators (docs/journal.md, "Dead letters"). A
// listing filtered by state, operation, order key and direction, paged by a cursor; one message
// with its attempts, last problem, request and reply (sensitive fields masked as in traces); a
// retry (dead, failed or expired → queued, attempts from zero, a new time to live) and a discard
// (dead → discarded, kept for audit). No Asio: the engine that owns the delivery queue is told of
// a retry or discard through the callbacks, which run on the journal's writer thread once the
// change is durable, in commit order.
#pragma once

#include "bridge/call.hpp"
#include "journal/journal.hpp"
#include "journal/journal_admin.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

namespace dragoman::bridge {

class message_admin {
 public:
  static constexpr std::size_t default_page = 50;
  static constexpr std::size_t max_page = 500;

  // The message as now stored (state queued, attempts 0, its new expiry): back into its queue.
  using requeue_fn = std::function<void(const journal::message& m)>;
  // A discarded message: out of its queue (a waiting queue goes on).
  using forget_fn = std::function<void(std::int64_t id)>;
  using profile_fn = std::function<std::shared_ptr<const codecs::profile>()>;

  message_admin(journal::journal& j, profile_fn profile, requeue_fn requeue, forget_fn forget);

  // rest: the path after "/admin/messages". now_ms: the wall clock (tests pass their own).
  message_answer handle(std::string_view method, std::string_view rest, std::string_view query,
                        std::int64_t now_ms);

  // A message as /admin/messages/{id} shows it, sensitive values masked by the profile.
  static boost::json::object describe(const journal::message& m, const codecs::profile* p,
                                      bool full);

 private:
  message_answer list(std::string_view query);
  message_answer change(std::int64_t id, std::string_view action, std::int64_t now_ms);

  journal::journal& journal_;
  journal::journal_reader reader_;
  profile_fn profile_;
  requeue_fn requeue_;
  forget_fn forget_;
  std::mutex mutex_;  // one retry or discard at a time: the state checked is the state changed
};

}  // namespace dragoman::bridge
