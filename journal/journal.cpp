#include "journal/journal.hpp"

#include <sqlite3.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <variant>

namespace dragoman::journal {

namespace {

constexpr std::string_view state_names[] = {"queued",  "sending", "delivered", "failed",
                                            "expired", "dead",    "discarded"};

struct db_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using db_ptr = std::unique_ptr<sqlite3, db_closer>;

struct stmt_finalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_finalizer>;

std::string describe(sqlite3* db, const std::string& path, std::string_view what) {
  std::string m = "journal ";
  m += path;
  m += ": ";
  m += what;
  m += ": ";
  m += db ? sqlite3_errmsg(db) : "out of memory";
  return m;
}

void exec(sqlite3* db, const std::string& path, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = "journal " + path + ": " + (err ? err : "error") + " (" + sql + ")";
    sqlite3_free(err);
    throw journal_error(m);
  }
}

stmt_ptr prepare(sqlite3* db, const std::string& path, std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &s, nullptr) != SQLITE_OK)
    throw journal_error(describe(db, path, "preparing a statement"));
  return stmt_ptr(s);
}

void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void bind_text_or_null(sqlite3_stmt* s, int i, std::string_view v) {
  if (v.empty())
    sqlite3_bind_null(s, i);
  else
    bind_text(s, i, v);
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

db_ptr open_db(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  db_ptr db(raw);
  if (rc != SQLITE_OK) throw journal_error(describe(raw, path, "cannot open"));
  sqlite3_extended_result_codes(raw, 1);
  // Readers wait for a checkpoint's brief lock rather than fail.
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

constexpr const char* schema_v1 = R"(
CREATE TABLE messages(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  direction TEXT NOT NULL CHECK (direction IN ('outbound', 'inbound')),
  operation TEXT NOT NULL,
  order_key TEXT,
  body TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL DEFAULT 0,
  control_id TEXT,
  reply TEXT,
  error TEXT,
  idempotency_key TEXT UNIQUE,
  body_hash TEXT);
CREATE INDEX messages_by_state ON messages(state, id);
CREATE TABLE session_state(name TEXT PRIMARY KEY, value TEXT NOT NULL);
PRAGMA user_version = 1;
)";

constexpr std::string_view select_columns =
    "SELECT id, direction, operation, order_key, body, state, attempts, created_ms, updated_ms, "
    "next_attempt_ms, expires_ms, control_id, reply, error, idempotency_key, body_hash "
    "FROM messages ";

message read_row(sqlite3_stmt* s) {
  message m;
  m.id = sqlite3_column_int64(s, 0);
  m.dir = column_text(s, 1) == "inbound" ? direction::inbound : direction::outbound;
  m.operation = column_text(s, 2);
  m.order_key = column_text(s, 3);
  m.body = column_text(s, 4);
  m.state = state_from_string(column_text(s, 5)).value_or(message_state::dead);
  m.attempts = sqlite3_column_int(s, 6);
  m.created_ms = sqlite3_column_int64(s, 7);
  m.updated_ms = sqlite3_column_int64(s, 8);
  m.next_attempt_ms = sqlite3_column_int64(s, 9);
  m.expires_ms = sqlite3_column_int64(s, 10);
  m.control_id = column_text(s, 11);
  m.reply = column_text(s, 12);
  m.error = column_text(s, 13);
  m.idempotency_key = column_text(s, 14);
  m.body_hash = column_text(s, 15);
  return m;
}

}  // namespace

std::string_view to_string(message_state s) noexcept {
  return state_names[static_cast<int>(s)];
}

std::optional<message_state> state_from_string(std::string_view s) noexcept {
  for (int i = 0; i < static_cast<int>(std::size(state_names)); ++i)
    if (state_names[i] == s) return static_cast<message_state>(i);
  return std::nullopt;
}

bool is_final(message_state s) noexcept {
  return s == message_state::delivered || s == message_state::failed ||
         s == message_state::expired || s == message_state::discarded;
}

struct journal::impl {
  struct change {
    std::variant<new_message, message_update> what;
    done_fn done;
  };

