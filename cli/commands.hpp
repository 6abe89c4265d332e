// The subcommands and the shared flag handling (flags, environment, --help, --version).
#pragma once

#include <boost/program_options.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace dragoman::cli {

// A bad flag or argument: main prints it as one line and exits 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using command_fn = int (*)(int argc, char** argv);
command_fn find_command(std::string_view name);

// Parses argv (argv[0] is the command name) and DRAGOMAN_* environment variables into vm.
// Returns false when --help or --version was answered (the caller returns 0).
bool parse_options(std::string_view command, std::string_view summary,
                   const boost::program_options::options_description& desc, int argc, char** argv,
                   boost::program_options::variables_map& vm);

int run_serve(int argc, char** argv);
int run_simulate(int argc, char** argv);
int run_encode(int argc, char** argv);
int run_decode(int argc, char** argv);
int run_check(int argc, char** argv);
int run_openapi(int argc, char** argv);

}  // namespace dragoman::cli
