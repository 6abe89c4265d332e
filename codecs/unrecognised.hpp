// Frames that match no operation: a log-safe excerpt of their bytes, and the profile's negative
// answer to them (the "unrecognised" key of the session section).
#pragma once

#include "codecs/pipeline.hpp"

#include <cstddef>
#include <string>

namespace dragoman::codecs {

// A short rendering of a frame for a log line: printable ASCII as it is, other bytes as \xNN,
// every run of 8 or more digits (card numbers, track data, PIN blocks in ASCII) as that many '*',
// cut after max_bytes ("…" then says more followed).
std::string masked_excerpt(byte_view payload, std::size_t max_bytes = 48);

// The negative answer to a payload that matched no operation, when the profile names one
// (session.unrecognised): the payload read as the reply_with operation's request, and its reply
// built from it (build_reply) with the section's reply values on top. Returns the operation, or
// null when there is nothing to answer: no such section, a payload that does not read as that
// request, or one that holds the match of another operation's reply (a broken reply is never
// answered: answering it would start an exchange the peer did not ask for).
const operation* answer_unrecognised(const profile& p, byte_view payload, record& request,
                                     record& reply);

// Puts values into reply: texts, request fields (plus a number), failure_text for $failure.
void apply_reply_values(const std::vector<reply_value>& values, const record& request,
                        std::string_view failure_text, record& reply);

}  // namespace dragoman::codecs