  options opts;
  int lock_fd = -1;
  ~impl() {
    if (lock_fd >= 0) ::close(lock_fd);
  }
  db_ptr writer_db;
  stmt_ptr insert, begin, commit, rollback;

  mutable std::mutex read_mutex;  // guards reader_db and its statements
  db_ptr reader_db;
  stmt_ptr by_id, by_key, by_state, pending, count_state;

  mutable std::mutex queue_mutex;
  std::condition_variable queue_cv;
  std::deque<change> queue;
  bool closing = false;
  journal_stats counters;  // under queue_mutex (pending is queue.size())
  std::thread writer;

  bool push(change c);  // false: full or closing
  void run();
  std::string apply(change& c, std::int64_t& id);
  std::string apply_update(const message_update& u);
};

std::unique_ptr<journal> journal::open(const options& o) {
  if (o.path.empty()) throw journal_error("journal: no path given");
  // The journal holds requests whole, sensitive fields included: only its owner may read it
  // (SQLite gives its -wal and -shm files the database file's permissions).
  // One process per journal: two would deliver the same messages. The lock (flock, apart from
  // SQLite's own fcntl locks) is held as long as the journal is open and dies with the process.
  auto p = std::make_unique<impl>();
  p->opts = o;
  p->lock_fd = ::open(o.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (p->lock_fd < 0)
    throw journal_error("journal " + o.path + ": cannot open: " + std::strerror(errno));
  if (::flock(p->lock_fd, LOCK_EX | LOCK_NB) != 0)
    throw journal_error("journal " + o.path +
                        ": in use by another process (one serve per journal)");
  p->writer_db = open_db(o.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* db = p->writer_db.get();
  // Fails on a file that is not a database ("file is not a database").
  exec(db, o.path, "PRAGMA journal_mode=WAL");
  exec(db, o.path, o.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  int version = 0;
  {
    auto s = prepare(db, o.path, "PRAGMA user_version");
    if (sqlite3_step(s.get()) == SQLITE_ROW) version = sqlite3_column_int(s.get(), 0);
  }
  if (version == 0) {
    exec(db, o.path, "BEGIN IMMEDIATE");
    exec(db, o.path, schema_v1);
    exec(db, o.path, "COMMIT");
  } else if (version > schema_version) {
    throw journal_error("journal " + o.path + ": schema version " + std::to_string(version) +
                        " is newer than this dragoman's (" + std::to_string(schema_version) +
                        "): use the dragoman that wrote it, or another path");
  }
  p->insert = prepare(db, o.path,
                      "INSERT INTO messages(direction, operation, order_key, body, state, "
                      "created_ms, updated_ms, next_attempt_ms, expires_ms, idempotency_key, "
                      "body_hash, control_id) VALUES(?,?,?,?,'queued',?,?,?,?,?,?,?)");
  p->begin = prepare(db, o.path, "BEGIN IMMEDIATE");
  p->commit = prepare(db, o.path, "COMMIT");
  p->rollback = prepare(db, o.path, "ROLLBACK");

  p->reader_db = open_db(o.path, SQLITE_OPEN_READONLY);
  sqlite3* r = p->reader_db.get();
  p->by_id = prepare(r, o.path, std::string(select_columns) + "WHERE id = ?");
  p->by_key = prepare(r, o.path, std::string(select_columns) + "WHERE idempotency_key = ?");
  p->by_state = prepare(
      r, o.path, std::string(select_columns) + "WHERE state = ? AND id > ? ORDER BY id LIMIT ?");
  p->pending = prepare(
      r, o.path, std::string(select_columns) + "WHERE state IN ('queued', 'sending') ORDER BY id");
  p->count_state = prepare(
      r, o.path, "SELECT count(*), coalesce(min(created_ms), 0) FROM messages WHERE state = ?");

  auto* raw = p.get();
  p->writer = std::thread([raw] { raw->run(); });
  return std::unique_ptr<journal>(new journal(std::move(p)));
}

journal::journal(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

journal::~journal() {
  {
    std::lock_guard lock(impl_->queue_mutex);
    impl_->closing = true;
  }
  impl_->queue_cv.notify_one();
  if (impl_->writer.joinable()) impl_->writer.join();
}

bool journal::append(new_message m, done_fn done) {
  return impl_->push({std::move(m), std::move(done)});
}

bool journal::update(message_update u, done_fn done) {
  return impl_->push({std::move(u), std::move(done)});
}

bool journal::impl::push(change c) {
  {
    std::lock_guard lock(queue_mutex);
    if (closing || queue.size() >= opts.max_pending) {
      ++counters.refused;
      return false;
    }
    queue.push_back(std::move(c));
  }
  queue_cv.notify_one();
  return true;
}

// The writer: waits for changes, then applies all those queued (up to max_batch) in one
// transaction, commits, and only then runs their callbacks. A change whose statement fails is
// answered with the error and takes no part in the commit (SQLite undoes a failed statement
// alone); if the commit itself fails, the whole batch is rolled back and every change in it is
// answered with the error.
void journal::impl::run() {
  std::vector<change> batch;
  std::vector<std::pair<std::int64_t, std::string>> results;
  for (;;) {
    {
      std::unique_lock lock(queue_mutex);
      queue_cv.wait(lock, [&] { return closing || !queue.empty(); });
      if (queue.empty()) return;  // closing, and everything committed
      std::size_t n = std::min(queue.size(), opts.max_batch);
      batch.clear();
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    }
    results.assign(batch.size(), {0, std::string()});
    std::string batch_error;
    if (sqlite3_step(begin.get()) != SQLITE_DONE)
      batch_error = describe(writer_db.get(), opts.path, "BEGIN");
    sqlite3_reset(begin.get());
    std::uint64_t appended = 0, updated = 0, failed = 0;
    if (batch_error.empty()) {
      for (std::size_t i = 0; i < batch.size(); ++i) {
        results[i].second = apply(batch[i], results[i].first);
        if (!results[i].second.empty())
          ++failed;
        else if (std::holds_alternative<new_message>(batch[i].what))
          ++appended;
        else
          ++updated;
      }
      if (sqlite3_step(commit.get()) != SQLITE_DONE) {
        batch_error = describe(writer_db.get(), opts.path, "COMMIT");
        sqlite3_reset(commit.get());
        sqlite3_step(rollback.get());
        sqlite3_reset(rollback.get());
      } else {
        sqlite3_reset(commit.get());
      }
    }
    {
      std::lock_guard lock(queue_mutex);
      if (batch_error.empty()) {
        ++counters.commits;
        counters.appends += appended;
        counters.updates += updated;
        counters.failed_statements += failed;
      } else {
        counters.failed_statements += batch.size();
      }
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i].done) continue;
      if (!batch_error.empty())
        batch[i].done(0, batch_error);
      else
        batch[i].done(results[i].first, std::move(results[i].second));
    }
  }
}

std::string journal::impl::apply(change& c, std::int64_t& id) {
  if (auto* u = std::get_if<message_update>(&c.what)) {
    id = u->id;
    return apply_update(*u);
  }
  auto& m = std::get<new_message>(c.what);
  sqlite3_stmt* s = insert.get();
  bind_text(s, 1, m.dir == direction::inbound ? "inbound" : "outbound");
  bind_text(s, 2, m.operation);
  bind_text_or_null(s, 3, m.order_key);
  bind_text(s, 4, m.body);
  sqlite3_bind_int64(s, 5, m.now_ms);
  sqlite3_bind_int64(s, 6, m.now_ms);
  sqlite3_bind_int64(s, 7, m.now_ms);
  sqlite3_bind_int64(s, 8, m.expires_ms);
  bind_text_or_null(s, 9, m.idempotency_key);
  bind_text_or_null(s, 10, m.body_hash);
  bind_text_or_null(s, 11, m.control_id);
  std::string error;
  if (sqlite3_step(s) == SQLITE_DONE)
    id = sqlite3_last_insert_rowid(writer_db.get());
  else
    error = describe(writer_db.get(), opts.path, "appending a message");
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return error;
}

// Updates are rarer than appends and set varying columns: built per call (the statement cache
// would gain little).
std::string journal::impl::apply_update(const message_update& u) {
  std::string sql = "UPDATE messages SET updated_ms = ?";
  if (u.state) sql += ", state = ?";
  if (u.attempts) sql += ", attempts = ?";
  if (u.next_attempt_ms) sql += ", next_attempt_ms = ?";
  if (u.expires_ms) sql += ", expires_ms = ?";
  if (u.control_id) sql += ", control_id = ?";
  if (u.reply) sql += ", reply = ?";
  if (u.error) sql += ", error = ?";
  sql += " WHERE id = ?";
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(writer_db.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
    return describe(writer_db.get(), opts.path, "preparing an update");
  stmt_ptr s(raw);
  int i = 1;
  sqlite3_bind_int64(raw, i++, u.now_ms);
  if (u.state) bind_text(raw, i++, to_string(*u.state));
  if (u.attempts) sqlite3_bind_int(raw, i++, *u.attempts);
  if (u.next_attempt_ms) sqlite3_bind_int64(raw, i++, *u.next_attempt_ms);
  if (u.expires_ms) sqlite3_bind_int64(raw, i++, *u.expires_ms);
  if (u.control_id) bind_text(raw, i++, *u.control_id);
  if (u.reply) bind_text(raw, i++, *u.reply);
  if (u.error) bind_text(raw, i++, *u.error);
  sqlite3_bind_int64(raw, i, u.id);
  if (sqlite3_step(raw) != SQLITE_DONE)
    return describe(writer_db.get(), opts.path, "updating a message");
  if (sqlite3_changes(writer_db.get()) == 0)
    return "journal " + opts.path + ": no message " + std::to_string(u.id);
  return {};
}

namespace {

template <class Bind>
std::vector<message> query(sqlite3_stmt* s, Bind bind) {
  bind(s);
  std::vector<message> out;
  while (sqlite3_step(s) == SQLITE_ROW) out.push_back(read_row(s));
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return out;
}

std::optional<message> first(std::vector<message> v) {
  if (v.empty()) return std::nullopt;
  return std::move(v.front());
}

}  // namespace

std::optional<message> journal::get(std::int64_t id) const {
  std::lock_guard lock(impl_->read_mutex);
  return first(query(impl_->by_id.get(), [&](sqlite3_stmt* s) { sqlite3_bind_int64(s, 1, id); }));
}

std::optional<message> journal::find_idempotency_key(std::string_view key) const {
  std::lock_guard lock(impl_->read_mutex);
  return first(query(impl_->by_key.get(), [&](sqlite3_stmt* s) { bind_text(s, 1, key); }));
}

std::vector<message> journal::list(message_state st, std::size_t limit,
                                   std::int64_t after_id) const {
  std::lock_guard lock(impl_->read_mutex);
  return query(impl_->by_state.get(), [&](sqlite3_stmt* s) {
    bind_text(s, 1, to_string(st));
    sqlite3_bind_int64(s, 2, after_id);
    sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(limit));
  });
}

std::vector<message> journal::unfinished() const {
  std::lock_guard lock(impl_->read_mutex);
  return query(impl_->pending.get(), [](sqlite3_stmt*) {});
}

std::pair<std::size_t, std::int64_t> journal::depth(message_state st) const {
  std::lock_guard lock(impl_->read_mutex);
  sqlite3_stmt* s = impl_->count_state.get();
  bind_text(s, 1, to_string(st));
  std::pair<std::size_t, std::int64_t> out{0, 0};
  if (sqlite3_step(s) == SQLITE_ROW)
    out = {static_cast<std::size_t>(sqlite3_column_int64(s, 0)), sqlite3_column_int64(s, 1)};
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return out;
}

journal_stats journal::stats() const {
  std::lock_guard lock(impl_->queue_mutex);
  journal_stats s = impl_->counters;
  s.pending = impl_->queue.size();
  return s;
}

const std::string& journal::path() const noexcept {
  return impl_->opts.path;
}

}  // namespace dragoman::journal
