// Operator queries over the journal (the /admin/messages listing): a connection of its own, read
// only in use, that pages through messages by state, operation, order key and direction. It never
// waits behind the journal's writer (WAL readers see the last commit) nor behind its reads.
#pragma once

#include "journal/journal.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace dragoman::journal {

struct message_filter {
  std::optional<message_state> state;
  std::optional<direction> dir;
  std::string operation;                 // empty: any
  std::optional<std::string> order_key;  // nullopt: any
  std::int64_t after_id = 0;             // ids above this (the cursor of the previous page)
  std::size_t limit = 50;
};

class journal_reader {
 public:
  // Opens lazily on first use (the journal itself must have created the database). Throws
  // journal_error when the database cannot be opened or a query fails.
  explicit journal_reader(std::string path);
  ~journal_reader();
  journal_reader(const journal_reader&) = delete;
  journal_reader& operator=(const journal_reader&) = delete;

  // The messages that match, in id order, at most filter.limit.
  std::vector<message> list(const message_filter& f) const;

 private:
  struct impl;
  std::string path_;
  mutable std::mutex mutex_;
  mutable std::unique_ptr<impl> impl_;
};

}  // namespace dragoman::journal
