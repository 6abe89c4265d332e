// Flag parsing shared by every subcommand: command line first, then DRAGOMAN_* environment.
#include "cli/commands.hpp"

#include <cctype>
#include <iostream>

namespace po = boost::program_options;

namespace dragoman::cli {

command_fn find_command(std::string_view name) {
  if (name == "serve") return run_serve;
  if (name == "simulate") return run_simulate;
  if (name == "encode") return run_encode;
  if (name == "decode") return run_decode;
  if (name == "check") return run_check;
  if (name == "openapi") return run_openapi;
  return nullptr;
}

bool parse_options(std::string_view command, std::string_view summary,
                   const po::options_description& desc, int argc, char** argv,
                   po::variables_map& vm) {
  po::options_description all;
  all.add_options()("help,h", "show this help")("version", "show the version");
  all.add(desc);
  try {
    po::store(po::command_line_parser(argc, argv).options(all).run(), vm);
    // DRAGOMAN_UPSTREAM -> upstream, DRAGOMAN_MAX_BODY_BYTES -> max-body-bytes.
    po::store(po::parse_environment(desc,
                                    [&desc](const std::string& env) -> std::string {
                                      const std::string prefix = "DRAGOMAN_";
                                      if (env.rfind(prefix, 0) != 0) return {};
                                      std::string name;
                                      for (char c : env.substr(prefix.size()))
                                        name.push_back(
                                            c == '_' ? '-' : static_cast<char>(std::tolower(c)));
                                      return desc.find_nothrow(name, false) ? name : "";
                                    }),
              vm);
    if (vm.count("help")) {
      std::cout << "usage: dragoman " << command << " [options]\n\n"
                << summary << "\n\n"
                << all
                << "\nEvery option can also be set as DRAGOMAN_<OPTION> in the "
                   "environment (e.g. DRAGOMAN_UPSTREAM).\n";
      return false;
    }
    if (vm.count("version")) {
      std::cout << "dragoman " << DRAGOMAN_VERSION << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error(std::string(e.what()) + " (see dragoman " + std::string(command) +
                      " --help)");
  }
  return true;
}

}  // namespace dragoman::cli
