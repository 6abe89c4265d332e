// Delivery of the host's own messages to the app: POST {base}/{op} with the decoded fields as
// JSON, over keep-alive connections, one request per connection at a time, within a deadline.
// The interface has no Beast in it; deliver_client.cpp is the one translation unit that has.
#pragma once

#include "bridge/upstream_options.hpp"

#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace dragoman::bridge {

struct deliver_request {
  std::string op;
  std::string body;  // JSON
  std::string request_id;
  std::string message_id;
};

struct deliver_response {
  enum class outcome {
    accepted,     // 2xx
    refused,      // another status; body holds the app's text
    timeout,      // no complete answer within the deadline
    unreachable,  // no connection, or it broke
    bad_answer,   // not HTTP, or over the body limit
  };
  outcome what = outcome::unreachable;
  unsigned status = 0;
  std::string body;
  std::string why;      // for failures: a sentence for logs and the negative reply
  bool no_app = false;  // nothing to deliver to (no subscriber, no --deliver): no latency counted
};

class deliver_client {
 public:
  virtual ~deliver_client() = default;
  // Runs on the context given at creation; done is called there, exactly once.
  virtual void post(deliver_request request, std::function<void(deliver_response)> done) = 0;
  // Closes idle connections; deliveries in flight end with their deadline or the app's answer.
  virtual void close() = 0;
};

std::shared_ptr<deliver_client> make_deliver_client(boost::asio::io_context& ctx,
                                                    const deliver_target& target);

}  // namespace dragoman::bridge
