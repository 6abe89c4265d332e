// `serve`: front doors (HTTP, line) over the call engine, with lifecycle and signals.
#pragma once

#include "bridge/engine.hpp"

#include <cstddef>
#include <string>

namespace dragoman::bridge {

struct server_options {
  std::string profile_path;
  std::string http = "127.0.0.1:8080";  // empty: no HTTP front door
  std::string line = "127.0.0.1:7070";  // empty: no line front door
  std::size_t threads = 0;              // 0: the cores available
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_line_bytes = 1 << 20;
  std::size_t max_connections = 10000;  // per front door
  std::chrono::milliseconds idle_timeout{60000};
  engine_options engine;
};

// Blocks until SIGINT/SIGTERM; returns the process exit code. Throws std::runtime_error with one
// clear line for start-up failures (bad profile, address in use).
int run_server(const server_options& options);

}  // namespace dragoman::bridge
