// `openapi`: the app-facing contract of a profile as an OpenAPI 3.1 document on stdout.
#include "bridge/openapi.hpp"
#include "cli/commands.hpp"
#include "cli/profile_file.hpp"

#include <cstdio>

namespace po = boost::program_options;

namespace dragoman::cli {

int run_openapi(int argc, char** argv) {
  std::string profile_path;
  bridge::openapi_options o;
  po::options_description desc("openapi options");
  desc.add_options()("profile,p", po::value(&profile_path)->required(), "profile file")(
      "server", po::value(&o.server_url)->default_value(o.server_url),
      "the HTTP door's URL, for the document's servers");
  po::variables_map vm;
  if (!parse_options("openapi",
                     "Writes the app-facing API of the profile (every operation's request and "
                     "reply, every error) as an OpenAPI 3.1 document.",
                     desc, argc, argv, vm))
    return 0;
  auto p = load_profile_file(profile_path);
  std::string text = boost::json::serialize(bridge::openapi_document(*p, o));
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace dragoman::cli
