// Asynchronous calls through the journal: an engine in front of the call engine that accepts a
// call the app wants answered once it is durable (Prefer: respond-async), answers 202 with the
// message's location when the journal has committed it, then delivers it by the operation's
// "delivery" policy (order per key, attempts, backoff, time to live) and keeps its outcome for
// GET /v1/messages/{id}. Every other call goes straight to the engine behind: the synchronous
// hot path does not touch the journal. Messages left unfinished by a stop or a crash are sent
// again at start, with the control ids they were given when accepted (docs/journal.md).
#pragma once

#include "bridge/call.hpp"
#include "journal/journal.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace dragoman::bridge {

class prom_writer;
// The journal's families (dragoman_journal_*) from an engine's stats(); nothing without a journal.
void render_journal_stats(prom_writer& w, const boost::json::object& stats);

// Takes over `inner` and `journal`; delivery runs on `executor` (one strand). start() loads what
// the journal holds unfinished and begins delivering it. At most `max_unfinished` messages are
// accepted and not yet finished (each is held in memory until then); more are answered overloaded.
class journaled_engine;
std::unique_ptr<call_engine> make_journaled_engine(std::unique_ptr<call_engine> inner,
                                                   std::unique_ptr<journal::journal> journal,
                                                   std::shared_ptr<const codecs::profile> profile,
                                                   boost::asio::any_io_executor executor,
                                                   std::size_t max_unfinished);

}  // namespace dragoman::bridge
