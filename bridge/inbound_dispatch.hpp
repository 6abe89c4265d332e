// Where the host's messages go: to the line-door subscribers of their operation first, then to the
// app over HTTP (--deliver), else nowhere (the profile's negative reply). The one deliver_client an
// upstream connection delivers through; done is called on its context, exactly once.
#pragma once

#include "bridge/deliver_client.hpp"

#include <memory>

namespace boost::asio {
class io_context;
}

namespace dragoman::bridge {

class line_subscriptions;

// subs may be null (no line door); target.host empty: no --deliver. A message the subscribers
// cannot keep (none of its operation, or the one holding it left and no other remains) goes on to
// --deliver, or gets the "no app" failure; target.timeout bounds a subscriber's answer too.
std::shared_ptr<deliver_client> make_inbound_dispatcher(boost::asio::io_context& ctx,
                                                        const deliver_target& target,
                                                        std::shared_ptr<line_subscriptions> subs);

}  // namespace dragoman::bridge
