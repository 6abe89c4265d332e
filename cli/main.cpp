// dragoman's entry point: subcommand dispatch, flags and environment, one-line errors.
#include "bridge/io_backend.hpp"
#include "cli/commands.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

namespace {

constexpr const char* usage =
    "usage: dragoman <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve     translate app calls (HTTP/JSON, NDJSON lines) to the legacy system\n"
    "  simulate  play the legacy system from a profile, for contract tests\n"
    "  encode    JSON fields on stdin -> framed wire bytes on stdout\n"
    "  decode    wire bytes on stdin -> JSON fields on stdout\n"
    "  check     validate a profile and name every mistake\n"
    "  openapi   the app-facing API of a profile as an OpenAPI 3.1 document\n"
    "\n"
    "Run `dragoman <command> --help` for a command's options. Every option can also be set\n"
    "in the environment as DRAGOMAN_<OPTION> (upper case, dashes as underscores).\n";

// serve and simulate run on the I/O backend --io-backend asks for: here, or in dragoman-epoll
// (execv, same arguments and environment) where this io_uring build may not set up a ring.
// Returns -1 to go on here, else the exit status.
int pick_io_backend(std::string_view cmd, int argc, char** argv) {
  namespace b = dragoman::bridge;
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h" || a == "--version") return -1;
  }
  std::string text =
      b::requested_io_backend(argc - 1, argv + 1, std::getenv("DRAGOMAN_IO_BACKEND"));
  auto request = b::parse_io_backend(text.empty() ? "auto" : text);
  if (!request) {
    std::fprintf(stderr, "dragoman %.*s: --io-backend must be auto, io_uring or epoll, not '%s'\n",
                 static_cast<int>(cmd.size()), cmd.data(), text.c_str());
    return 2;
  }
  std::string_view built = b::io_backend_name();
  b::ring_probe probe;
  if (built == "io_uring" && *request != b::io_backend_request::epoll) probe = b::probe_io_uring();
  std::string twin = built == "io_uring" && !probe.usable ? b::epoll_twin_path() : std::string();
  auto decision = b::choose_io_backend(*request, built, probe, !twin.empty());
  if (decision.act == b::io_backend_decision::run_here) return -1;
  if (decision.act == b::io_backend_decision::refuse) {
    std::fprintf(stderr, "dragoman %.*s: %s\n", static_cast<int>(cmd.size()), cmd.data(),
                 decision.message.c_str());
    return 1;
  }
  if (*request != b::io_backend_request::epoll)
    ::setenv(b::io_uring_refused_env, decision.message.c_str(), 1);
  argv[0] = twin.data();
  ::execv(twin.c_str(), argv);
  std::fprintf(stderr, "dragoman %.*s: cannot run %s: %s\n", static_cast<int>(cmd.size()),
               cmd.data(), twin.c_str(), std::strerror(errno));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dragoman::cli;
  if (argc < 2) {
    std::fputs(usage, stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(usage, stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "-V" || cmd == "version") {
    std::printf("dragoman %s\n", DRAGOMAN_VERSION);
    return 0;
  }
  command_fn fn = find_command(cmd);
  if (!fn) {
    std::fprintf(stderr, "dragoman: unknown command '%.*s' (try dragoman --help)\n",
                 static_cast<int>(cmd.size()), cmd.data());
    return 2;
  }
  if (cmd == "serve" || cmd == "simulate")
    if (int status = pick_io_backend(cmd, argc, argv); status >= 0) return status;
  try {
    return fn(argc - 1, argv + 1);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "dragoman %.*s: %s\n", static_cast<int>(cmd.size()), cmd.data(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dragoman %.*s: %s\n", static_cast<int>(cmd.size()), cmd.data(), e.what());
    return 1;
  }
}
