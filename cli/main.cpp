// dragoman's entry point: subcommand dispatch, flags and environment, one-line errors.
#include "cli/commands.hpp"

#include <cstdio>
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
