#include "journal/journal_admin.hpp"

#include <sqlite3.h>

namespace dragoman::journal {

namespace {

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

}  // namespace

struct journal_reader::impl {
  sqlite3* db = nullptr;
  ~impl() { sqlite3_close_v2(db); }
};

journal_reader::journal_reader(std::string path) : path_(std::move(path)) {}
journal_reader::~journal_reader() = default;

std::vector<message> journal_reader::list(const message_filter& f) const {
  std::lock_guard lock(mutex_);
  if (!impl_) {
    auto p = std::make_unique<impl>();
    // Read-write open (a WAL reader may need to create the shared-memory index), never written.
    if (sqlite3_open_v2(path_.c_str(), &p->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK)
      throw journal_error("journal " + path_ + ": cannot open for queries: " +
                          (p->db ? sqlite3_errmsg(p->db) : "out of memory"));
    sqlite3_busy_timeout(p->db, 5000);
    impl_ = std::move(p);
  }
  std::string sql =
      "SELECT id, direction, operation, order_key, state, attempts, created_ms, updated_ms, "
      "next_attempt_ms, expires_ms, control_id, error FROM messages WHERE id > ?";
  if (f.state) sql += " AND state = ?";
  if (f.dir) sql += " AND direction = ?";
  if (!f.operation.empty()) sql += " AND operation = ?";
  if (f.order_key) sql += " AND coalesce(order_key, '') = ?";
  sql += " ORDER BY id LIMIT ?";
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(impl_->db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
    throw journal_error("journal " + path_ + ": " + sqlite3_errmsg(impl_->db));
  int i = 1;
  sqlite3_bind_int64(s, i++, f.after_id);
  if (f.state) bind_text(s, i++, to_string(*f.state));
  if (f.dir) bind_text(s, i++, *f.dir == direction::inbound ? "inbound" : "outbound");
  if (!f.operation.empty()) bind_text(s, i++, f.operation);
  if (f.order_key) bind_text(s, i++, *f.order_key);
  sqlite3_bind_int64(s, i, static_cast<sqlite3_int64>(f.limit));
  std::vector<message> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    message m;
    m.id = sqlite3_column_int64(s, 0);
    m.dir = column_text(s, 1) == "inbound" ? direction::inbound : direction::outbound;
    m.operation = column_text(s, 2);
    m.order_key = column_text(s, 3);
    m.state = state_from_string(column_text(s, 4)).value_or(message_state::dead);
    m.attempts = sqlite3_column_int(s, 5);
    m.created_ms = sqlite3_column_int64(s, 6);
    m.updated_ms = sqlite3_column_int64(s, 7);
    m.next_attempt_ms = sqlite3_column_int64(s, 8);
    m.expires_ms = sqlite3_column_int64(s, 9);
    m.control_id = column_text(s, 10);
    m.error = column_text(s, 11);
    out.push_back(std::move(m));
  }
  std::string err = rc == SQLITE_DONE ? "" : sqlite3_errmsg(impl_->db);
  sqlite3_finalize(s);
  if (!err.empty()) throw journal_error("journal " + path_ + ": " + err);
  return out;
}

}  // namespace dragoman::journal
