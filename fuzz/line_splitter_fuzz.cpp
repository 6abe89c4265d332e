// The line door's splitter on bytes a client chose. The oracle: however the bytes are cut into
// reads, the lines and the too-long reports are the same as when they come in one read, and every
// line is within the limit, without a newline, and not blank.
#include "bridge/line_splitter.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace dragoman::bridge;

namespace {

// "L:<line>" per line, "T" per line too long.
std::vector<std::string> split(std::string_view all, std::size_t max_line, std::size_t piece) {
  line_splitter s(max_line);
  std::vector<std::string> out;
  auto take = [&] {
    for (auto p = s.next(); p.what != line_splitter::kind::need_more; p = s.next()) {
      if (p.what == line_splitter::kind::too_long) {
        out.push_back("T");
        continue;
      }
      if (p.line.size() > max_line || p.line.find('\n') != std::string_view::npos ||
          p.line.find_first_not_of(" \t\r") == std::string_view::npos) {
        std::fprintf(stderr, "line_splitter: a line it should not give (%zu bytes)\n",
                     p.line.size());
        std::abort();
      }
      out.push_back("L:" + std::string(p.line));
    }
    s.compact();
  };
  for (std::size_t at = 0; at < all.size(); at += piece) {
    s.append(all.substr(at, piece));
    take();
  }
  s.finish();
  take();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max_line = data[0] % 32 + 1;
  const std::size_t piece = data[1] % 16 + 1;
  const std::string_view all(reinterpret_cast<const char*>(data + 2), size - 2);
  if (split(all, max_line, all.size() + 1) != split(all, max_line, piece)) {
    std::fprintf(stderr, "line_splitter: the lines depend on how the bytes were read\n");
    std::abort();
  }
  return 0;
}
