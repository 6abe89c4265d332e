// The journal on a real SQLite file in a temporary directory: durability across reopen, group
// commit, the bounded queue, idempotency keys, schema versions and precise open errors.
#define BOOST_TEST_MODULE journal
#include <boost/test/unit_test.hpp>

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "journal/journal.hpp"

namespace fs = std::filesystem;
using namespace dragoman::journal;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() /
           ("dragoman-journal-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const char* name) const { return (path / name).string(); }
};

new_message msg(std::string op, std::string key, std::string body, std::int64_t now = 1000) {
  new_message m;
  m.operation = std::move(op);
  m.order_key = std::move(key);
  m.body = std::move(body);
  m.now_ms = now;
  return m;
}

// Appends and waits for the durable id (or the error).
std::pair<std::int64_t, std::string> append_wait(journal& j, new_message m) {
  std::promise<std::pair<std::int64_t, std::string>> p;
  auto f = p.get_future();  // before the writer may set it
  BOOST_REQUIRE(j.append(std::move(m), [&](std::int64_t id, std::string e) {
    p.set_value({id, std::move(e)});
  }));
  BOOST_REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  return f.get();
}

std::string update_wait(journal& j, message_update u) {
  std::promise<std::string> p;
  auto f = p.get_future();
  BOOST_REQUIRE(j.update(std::move(u), [&](std::int64_t, std::string e) { p.set_value(e); }));
  BOOST_REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  return f.get();
}

