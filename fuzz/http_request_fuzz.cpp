// The HTTP door's request parser on bytes a client chose, fed in pieces as reads deliver them and
// pipelined as a keep-alive connection sends them; small limits so that both are reached.
#include "bridge/http_request_parser.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

using namespace dragoman::bridge;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = data[0] % 64 + 1;
  const std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  std::optional<http_request_parser> p;
  std::string pending;  // bytes offered but not taken (the door keeps them in its input buffer)
  std::size_t at = 0;
  // Each round offers `piece` new bytes; a complete request restarts the parser on what is left.
  while (at < all.size()) {
    pending.append(all.substr(at, piece));
    at += std::min(piece, all.size() - at);
    for (;;) {
      if (!p) p.emplace(4096, 1024);
      const request_feed f = feed(*p, pending);
      if (f.progress == request_progress::bad) return 0;  // the door answers 400/413 and closes
      if (f.progress == request_progress::complete) {
        // What the door reads of a complete request, before the input moves on (the body may
        // point into it).
        const std::string body(p->body());
        const std::string method(p->method_string());
        (void)p->keep_alive();
        (void)valid_request_id(p->request_id);
        p.reset();
      }
      pending.erase(0, f.used);
      if (f.progress == request_progress::need_more || pending.empty()) break;
    }
  }
  return 0;
}
