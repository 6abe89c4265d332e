// The journal: accepted messages kept in SQLite (WAL) so that none is lost between its acceptance
// and its final state, across crashes and restarts. One writer thread owns the database's writes
// and commits whatever has queued up since its last commit in one transaction (group commit: many
// messages, one fsync); a change's callback runs only after the transaction that holds it is
// durable. Reads (a message's state for GET /v1/messages/{id}, the admin listing) use a second
// connection of their own and never wait behind the writer (WAL readers see the last commit).
// No Asio here: callbacks run on the writer thread, and callers post them to their own executors.
// Time is always passed in (milliseconds since the epoch), so tests drive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::journal {

// A message's life: queued → sending → delivered | failed (a final answer that is not a success)
// | back to queued (a retryable failure, with next_attempt_ms) | dead (out of attempts, or moved
// aside); expired: its time to live passed before it was sent; discarded: an operator gave it up
// (POST /admin/messages/{id}/discard), kept for audit.
enum class message_state { queued, sending, delivered, failed, expired, dead, discarded };
std::string_view to_string(message_state s) noexcept;
std::optional<message_state> state_from_string(std::string_view s) noexcept;
// delivered, failed, expired, discarded: nothing more will happen to the message. dead: until an
// operator retries or discards it.
bool is_final(message_state s) noexcept;

enum class direction { outbound, inbound };  // app → host, host → app

struct new_message {
  direction dir = direction::outbound;
  std::string operation;
  std::string order_key;  // messages with the same non-empty key are delivered in order
  std::string body;       // the request's fields, JSON text
  std::int64_t now_ms = 0;
  std::int64_t expires_ms = 0;  // 0: never
  std::string idempotency_key;  // empty: none; else unique across the journal
  std::string body_hash;        // of the request, to tell a reused idempotency key
  std::string control_id;       // the wire's control id (STAN, MSH-10) when known at acceptance
};

struct message {
  std::int64_t id = 0;
  direction dir = direction::outbound;
  std::string operation;
  std::string order_key;
  std::string body;
  message_state state = message_state::queued;
  int attempts = 0;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::int64_t next_attempt_ms = 0;
  std::int64_t expires_ms = 0;
  std::string control_id;
  std::string reply;  // JSON text: the host's reply (delivered, failed)
  std::string error;  // JSON text: the last problem (failed attempts, dead, expired)
  std::string idempotency_key;
  std::string body_hash;
};

// A change to a message already in the journal. Only the fields that are set are written.
struct message_update {
  std::int64_t id = 0;
  std::int64_t now_ms = 0;
  std::optional<message_state> state;
  std::optional<int> attempts;
  std::optional<std::int64_t> next_attempt_ms;
  std::optional<std::int64_t> expires_ms;
  std::optional<std::string> control_id;
  std::optional<std::string> reply;
  std::optional<std::string> error;
};

struct options {
  std::string path;
  // FULL: a commit is on disk when it returns (WAL fsynced each commit). NORMAL: WAL fsynced only
  // at checkpoints: a power loss may lose the last commits, a process crash loses nothing.
  bool synchronous_full = true;
  std::size_t max_pending = 10000;  // changes queued for the writer; more are refused
  std::size_t max_batch = 1024;     // changes in one transaction at most
};

// An open error or a failed statement, with the path and SQLite's own message.
class journal_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Counters for metrics: changes_committed / commits is the number of changes per fsync.
struct journal_stats {
  std::uint64_t appends = 0;            // messages accepted into the journal
  std::uint64_t updates = 0;            // state changes committed
  std::uint64_t commits = 0;            // transactions (each one fsync of the WAL when FULL)
  std::uint64_t refused = 0;            // changes refused: the writer's queue was full
  std::uint64_t failed_statements = 0;  // changes whose statement failed (their callback says)
  std::size_t pending = 0;              // changes queued now
};

class journal {
 public:
  static constexpr int schema_version = 1;
  // Called on the writer thread once the change is durable (error empty, id the message's), or
  // once it failed (error says why; nothing was written).
  using done_fn = std::function<void(std::int64_t id, std::string error)>;

  // Opens (creating if need be) the database at o.path and starts the writer. Throws
  // journal_error: unwritable path, not a database, a schema newer than this build's.
  static std::unique_ptr<journal> open(const options& o);
  ~journal();  // commits what is queued, then stops the writer
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  // Queue a change for the next commit. False (done never runs) when max_pending changes are
  // already queued or the journal is closing.
  bool append(new_message m, done_fn done);
  bool update(message_update u, done_fn done);

  // Reads (a connection of their own, serialized among themselves; they see the last commit).
  std::optional<message> get(std::int64_t id) const;
  std::optional<message> find_idempotency_key(std::string_view key) const;
  // Messages in a state, oldest first, at most limit, ids above after_id (for paging).
  std::vector<message> list(message_state s, std::size_t limit, std::int64_t after_id = 0) const;
  // Every message that is not final nor dead, oldest first: what a restart must deliver.
  // Messages found in `sending` were in flight at a crash: they come back as they are (their
  // control_id kept) for the caller to resend.
  std::vector<message> unfinished() const;
  // Count and oldest created_ms of the messages in a state (0 when none).
  std::pair<std::size_t, std::int64_t> depth(message_state s) const;

  journal_stats stats() const;
  const std::string& path() const noexcept;

  struct impl;

 private:
  explicit journal(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace dragoman::journal