// Holds the writer inside the callback of one change until released: whatever is queued
// meanwhile is committed together afterwards.
// Declare it before the journal, so that it outlives the writer.
struct writer_gate {
  std::promise<void> entered, release;
  std::future<void> entered_future{entered.get_future()};
  std::shared_future<void> released{release.get_future().share()};
  journal::done_fn hold() {
    return [this](std::int64_t, std::string) {
      entered.set_value();
      released.wait();
    };
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(an_appended_message_survives_a_reopen_with_every_field) {
  temp_dir d;
  std::int64_t id = 0;
  {
    auto j = journal::open({d.file("j.db")});
    auto m = msg("purchase", "T1", R"({"amount":"10.00"})", 1234);
    m.expires_ms = 9999;
    m.idempotency_key = "k-1";
    m.body_hash = "h";
    m.control_id = "000001";
    auto [got, error] = append_wait(*j, std::move(m));
    BOOST_TEST(error == "");
    BOOST_TEST(got > 0);
    id = got;
  }
  auto j = journal::open({d.file("j.db")});
  auto m = j->get(id);
  BOOST_REQUIRE(m);
  BOOST_TEST(m->operation == "purchase");
  BOOST_TEST(m->order_key == "T1");
  BOOST_TEST(m->body == R"({"amount":"10.00"})");
  BOOST_TEST(to_string(m->state) == "queued");
  BOOST_TEST(m->created_ms == 1234);
  BOOST_TEST(m->next_attempt_ms == 1234);
  BOOST_TEST(m->expires_ms == 9999);
  BOOST_TEST(m->idempotency_key == "k-1");
  BOOST_TEST(m->control_id == "000001");
  BOOST_TEST(m->attempts == 0);
  BOOST_TEST(!j->get(id + 1));
}

BOOST_AUTO_TEST_CASE(messages_in_flight_at_a_close_come_back_as_unfinished_with_their_control_id) {
  temp_dir d;
  std::int64_t a = 0, b = 0, c = 0;
  {
    auto j = journal::open({d.file("j.db")});
    a = append_wait(*j, msg("admit", "P1", "{}")).first;
    b = append_wait(*j, msg("admit", "P1", "{}")).first;
    c = append_wait(*j, msg("admit", "P2", "{}")).first;
    message_update sending;
    sending.id = a;
    sending.now_ms = 2000;
    sending.state = message_state::sending;
    sending.attempts = 1;
    sending.control_id = "MSG0001";
    BOOST_TEST(update_wait(*j, sending) == "");
    message_update done;
    done.id = c;
    done.now_ms = 2001;
    done.state = message_state::delivered;
    done.reply = R"({"ack_code":"AA"})";
    BOOST_TEST(update_wait(*j, done) == "");
  }
  auto j = journal::open({d.file("j.db")});
  auto left = j->unfinished();
  BOOST_REQUIRE(left.size() == 2u);
  BOOST_TEST(left[0].id == a);  // oldest first: the order per key is the order of ids
  BOOST_TEST(to_string(left[0].state) == "sending");
  BOOST_TEST(left[0].control_id == "MSG0001");
  BOOST_TEST(left[0].attempts == 1);
  BOOST_TEST(left[1].id == b);
  auto delivered = j->get(c);
  BOOST_REQUIRE(delivered);
  BOOST_TEST(delivered->reply == R"({"ack_code":"AA"})");
  BOOST_TEST(delivered->updated_ms == 2001);
  BOOST_TEST(is_final(delivered->state));
}

BOOST_AUTO_TEST_CASE(changes_queued_while_the_writer_is_busy_share_one_commit) {
  temp_dir d;
  writer_gate gate;
  auto j = journal::open({d.file("j.db")});
  BOOST_REQUIRE(j->append(msg("op", "", "{}"), gate.hold()));
  gate.entered_future.wait();  // the first commit is done; the writer is held
  auto before = j->stats();
  BOOST_TEST(before.commits == 1u);
  // Callbacks run on the writer thread: they only record (Boost.Test checks stay on this one).
  std::mutex m;
  std::vector<std::int64_t> ids;
  std::vector<std::string> errors;
  std::promise<void> all;
  auto all_done = all.get_future();
  const std::size_t n = 200;
  for (std::size_t i = 0; i < n; ++i)
    BOOST_REQUIRE(j->append(msg("op", "", "{}"), [&](std::int64_t id, std::string e) {
      std::lock_guard l(m);
      ids.push_back(id);
      if (!e.empty()) errors.push_back(std::move(e));
      if (ids.size() == n) all.set_value();
    }));
  BOOST_TEST(j->stats().pending == n);
  gate.release.set_value();
  BOOST_REQUIRE(all_done.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  std::lock_guard l(m);
  BOOST_TEST(errors.empty());
  auto after = j->stats();
  BOOST_TEST(after.commits == 2u);  // 200 messages, one transaction, one fsync
  BOOST_TEST(after.appends == n + 1);
  BOOST_TEST(j->depth(message_state::queued).first == n + 1);
  // Callbacks ran in the order of the appends, with increasing ids.
  for (std::size_t i = 1; i < ids.size(); ++i) BOOST_TEST(ids[i] == ids[i - 1] + 1);
}

BOOST_AUTO_TEST_CASE(a_full_queue_refuses_and_counts_the_refusal) {
  temp_dir d;
  options o{d.file("j.db")};
  o.max_pending = 3;
  writer_gate gate;
  auto j = journal::open(o);
  BOOST_REQUIRE(j->append(msg("op", "", "{}"), gate.hold()));
  gate.entered_future.wait();
  for (int i = 0; i < 3; ++i) BOOST_TEST(j->append(msg("op", "", "{}"), nullptr));
  BOOST_TEST(!j->append(msg("op", "", "{}"), nullptr));
  message_update u;
  u.id = 1;
  u.state = message_state::sending;
  BOOST_TEST(!j->update(u, nullptr));
  BOOST_TEST(j->stats().refused == 2u);
  gate.release.set_value();
}

BOOST_AUTO_TEST_CASE(an_idempotency_key_is_unique_and_found) {
  temp_dir d;
  auto j = journal::open({d.file("j.db")});
  auto first = msg("purchase", "", R"({"a":1})");
  first.idempotency_key = "order-7";
  first.body_hash = "h1";
  auto [id, e1] = append_wait(*j, first);
  BOOST_TEST(e1 == "");
  auto again = msg("purchase", "", R"({"a":2})");
  again.idempotency_key = "order-7";
  auto [id2, e2] = append_wait(*j, again);
  BOOST_TEST(id2 == 0);
  BOOST_TEST(e2.find("UNIQUE constraint failed: messages.idempotency_key") != std::string::npos);
  auto found = j->find_idempotency_key("order-7");
  BOOST_REQUIRE(found);
  BOOST_TEST(found->id == id);
  BOOST_TEST(found->body_hash == "h1");
  BOOST_TEST(!j->find_idempotency_key("order-8"));
  BOOST_TEST(j->stats().failed_statements == 1u);
}

BOOST_AUTO_TEST_CASE(an_update_of_an_unknown_message_says_so) {
  temp_dir d;
  auto j = journal::open({d.file("j.db")});
  message_update u;
  u.id = 42;
  u.state = message_state::dead;
  BOOST_TEST(update_wait(*j, u) == "journal " + d.file("j.db") + ": no message 42");
}

BOOST_AUTO_TEST_CASE(list_pages_through_a_state_oldest_first) {
  temp_dir d;
  auto j = journal::open({d.file("j.db")});
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(append_wait(*j, msg("op", "", "{}", 100 + i)).first);
  for (int i : {1, 3, 4}) {
    message_update u;
    u.id = ids[i];
    u.state = message_state::dead;
    u.error = R"({"code":"upstream_rejected"})";
    BOOST_TEST(update_wait(*j, u) == "");
  }
  auto page1 = j->list(message_state::dead, 2);
  BOOST_REQUIRE(page1.size() == 2u);
  BOOST_TEST(page1[0].id == ids[1]);
  BOOST_TEST(page1[1].id == ids[3]);
  auto page2 = j->list(message_state::dead, 2, page1.back().id);
  BOOST_REQUIRE(page2.size() == 1u);
  BOOST_TEST(page2[0].id == ids[4]);
  BOOST_TEST(page2[0].error == R"({"code":"upstream_rejected"})");
  auto [count, oldest] = j->depth(message_state::dead);
  BOOST_TEST(count == 3u);
  BOOST_TEST(oldest == 101);
  BOOST_TEST(j->depth(message_state::delivered).first == 0u);
}

BOOST_AUTO_TEST_CASE(opening_what_is_not_a_journal_fails_with_the_path_and_the_reason) {
  temp_dir d;
  {
    std::ofstream f(d.file("text.db"));
    f << "this is not a database, it is a text file of some length to be sure\n";
  }
  try {
    journal::open({d.file("text.db")});
    BOOST_FAIL("opened a text file");
  } catch (const journal_error& e) {
    BOOST_TEST(std::string(e.what()).find(d.file("text.db")) != std::string::npos);
    BOOST_TEST(std::string(e.what()).find("not a database") != std::string::npos);
  }
  BOOST_CHECK_THROW(journal::open({d.file("missing-dir/j.db")}), journal_error);
  BOOST_CHECK_THROW(journal::open({""}), journal_error);
}

BOOST_AUTO_TEST_CASE(a_schema_newer_than_this_build_is_refused) {
  temp_dir d;
  {
    sqlite3* db = nullptr;
    BOOST_REQUIRE(sqlite3_open(d.file("new.db").c_str(), &db) == SQLITE_OK);
    BOOST_REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 7", nullptr, nullptr, nullptr) ==
                  SQLITE_OK);
    sqlite3_close(db);
  }
  try {
    journal::open({d.file("new.db")});
    BOOST_FAIL("opened a newer schema");
  } catch (const journal_error& e) {
    BOOST_TEST(std::string(e.what()).find("schema version 7 is newer") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(closing_commits_what_is_queued) {
  temp_dir d;
  {
    auto j = journal::open({d.file("j.db")});
    for (int i = 0; i < 50; ++i) BOOST_REQUIRE(j->append(msg("op", "K", "{}"), nullptr));
  }
  auto j = journal::open({d.file("j.db")});
  BOOST_TEST(j->unfinished().size() == 50u);
}

BOOST_AUTO_TEST_CASE(a_journal_open_in_one_place_is_refused_in_another) {
  temp_dir d;
  auto j = journal::open({d.file("j.db")});
  try {
    journal::open({d.file("j.db")});
    BOOST_FAIL("opened twice");
  } catch (const journal_error& e) {
    BOOST_TEST(std::string(e.what()).find("in use by another process") != std::string::npos);
  }
  j.reset();
  BOOST_CHECK_NO_THROW(journal::open({d.file("j.db")}));
}
