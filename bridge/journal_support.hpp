// What the journal's engines share (bridge/journaled_engine.cpp, journaled_inbound.cpp,
// admin_messages.cpp): the wall clock in milliseconds, times as ISO 8601, an operation's delivery
// policy, and the value a per_key queue is keyed by.
#pragma once

#include "codecs/profile.hpp"
#include "journal/delivery.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace dragoman::bridge::journal_support {

std::int64_t wall_ms();
// 2026-12-05T22:30:00.123Z
std::string iso_time(std::int64_t ms);
journal::delivery_policy policy_of(const codecs::operation& op);
// The request field's value at a dotted path, as text; empty when it is absent.
std::string key_value(const boost::json::object& data, std::string_view path);

}  // namespace dragoman::bridge::journal_support
