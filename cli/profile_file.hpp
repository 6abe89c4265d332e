// The profile named by --profile, loaded and checked once for every subcommand that serves or
// translates with it.
#pragma once

#include "codecs/profile.hpp"

#include <memory>
#include <string>

namespace dragoman::cli {

// Throws std::runtime_error with every mistake, one "path: reason" per line.
std::shared_ptr<const codecs::profile> load_profile_file(const std::string& path);

}  // namespace dragoman::cli
