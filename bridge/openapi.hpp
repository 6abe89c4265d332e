// The app-facing contract as an OpenAPI 3.1 document, generated from a compiled profile: each
// operation's request and reply as JSON Schema, every error as problem+json. Pure: no I/O.
#pragma once

#include "codecs/profile.hpp"

#include <boost/json.hpp>

#include <string>

namespace dragoman::bridge {

struct openapi_options {
  std::string server_url = "http://127.0.0.1:8080";  // the HTTP door apps call
};

// The document for the operations apps may call (internal session operations are left out).
// Request schemas are closed (additionalProperties: false) when the profile refuses unknown
// fields, and say which fields are required, their lengths, digit patterns and defaults; fields
// dragoman fills itself (constants, counters, timestamps) are named in the operation's
// description, not offered to the app.
boost::json::object openapi_document(const codecs::profile& p, const openapi_options& o = {});

}  // namespace dragoman::bridge
