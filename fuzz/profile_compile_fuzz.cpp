// The profile compiler on arbitrary text: every mistake must be an error listed, never a crash,
// and a profile that compiles must describe itself.
#include "codecs/profile.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto out = dragoman::codecs::compile_profile(text);
  if (out.compiled) (void)boost::json::serialize(out.compiled->describe());
  return 0;
}
