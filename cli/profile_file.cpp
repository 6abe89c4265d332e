// Loading the --profile file: every mistake in one message, so main prints them all at once.
#include "cli/profile_file.hpp"

#include <stdexcept>

namespace dragoman::cli {

std::shared_ptr<const codecs::profile> load_profile_file(const std::string& path) {
  codecs::compile_output out = codecs::load_profile(path);
  if (out.compiled && out.errors.empty()) return out.compiled;
  std::string message;
  for (const auto& e : out.errors) message += (message.empty() ? "" : "\n") + e;
  if (message.empty()) message = path + ": the profile could not be loaded";
  throw std::runtime_error(message);
}

}  // namespace dragoman::cli
