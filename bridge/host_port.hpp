// host:port parsing, one rule set for the doors, the simulator and the upstream endpoints:
// "host:port", "[v6]:port", ":port" (no host). No Asio: resolving stays with the caller.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dragoman::bridge {

// What is wrong with a host:port text; callers word the message for their flag or option.
enum class host_port_error {
  no_port,      // no ':' before a port
  bad_bracket,  // "[" without "]:" after the address
  bad_port,     // not a number from 0 to 65535
};

struct host_port {
  std::string host;  // without brackets; empty for ":port"
  std::string port;  // the digits as written
  unsigned short port_number = 0;
};

struct host_port_result {
  std::optional<host_port> value;
  host_port_error error = host_port_error::no_port;
  explicit operator bool() const noexcept { return value.has_value(); }
};

// Splits at the last ':' (or after "]" for "[v6]:port"); the port must be 1..5 digits <= 65535.
host_port_result split_host_port(std::string_view text);

// An upstream endpoint: "host:port" or "[v6]:port", host required; throws std::invalid_argument
// naming the text.
struct endpoint_address {
  std::string host;
  std::string port;
  std::string text;  // host:port as written
};
endpoint_address parse_endpoint(std::string_view text);

// "host:port;priority=N" (lower first; default 0); throws std::invalid_argument.
struct upstream_spec {
  endpoint_address address;
  int priority = 0;
};
upstream_spec parse_upstream(std::string_view text);

}  // namespace dragoman::bridge
