// env:NAME and file:PATH values: read once, when the profile is compiled or the flags are read.
#include "codecs/secret.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>

namespace dragoman::codecs {

namespace {
constexpr std::size_t max_secret_file = 64 * 1024;
}

bool is_secret_reference(std::string_view text) noexcept {
  return text.starts_with("env:") || text.starts_with("file:");
}

std::optional<std::string> resolve_secret(std::string_view text, std::string& why) {
  if (text.starts_with("env:")) {
    const std::string name(text.substr(4));
    if (name.empty()) {
      why = "env: needs a variable name (env:NAME)";
      return std::nullopt;
    }
    const char* v = std::getenv(name.c_str());
    if (!v) {
      why = "environment variable " + name + " is not set";
      return std::nullopt;
    }
    return std::string(v);
  }
  if (text.starts_with("file:")) {
    const std::string path(text.substr(5));
    if (path.empty()) {
      why = "file: needs a path (file:PATH)";
      return std::nullopt;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      why = path + ": cannot be read";
      return std::nullopt;
    }
    std::string out;
    char buf[4096];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      out.append(buf, static_cast<std::size_t>(in.gcount()));
      if (out.size() > max_secret_file) {
        why = path + ": larger than 64 KiB, not a secret";
        return std::nullopt;
      }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    if (!out.empty() && out.back() == '\r') out.pop_back();
    return out;
  }
  return std::string(text);
}

}  // namespace dragoman::codecs
