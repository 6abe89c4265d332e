// Inbound messages through the journal (serve --journal): a message the host starts is stored
// before the host is answered, so the acknowledgement means it is durable; it is then delivered
// to the app (line subscribers, then --deliver) on its own schedule, sent again until the app
// accepts it (the inbound operation's "delivery": attempts and backoff), across restarts, always
// with the same X-Dragoman-Message-Id. At least once: the app may see a message twice (a crash
// after its 2xx and before the outcome is written), never zero times.
#pragma once

#include "bridge/deliver_client.hpp"
#include "journal/journal.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace dragoman::codecs {
struct profile;
}

namespace dragoman::bridge {

class line_subscriptions;

// What an upstream connection hands an inbound message to when there is a journal.
class inbound_store {
 public:
  virtual ~inbound_store() = default;
  // Stores the message; done(empty) once it is durable, done(why) when it was not stored. done
  // runs on another thread: the caller posts it to its own context.
  virtual void keep(deliver_request r, std::function<void(std::string)> done) = 0;
  // Loads what the journal holds undelivered and starts delivering.
  virtual void start() = 0;
  // No new deliveries; what is left stays in the journal for the next start.
  virtual void stop() = 0;
  virtual void reload(std::shared_ptr<const codecs::profile> profile) = 0;
  virtual boost::json::object stats() const = 0;
};

// Set once the journal is open (the engine's options are made before): connections look here.
struct inbound_store_slot {
  std::atomic<std::shared_ptr<inbound_store>> store;
};

// The journal must outlive every delivery: stop() before the journal closes.
std::shared_ptr<inbound_store> make_journaled_inbound(journal::journal& j,
                                                      boost::asio::io_context& ctx,
                                                      const deliver_target& target,
                                                      std::shared_ptr<line_subscriptions> subs,
                                                      std::shared_ptr<const codecs::profile> p);

}  // namespace dragoman::bridge
